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


REUSE = ("import resource, numpy as np; from ebana.backends.layered.backend import LayeredBackend; LayeredBackend(); "
         "a = np.ones(8 << 20); del a; before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt; "
         "b = np.ones(8 << 20); print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)")


def test_a_freed_block_above_the_mmap_cap_is_reused_without_page_faults():
    """64 MB, above glibc's 32 MB cap on the mmap threshold: freed and asked for again, its pages
    come back from the heap (no faults), where by default glibc maps them afresh."""
    import ctypes
    try:
        ctypes.CDLL(None).mallopt
    except AttributeError:
        pytest.skip("not glibc")
    faults = {}
    for setting in ("1", "0"):
        out = subprocess.run([sys.executable, "-c", REUSE], cwd=ROOT, capture_output=True, text=True, timeout=120,
                             env={"PATH": "/usr/bin:/bin", "EBANA_KEEP_FREED_MEMORY": setting})
        assert out.returncode == 0, out.stderr
        faults[setting] = int(out.stdout.strip())
    assert faults["1"] < 8 <= faults["0"], faults
