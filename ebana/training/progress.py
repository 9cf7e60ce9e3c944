"""A progress bar that stays quiet in logs, CI and when asked to.

Example:
    >>> for _ in progress(range(3), total=3, desc="epoch 1", enabled=False):
    ...     pass
"""
import os
import sys

from tqdm import tqdm


def progress(iterable, total=None, desc=None, enabled=True):
    """Wrap ``iterable`` in a tqdm bar, unless disabled.

    The bar is off when ``enabled`` is false, when stderr is not a terminal
    (a log file would fill with carriage returns), or when the environment
    variable ``EBANA_PROGRESS=0``.
    """
    on = (enabled and os.environ.get("EBANA_PROGRESS", "1") != "0"
          and hasattr(sys.stderr, "isatty") and sys.stderr.isatty())
    return tqdm(iterable, total=total, desc=desc, disable=not on, leave=False)
