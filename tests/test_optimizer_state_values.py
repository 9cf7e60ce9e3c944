"""A loaded optimizer state with a nan moment or an invalid hyperparameter is refused, naming file and entry."""
import pickle

import numpy as np
import pytest

from ebana import ValidationError
from ebana.saving.safe_io import safe_load_pickle
from ebana.training import SGD, Adam


def saved_state(tmp_path, make):
    w = {"d1": np.full(3, 5e-5)}
    opt = make()
    opt.step(w, {"d1": np.array([1.0, -2.0, 0.5])}, lrs={"d1": 1e-6})
    path = tmp_path / "opt.pkl"
    opt.save_state(path)
    return path, safe_load_pickle(path)  # the file starts with a checksum header


@pytest.mark.parametrize("make, edit, pattern", [
    (Adam, lambda d: d["state"]["m"]["d1"].__setitem__(1, np.nan), r"state 'm' of parameter 'd1' entry \(1,\) is nan"),
    (Adam, lambda d: d["state"]["v"]["d1"].__setitem__(0, -1.0), r"state 'v' .* entry \(0,\) is -1.0 .*>= 0"),
    (Adam, lambda d: d["hyperparameters"].__setitem__("lr", -1e-3), r"Adam lr must lie in"),
    (Adam, lambda d: d["hyperparameters"].__setitem__("beta1", 1.0), r"Adam beta1"),
    (lambda: SGD(momentum=0.5), lambda d: d["state"]["velocity"]["d1"].__setitem__(2, np.inf), r"'velocity'.*inf"),
    (lambda: SGD(momentum=0.5), lambda d: d["hyperparameters"].__setitem__("momentum", 2.0), r"SGD momentum"),
])
def test_bad_values_are_refused_naming_file_and_entry(tmp_path, make, edit, pattern):
    path, d = saved_state(tmp_path, make)
    edit(d)
    path.write_bytes(pickle.dumps(d, protocol=4))
    fresh = make()
    with pytest.raises(ValidationError, match=r"opt\.pkl.*" + pattern):
        fresh.load_state(path)
    assert fresh.steps == 0 and fresh.lr == make().lr  # nothing changed


def test_a_valid_state_still_loads(tmp_path):
    path, _ = saved_state(tmp_path, Adam)
    opt = Adam()
    opt.load_state(path)
    assert opt.steps == 1
