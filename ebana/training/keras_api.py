"""``Model.compile`` / ``Model.fit`` / ``Model.evaluate`` argument handling, Keras style.

Both call styles work:

* Keras: ``model.compile(optimizer="adam", loss="mse")`` then
  ``model.fit(x, y, epochs=10, batch_size=16, validation_data=(xv, yv))``,
  or ``model.fit({"x": X, "out": Y}, epochs=10)``;
* ebana's original: ``model.fit(loader, epochs, loss_fn, optimizer, beta)``.
"""
from ..errors import ValidationError
from ..validation import check_batch_size, check_number
from .defaults import default_beta
from .resolve import as_training_data, as_validation_data, resolve_loss, resolve_optimizer

_LEGACY_POSITIONAL = ("epochs", "loss_fn", "optimizer", "beta", "test_dataloader", "callbacks", "symmetric",
                      "verbose")
_KEYWORDS = {"y", "epochs", "loss_fn", "loss", "optimizer", "beta", "test_dataloader", "validation_data",
             "callbacks", "symmetric", "verbose", "batch_size", "shuffle", "seed", "checkpoint",
             "checkpoint_every", "on_failure", "record_voltages", "record_power"}


def compile_model(model, optimizer="adam", loss="mse", beta=None, symmetric=False):
    """Remember the optimizer, loss, beta (S; default :func:`default_beta`) and nudging for fit."""
    beta = default_beta(model) if beta is None else check_number(beta, "beta (S)", 0, low_open=True)
    model.compiled = {"optimizer": resolve_optimizer(optimizer), "loss": resolve_loss(loss),
                      "beta": float(beta), "symmetric": bool(symmetric)}
    model.loss_fn = model.compiled["loss"]
    return model


def _named(args, kwargs):
    """Positional arguments after ``x`` as keywords, in whichever style they came."""
    if args and isinstance(args[0], int) and not isinstance(args[0], bool):
        names = _LEGACY_POSITIONAL  # fit(loader, epochs, loss_fn, optimizer, beta, ...)
    else:
        names = ("y",)  # fit(x, y, epochs=..., ...)
    if len(args) > len(names):
        raise ValidationError(f"fit takes at most {len(names) + 1} positional arguments here "
                              f"(x, {', '.join(names)}); pass the others by keyword")
    out = dict(zip(names, args))
    for k, v in kwargs.items():
        if k not in _KEYWORDS:
            raise ValidationError(f"fit got an unexpected argument {k!r}; accepted: {sorted(_KEYWORDS)}")
        if k in out:
            raise ValidationError(f"fit got {k!r} both by position and by keyword")
        out[k] = v
    return out


def fit_model(model, x, args, kwargs):
    """Resolve the arguments of :meth:`Model.fit` and run :func:`ebana.training.fit.fit`."""
    from .fit import fit
    a = _named(args, kwargs)
    compiled = getattr(model, "compiled", None) or {}
    if a.get("loss_fn") is not None and a.get("loss") is not None:
        raise ValidationError("pass the loss once: loss= or loss_fn=")
    loss = a.get("loss_fn", a.get("loss")) or compiled.get("loss")
    if loss is None:
        raise ValidationError("fit needs a loss: model.compile(loss='mse') first, or fit(..., loss='mse')")
    optimizer = a.get("optimizer") or compiled.get("optimizer") or "adam"
    beta = a.get("beta", compiled.get("beta"))
    symmetric = a.get("symmetric", compiled.get("symmetric", False))
    compile_model(model, optimizer, loss, beta, symmetric)  # save() then holds what was trained with
    c = model.compiled
    batch_size = check_batch_size(a.get("batch_size", 32), "fit")
    seed = a.get("seed", model.seed)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ValidationError(f"fit: seed must be a non-negative int or None, received {seed!r}")
    shuffle = a.get("shuffle", True)
    if not isinstance(shuffle, bool):
        raise ValidationError(f"fit: shuffle must be True or False, received {shuffle!r}")
    loader = as_training_data(model, x, a.get("y"), batch_size, shuffle, seed)
    if a.get("test_dataloader") is not None and a.get("validation_data") is not None:
        raise ValidationError("pass validation data once: validation_data= (or the older test_dataloader=)")
    val = a.get("validation_data", a.get("test_dataloader"))
    val = None if val is None else as_validation_data(model, val)
    verbose = a.get("verbose", 1)
    options = {k: a[k] for k in ("checkpoint", "checkpoint_every", "on_failure", "record_voltages", "record_power")
               if k in a}
    model.history = fit(model, loader, a.get("epochs", 1), c["loss"], c["optimizer"], c["beta"], val,
                        a.get("callbacks", ()), symmetric=c["symmetric"], verbose=verbose,
                        history=getattr(model, "history", None), **options)
    return model.history


def evaluate_model(model, x, y=None, loss_fn=None, batch_size=256, loss=None, power=False):
    """Resolve the arguments of :meth:`Model.evaluate`; ``y`` may be the loss (older call style)."""
    from .fit import evaluate
    if y is not None and (callable(y) or isinstance(y, str)) and not hasattr(y, "shape"):
        y, loss_fn = None, y  # evaluate(data, loss_fn)
    loss = loss_fn or loss or getattr(model, "loss_fn", None)
    if loss is None:
        raise ValidationError("evaluate needs a loss: pass loss='mse' (or compile/fit first, which remember it)")
    data = as_validation_data(model, (x, y) if y is not None else x, check_batch_size(batch_size, "evaluate"))
    return evaluate(model, data, resolve_loss(loss), power=power)
