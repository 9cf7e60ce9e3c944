"""Everything ebana writes to disk and reads back: model files, weights, checkpoints.

Every writer is atomic (temporary file, fsync, rename) and every reader uses
the restricted unpickler of :mod:`.safe_io`, so loading a file runs no code.
"""
from .checkpoint import load_checkpoint, save_checkpoint
from .model_file import save_model
from .safe_io import SafeUnpickler, WriteError, atomic_pickle, check_writable, safe_load_pickle
from .weights import get_weights, load_weights, save_weights, set_weights

__all__ = ["load_model", "save_model", "get_weights", "set_weights", "save_weights", "load_weights",
           "save_checkpoint", "load_checkpoint", "SafeUnpickler", "safe_load_pickle", "atomic_pickle",
           "check_writable", "WriteError"]


def __getattr__(name):
    # load_model builds a Model, and the model saves itself through this package's
    # lower modules: loading restore.py here eagerly would make the two import each other.
    if name == "load_model":
        from .restore import load_model
        return load_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
