"""Names with a trailing newline and netlist titles that would make a script are refused."""
import numpy as np
import pytest

from ebana import DenseLayer, InputVoltageLayer, ValidationError
from ebana.validation import check_name
from networks import xor_like


@pytest.mark.parametrize("name", ["d\n", "d\r\n", "x1\n.control", "d\t"])
def test_names_with_trailing_newline_or_control_characters_are_refused(name):
    with pytest.raises(ValidationError, match="invalid layer name"):
        DenseLayer(units=2, name=name)
    with pytest.raises(ValidationError, match="invalid layer name"):
        InputVoltageLayer(units=2, name=name)
    with pytest.raises(ValidationError):
        check_name(name)


@pytest.mark.parametrize("title", ["*ng_script", " *ng_script", "* x", "café"])
def test_netlist_title_that_would_change_the_file_is_refused(tmp_path, title):
    model = xor_like("native")
    path = tmp_path / "n.cir"
    with pytest.raises(ValidationError, match="netlist title"):
        model.write_netlist(path, {"x": np.zeros(2)}, title=title)
    assert not path.exists()
    text = model.netlist({"x": np.zeros(2)}, title="plain title")
    assert text.splitlines()[0] == "* plain title"
