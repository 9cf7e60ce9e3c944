"""A chip study's HDF5 file: finished chips are saved as they come, so an interrupted study resumes.

Layout (file attributes ``format='ebana-robustness'``, ``version=1``):

- ``<name>/``: a finished study (:meth:`~ebana.analysis.robustness.RobustnessResult.save`):
  datasets ``sigmas``, ``accuracy`` (S, chips) and the summary per sigma; attributes
  ``kind``, ``seed``, ``backend``, ``chips``, and the ``weights`` and ``data`` digests.
- ``_partial/<name>/``: an unfinished one: ``sigmas``, ``accuracy`` with NaN for the chips
  not computed yet, and the attributes that identify the study (:data:`IDENTITY`). It is
  never read as a result, and it goes when the study finishes.

Every write edits a copy of the file and renames it over the old one
(:func:`~ebana.saving.safe_io.atomic_path`), so a crash mid-write leaves the previous
file whole, the other groups included.

Example:
    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "r.h5")
    >>> who = {"kind": "gaussian", "seed": 0, "chips": 2, "backend": "native", "weights": "w", "data": "d"}
    >>> _ = save_partial(path, "m", who, [0.1], np.array([[0.5, np.nan]]))
    >>> read_partial(path, "m", who, [0.1]).tolist()
    [[0.5, nan]]
"""
import os
import shutil
import warnings

import numpy as np

from ..errors import ValidationError
from ..saving.safe_io import atomic_path, destination

FORMAT = "ebana-robustness"
VERSION = 1
PARTIAL = "_partial"
#: Attributes a partial study must share with a new run to be resumed (besides its sigmas):
#: the mask kind, the study seed, the chips per sigma, the backend's name, and content digests
#: of the conductances (``weights``) and of the model's config, the test batches and the loss (``data``).
IDENTITY = ("kind", "seed", "chips", "backend", "weights", "data")
WHAT = "robustness file"


def rewrite(path, edit):
    """Apply ``edit(h5py.File)`` to a copy of ``path`` (a new file if absent) and move it over
    ``path`` atomically; the file attributes ``format`` and ``version`` are set. Returns ``path``."""
    import h5py
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    source = destination(path, WHAT)
    with atomic_path(path, WHAT) as tmp:
        exists = os.path.isfile(source)
        if exists:
            shutil.copyfile(source, tmp)
        with h5py.File(tmp, "a" if exists else "w") as f:
            f.attrs["format"], f.attrs["version"] = FORMAT, VERSION
            edit(f)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)  # on disk before the rename makes it the file
        finally:
            os.close(fd)
    return path


def drop_partial(f, name):
    """Remove the partial study ``name`` from the open file ``f`` (and the ``_partial`` group once empty)."""
    if PARTIAL in f and name in f[PARTIAL]:
        del f[PARTIAL][name]
        if not len(f[PARTIAL]):
            del f[PARTIAL]


def save_partial(path, name, identity, sigmas, accuracy):
    """Write the unfinished study ``name``: ``accuracy`` (S, chips) with NaN where a chip is still to
    compute, ``sigmas`` (dimensionless) and ``identity`` (:data:`IDENTITY`). Returns ``path``."""
    def edit(f):
        drop_partial(f, name)
        grp = f.require_group(PARTIAL).create_group(name)
        grp.create_dataset("sigmas", data=np.asarray(sigmas, dtype=float))
        grp.create_dataset("accuracy", data=accuracy)
        grp.attrs.update(identity)
        grp.attrs["finished"] = int(np.isfinite(accuracy).sum())
    return rewrite(path, edit)


def read_partial(path, name, identity, sigmas):
    """The accuracy (S, chips), NaN where still to compute, of the unfinished study ``name`` in
    ``path`` when it is this study (same ``identity`` and ``sigmas``); None when there is none.
    Another study's partial result is not resumed: a warning names what differs, and the
    new study starts over (its first save replaces it)."""
    import h5py
    if not os.path.isfile(path):
        return None
    try:
        with h5py.File(path, "r") as f:
            grp = f.get(f"{PARTIAL}/{name}")
            if grp is None:
                return None
            differ = [k for k in IDENTITY if str(grp.attrs.get(k)) != str(identity[k])]
            if not np.array_equal(np.asarray(grp["sigmas"]), np.asarray(sigmas, dtype=float)):
                differ.append("sigmas")
            accuracy = np.array(grp["accuracy"])
    except (OSError, KeyError) as exc:
        raise ValidationError(f"cannot read the partial study {name!r} in {os.fspath(path)!r}: {exc}; "
                              "remove the file or pass another path") from None
    if differ:
        warnings.warn(f"{os.fspath(path)!r} holds an unfinished study {name!r} with other {', '.join(differ)}; "
                      "it is not resumed: this study starts over and replaces it", RuntimeWarning, stacklevel=4)
        return None
    return accuracy


def partial_note(f, name):
    """A sentence for errors when ``f`` holds the unfinished study ``name``, else ''."""
    grp = f.get(f"{PARTIAL}/{name}")
    if grp is None:
        return ""
    done, total = int(grp.attrs.get("finished", 0)), int(np.asarray(grp["accuracy"]).size)
    return (f"; it holds an unfinished study {name!r} ({done} of {total} chips): run evaluate_robustness "
            "again with the same arguments and path= to finish it")
