"""MNIST and Fashion-MNIST from their four standard IDX files (never shipped with ebana).

Search order for Fashion-MNIST: the ``path`` argument alone when given; else ``$EBANA_DATA/fashion-mnist``,
``/usr/share/datasets/fashion-mnist`` (Debian/Ubuntu: ``apt-get install
dataset-fashion-mnist``), ``~/.keras/datasets/fashion-mnist``. Each file may be
gzipped (``.gz``) or not.

Example:
    ```python
    (x_train, labels_train), (x_test, labels_test) = load_fashion_mnist()
    x_train.shape, x_train.dtype   # (60000, 28, 28), uint8 (0..255)
    ```
"""
import os
import pathlib

import numpy as np

from ..errors import DataNotFoundError, ShapeError, ValidationError
from .idx import read_idx

#: file stems of the two splits: (images, labels)
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}

#: where Debian's dataset-* packages put their files
SYSTEM_DATA = "/usr/share/datasets"

#: Fashion-MNIST class names, by label
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")


def search_path(name, path=None, system=True, keras=True):
    """Folders searched, in order, for the data set ``name`` (e.g. 'fashion-mnist').

    An explicit ``path`` is the only folder searched: a user who names a folder
    must get its files or an error, never a copy from elsewhere."""
    if path is not None:
        return [pathlib.Path(path).expanduser()]
    places = []
    if os.environ.get("EBANA_DATA"):
        places.append(pathlib.Path(os.environ["EBANA_DATA"]).expanduser() / name)
    if system:
        places.append(pathlib.Path(SYSTEM_DATA) / name)
    if keras:
        places.append(pathlib.Path("~/.keras/datasets").expanduser() / name)
    return places


def _file_in(folder, stem):
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _missing_in(folder, name):
    """DataNotFoundError naming the files missing from the one folder the user gave."""
    if not folder.is_dir():
        return DataNotFoundError(f"{name}: the folder {str(folder)!r} given as path= does not exist "
                                 "(or is not a folder); only that folder is searched when path= is given")
    missing = [f"{s}[.gz]" for pair in FILES.values() for s in pair if _file_in(folder, s) is None]
    return DataNotFoundError(f"{name}: the folder {str(folder)!r} given as path= lacks {', '.join(missing)}; "
                             "only that folder is searched when path= is given: copy the missing files there")


def find_idx_files(name, places, how_to_get, explicit=False):
    """The first folder of ``places`` holding all four IDX files, as {stem: path};
    ``explicit``: ``places`` is the one folder the user named (errors name its missing files)."""
    if explicit and not all(_file_in(places[0], s) for pair in FILES.values() for s in pair):
        raise _missing_in(places[0], name)
    for folder in places:
        found = {stem: _file_in(folder, stem) for pair in FILES.values() for stem in pair}
        if all(found.values()):
            return found
    looked = "\n".join(f"  {p}" for p in places)
    stems = ", ".join(f"{s}[.gz]" for pair in FILES.values() for s in pair)
    raise DataNotFoundError(f"{name}: the four IDX files ({stems}) are in none of these folders:\n{looked}\n"
                            f"Get them with {how_to_get}")


def _split(files, split, source_name):
    images_stem, labels_stem = FILES[split]
    images, labels = read_idx(files[images_stem]), read_idx(files[labels_stem])
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ShapeError(f"{files[images_stem]}: expected uint8 images (n, rows, cols), received "
                         f"{images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ShapeError(f"{files[labels_stem]}: expected {images.shape[0]} labels (one per image in "
                         f"{files[images_stem]}), received shape {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise ValidationError(f"{files[labels_stem]}: {source_name} labels must be integers 0..9, the file "
                              f"holds {labels.dtype} values")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        bad = int(np.flatnonzero((labels < 0) | (labels > 9))[0])
        raise ValidationError(f"{files[labels_stem]}: {source_name} labels are 0..9, label {bad} is "
                              f"{int(labels[bad])}")
    return images, labels.astype(np.int64)


def _load(name, places, how_to_get, explicit=False):
    files = find_idx_files(name, places, how_to_get, explicit)
    return _split(files, "train", name), _split(files, "test", name)


def load_fashion_mnist(path=None):
    """Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017): 70,000 28x28 grey images of 10 clothing classes.

    Returns ``((x_train, labels_train), (x_test, labels_test))``: images
    ``uint8`` (n, 28, 28), 0 (background) .. 255; labels ``int64`` (n,), 0..9
    (names in :data:`FASHION_CLASSES`). 60,000 training and 10,000 test images.

    ``path``: a folder holding the four files, then the only folder searched
    (a missing file raises :class:`~ebana.errors.DataNotFoundError` naming it);
    without it, see the module docstring, and the error lists the folders looked in.
    """
    how = ("`apt-get install dataset-fashion-mnist` (Debian/Ubuntu; files in /usr/share/datasets/fashion-mnist), "
           "or download the four files of https://github.com/zalandoresearch/fashion-mnist into a folder and "
           "pass path=FOLDER or set EBANA_DATA to its parent (files in $EBANA_DATA/fashion-mnist).")
    return _load("fashion-mnist", search_path("fashion-mnist", path), how, explicit=path is not None)


def load_mnist(path=None):
    """MNIST handwritten digits (LeCun et al., 1998), same layout and return value as
    :func:`load_fashion_mnist`.

    Searched in ``path`` only when given, else ``$EBANA_DATA/mnist`` and ``/usr/share/datasets/mnist``.
    """
    how = ("a copy of the four standard MNIST IDX files in a folder: pass path=FOLDER or set EBANA_DATA "
           "to its parent (files in $EBANA_DATA/mnist).")
    return _load("mnist", search_path("mnist", path, keras=False), how, explicit=path is not None)
