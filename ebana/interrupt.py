"""Ctrl-C that is never lost inside Ngspice, and never tears a training step.

Ngspice calls back into Python (its output goes through a cffi callback);
a KeyboardInterrupt raised inside such a callback is printed as "Exception
ignored from cffi callback" and dropped, so about half of all Ctrl-C presses
during an Ngspice solve used to vanish. Inside :func:`deferred_sigint`
SIGINT only sets a flag, and :func:`check` raises KeyboardInterrupt at safe
points: before each Ngspice sample and between training steps, i.e. never
between a solve and the weight update it leads to. A second Ctrl-C before a
safe point is reached raises at once.

Example:
    >>> with deferred_sigint():
    ...     check()  # no Ctrl-C pressed: nothing happens
"""
import contextlib
import signal
import threading

_pending = False
_depth = 0


def _handler(signum, frame):
    global _pending
    if _pending:  # pressed twice: the user means it, stop wherever we are
        raise KeyboardInterrupt
    _pending = True


def check():
    """Raise KeyboardInterrupt if Ctrl-C was pressed since the last check."""
    global _pending
    if _pending:
        _pending = False
        raise KeyboardInterrupt("interrupted by Ctrl-C (SIGINT) at a safe point: weights are as after "
                                "the last completed step")


@contextlib.contextmanager
def deferred_sigint():
    """Within the block, SIGINT is deferred to the next :func:`check`.

    Only the main thread can own signal handlers; elsewhere, or when a
    program has installed its own SIGINT handler, nothing changes. Nested
    blocks share the outermost one's handler.
    """
    global _depth, _pending
    install = (_depth == 0 and threading.current_thread() is threading.main_thread()
               and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    if install:
        previous = signal.signal(signal.SIGINT, _handler)
        _pending = False
    _depth += 1
    try:
        yield
        check()  # a press during the last stretch still stops the caller
    finally:
        _depth -= 1
        if install:
            signal.signal(signal.SIGINT, previous)
            _pending = False
