"""The "Training like Keras" guide (docs/guides/training.md) runs as written, in order, and does what it says."""
import os
import re

import numpy as np
from conftest import ROOT

GUIDE = ROOT / "docs" / "guides" / "training.md"


def guide_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


def test_training_like_keras_examples_run(tmp_path, capsys):
    blocks = guide_blocks(GUIDE)
    assert len(blocks) == 5
    namespace = {}
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for k, block in enumerate(blocks):
            exec(compile(block, f"{GUIDE.name} block {k + 1}", "exec"), namespace)
            if k == 0:
                lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("Epoch")]
                assert [l.split(" - ")[0] for l in lines] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
                assert all("val_loss" in l for l in lines)
    finally:
        os.chdir(cwd)
    for name in ("best.ebana", "log.csv", "history.h5", "xor.ebana", "xor_weights.pkl", "adam.pkl", "run.ckpt"):
        assert (tmp_path / name).exists(), name
    assert namespace["adam"].steps == namespace["model"].compiled["optimizer"].steps > 0
    assert namespace["history"].num_epochs == 4  # the resumed run trained epochs 3 and 4
    assert set(namespace["grads"]) == {"d1", "d2"} and namespace["volts"]["c1"].shape == (8, 8)
    assert type(namespace["model"].backend.inner).__name__ == "NgspiceBackend"
    np.testing.assert_array_equal(namespace["same"].get_weights()["d1"], namespace["weights"]["d1"])
