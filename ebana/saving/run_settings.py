"""What a checkpoint must agree on before a run resumes from it.

A checkpoint written by one ``fit`` call is only resumed by a call that
trains the same model in the same way: same layer graph and layer settings,
same loss, same optimizer class and starting hyperparameters, same ``beta``
(S), nudging mode and batch size. Anything else is refused with an error
that names each difference, so a second process with another learning rate
never silently continues the first one's file.
"""
import dataclasses

import numpy as np

from ..errors import ValidationError


def plain_data(obj):
    """``obj`` as numbers, strings, None, lists and dicts only (safe to pickle for the
    restricted unpickler, and to write as JSON): device objects in a layer config
    become ``{'class': name, **fields}``, arrays become lists."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, dict):
        return {str(k): plain_data(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain_data(v) for v in obj]
    fields = (dataclasses.asdict(obj) if dataclasses.is_dataclass(obj)
              else {k: v for k, v in vars(obj).items() if not k.startswith("_")} if hasattr(obj, "__dict__") else {})
    return {"class": type(obj).__name__, **plain_data(fields)} if fields else repr(obj)


def _plain(obj):
    """Class name and plain-valued attributes of a loss (its settings)."""
    config = plain_data(obj.get_config()) if hasattr(obj, "get_config") else {
        k: v for k, v in vars(obj).items() if isinstance(v, (bool, int, float, str, type(None)))}
    return {"class": type(obj).__name__, **config}


def run_settings(model, loss_fn, optimizer, beta, symmetric, loader):
    """The settings of a training run as plain data (stored in the checkpoint).

    The optimizer's hyperparameters are taken as passed to ``fit`` (before any
    learning-rate schedule changes them), so a resumed run compares like with like.
    """
    return {
        "model": plain_data(model.get_config()),
        "loss": _plain(loss_fn),
        "optimizer": {"class": type(optimizer).__name__,
                      **{h: None if getattr(optimizer, h) is None else float(getattr(optimizer, h))
                         for h in optimizer._hyper}},
        "beta": float(beta),
        "symmetric": bool(symmetric),
        "batch_size": int(loader.batch_size),
        "shuffle": bool(loader.shuffle),
    }


def _diff(saved, now, where, out):
    if isinstance(saved, dict) and isinstance(now, dict):
        for key in sorted(set(saved) | set(now), key=str):
            _diff(saved.get(key), now.get(key), f"{where}.{key}" if where else str(key), out)
    elif isinstance(saved, (list, tuple)) and isinstance(now, (list, tuple)) and len(saved) == len(now):
        for k, (a, b) in enumerate(zip(saved, now)):
            label = a.get("config", {}).get("name", k) if isinstance(a, dict) else k
            _diff(a, b, f"{where}[{label}]", out)
    elif saved != now:
        out.append(f"{where}: {saved!r} in the file, {now!r} now")


def check_same_run(saved, now, source):
    """Raise ValidationError listing every setting where ``saved`` and ``now`` differ."""
    if not isinstance(saved, dict):
        raise ValidationError(f"{source}: the run settings are malformed ({type(saved).__name__})")
    out = []
    _diff(saved, now, "", out)
    if out:
        shown = "; ".join(out[:8]) + (f"; ... ({len(out) - 8} more)" if len(out) > 8 else "")
        raise ValidationError(
            f"{source} was written by a different training run, so it is not resumed: {shown}. "
            "Use another checkpoint path, delete the file, or call fit with the same settings")
