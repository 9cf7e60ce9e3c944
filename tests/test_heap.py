"""ebana.backends.heap: glibc keeps freed temporaries once a native backend exists; opt-out by env."""
import subprocess
import sys

import pytest

from conftest import ROOT

CHECK = ("import ebana.backends.heap as h; from ebana.backends.native_layered import LayeredBackend; "
         "LayeredBackend(); print(h._done)")


@pytest.mark.parametrize("env, expected", [({}, "True"), ({"EBANA_KEEP_FREED_MEMORY": "0"}, "False")])
def test_native_backend_sets_the_thresholds_unless_turned_off(env, expected):
    import ctypes
    try:
        ctypes.CDLL(None).mallopt
    except AttributeError:
        pytest.skip("not glibc")
    out = subprocess.run([sys.executable, "-c", CHECK], cwd=ROOT, env={"PATH": "/usr/bin:/bin", **env},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected
