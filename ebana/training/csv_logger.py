"""``CSVLogger``: one CSV row per epoch, its file checked (and its header written) before training."""
import errno
import math
import os

from ..errors import EbanaError
from ..saving.safe_io import check_writable
from .callback_base import Callback


def _append_text(path, text):
    """Append ``text`` to the file ``path`` and flush it to the operating system."""
    with open(path, "a") as f:
        f.write(text)
        f.flush()


class CSVLogger(Callback):
    """Append one row per epoch (``epoch`` from 1, then the metrics) to a CSV file, flushed each epoch.

    The header is written before training when the run's metric names are known,
    so a folder that cannot be written or a full disk fails before the first step;
    a disk that fills later raises an :class:`~ebana.errors.EbanaError` naming the file.
    """

    def __init__(self, filename, separator=",", append=False):
        self.filename = os.fspath(filename)
        self.separator = separator
        self.append = bool(append)
        self.columns = None

    def on_train_begin(self):
        check_writable(self.filename, "CSVLogger file")
        self.columns = None
        if not (self.append and os.path.exists(self.filename)):
            self._write("w", "", "before training")
        if self.run_metrics is not None and self.run_metrics.exact:
            self._columns(list(self.run_metrics.names), "before training")

    def _columns(self, names, when):
        self.columns = names
        if os.path.getsize(self.filename) == 0:
            self._write("a", self.separator.join(["epoch", *names]) + "\n", when)

    def _write(self, mode, text, when):
        try:
            if mode == "w":
                open(self.filename, "w").close()
            if text:
                _append_text(self.filename, text)
        except OSError as exc:
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
            why = "the disk is full" if full else f"it cannot be written ({exc.strerror or exc})"
            after = "nothing was trained" if when == "before training" else "the weights are those after it"
            raise EbanaError(f"CSVLogger file {self.filename!r}: {why} {when}; {after}. Free space or "
                             "give another path") from exc

    def on_epoch_end(self, epoch, metrics, model):
        when = f"while logging epoch {epoch + 1}"
        if self.columns is None:
            self._columns(list(metrics), when)
        row = [str(epoch + 1)] + [repr(float(metrics.get(c, math.nan))) for c in self.columns]
        self._write("a", self.separator.join(row) + "\n", when)
        return False
