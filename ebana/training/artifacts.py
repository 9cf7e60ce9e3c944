"""What a training run leaves behind, in one place for every example script."""
import pathlib

import numpy as np


def save_run(out, optimizer, history, title):
    """Write ``optimizer.pkl`` (state), ``history.h5`` and, when matplotlib is
    installed, ``training.png`` into the folder ``out``; return the folder."""
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    optimizer.save_state(out / "optimizer.pkl")
    history.save(out / "history.h5")
    try:
        history.plot(out / "training.png", title=title)
    except Exception as e:  # matplotlib missing: the printed numbers are the result
        print(f"(no plot: {e})")
    print(f"saved {out}/optimizer.pkl, history.h5, training.png")
    return out


def save_table(out, lines, saved=()):
    """Write the Markdown ``lines`` to ``out/table.md``, print them, and name what the run saved
    in ``out`` (``saved``: the other file names, then table.md)."""
    out = pathlib.Path(out)
    text = "\n".join(lines)
    (out / "table.md").write_text(text + "\n")
    print(text)
    print(f"saved {out}/{', '.join([*saved, 'table.md'])}")
    return text


def confusion_matrix(labels, predicted, n_classes):
    """Counts ``[true, predicted]`` as an int array (n_classes, n_classes)."""
    confusion = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(confusion, (np.asarray(labels, dtype=int), np.asarray(predicted, dtype=int)), 1)
    return confusion


def print_confusion(labels, predicted, class_names):
    """Print the confusion matrix with one row per true class."""
    confusion = confusion_matrix(labels, predicted, len(class_names))
    print("test confusion (rows: true class, columns: predicted):", *class_names)
    width = max(len(str(c)) for c in class_names)
    for name, row in zip(class_names, confusion):
        print(f"  {str(name):{width}s} {' '.join(f'{n:3d}' for n in row)}")
    return confusion
