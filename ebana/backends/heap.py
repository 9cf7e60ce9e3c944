"""Let glibc keep freed numpy temporaries in the heap instead of unmapping each one.

The native solvers make many short-lived arrays of a few MB per sweep (a batch
of 256 samples by 1024 nets is 2 MB). By default glibc serves such blocks with
``mmap`` and unmaps them on ``free``, so the next temporary page-faults its
memory in again: on the 2-core development machine an elementwise clamp solve
on (256, 1024) arrays took 8.4 ms with fresh pages and 2.9 ms with reused ones,
and a symmetric EP step of the 1568-1024-20 network 0.44 -> 0.40 ms per sample
(measured). Raising glibc's mmap and trim thresholds lets freed blocks be
reused. glibc caps the mmap threshold at 32 MB, and above it every block is
mapped afresh: a layered solve's node voltages at batch 128 of the full-size
local network (39 MB a phase) then faulted their pages in again each phase,
and under a busy kernel those faults cost up to 50 ms (measured, per thread);
so mmap is also turned off for blocks above it (``M_MMAP_MAX`` 0): an EP step
of that network 1.63 -> 1.46 ms per sample at batch 128 (means of three runs
each, alternated; the same peak RSS, about 700 MB), and three epochs of its
training on 12,800 images 24.5 against 26.5 s each, peak RSS 1,802 against
1,777 MB, the same trained numbers. It changes the whole process's
allocator, and memory freed after a peak stays with the process (the peak
itself does not grow), so it is done once, when a native backend is made,
and ``EBANA_KEEP_FREED_MEMORY=0`` turns it off. Elsewhere than glibc it does
nothing.
"""
import ctypes
import os

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4
_MMAP_THRESHOLD = 32 << 20   # bytes: blocks up to this come from the heap (glibc's own upper limit)
_TRIM_THRESHOLD = 512 << 20  # bytes of free heap top kept before memory goes back to the OS

_done = False


def keep_freed_memory():
    """Raise glibc's mmap and trim thresholds and keep larger blocks off mmap, once per process;
    return whether they are set."""
    global _done
    if _done:
        return True
    if os.environ.get("EBANA_KEEP_FREED_MEMORY", "1").strip() == "0":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # every setting is tried; it is set when all three are (mallopt returns 1 on success)
    _done = all([mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD), mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD),
                 mallopt(_M_MMAP_MAX, 0)])
    return _done
