"""``Model.compile`` / ``Model.fit`` / ``Model.evaluate`` argument handling, Keras style.

Both call styles work:

* Keras: ``model.compile(optimizer="adam", loss="mse")`` then
  ``model.fit(x, y, epochs=10, batch_size=16, validation_data=(xv, yv))``,
  or ``model.fit({"x": X, "out": Y}, epochs=10)``;
* ebana's original: ``model.fit(loader, epochs, loss_fn, optimizer, beta)``.

As in Keras, ``epochs`` is the index the run ends at: ``fit(epochs=10,
initial_epoch=4)`` trains epochs 5 to 10 (six), and each call returns its
own History (``model.history`` is the latest).
"""
from ..errors import ValidationError
from ..validation import check_batch_size, check_number
from .defaults import default_beta
from .learning_rates import learning_rates
from .resolve import (as_training_data, as_validation_data, resolve_loss, resolve_metrics, resolve_optimizer,
                      split_validation)

_LEGACY_POSITIONAL = ("epochs", "loss_fn", "optimizer", "beta", "test_dataloader", "callbacks", "symmetric",
                      "verbose")
_KEYWORDS = {"y", "epochs", "loss_fn", "loss", "optimizer", "beta", "test_dataloader", "validation_data",
             "callbacks", "symmetric", "verbose", "batch_size", "shuffle", "seed", "checkpoint",
             "checkpoint_every", "on_failure", "record_voltages", "record_power", "initial_epoch",
             "validation_split"}


def compile_model(model, optimizer="adam", loss="mse", beta=None, symmetric=False, metrics=None):
    """Remember the optimizer, loss, beta (S; default :func:`default_beta`), nudging and the
    metrics to report for fit. Everything is checked here, including that every trained
    parameter has a learning rate (:func:`~.learning_rates.learning_rates`)."""
    beta = default_beta(model) if beta is None else check_number(beta, "beta (S)", 0, low_open=True)
    optimizer, loss = resolve_optimizer(optimizer), resolve_loss(loss)
    metrics = resolve_metrics(metrics, loss)
    learning_rates(model, optimizer)
    model.compiled = {"optimizer": optimizer, "loss": loss, "beta": float(beta), "symmetric": bool(symmetric),
                      "metrics": metrics}
    model.loss_fn = loss
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
    metrics = compiled.get("metrics") if loss is compiled.get("loss") else None
    compile_model(model, optimizer, loss, beta, symmetric, metrics)  # save() then holds what was trained with
    c = model.compiled
    batch_size = check_batch_size(a.get("batch_size", 32), "fit")
    seed = a.get("seed", model.seed)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ValidationError(f"fit: seed must be a non-negative int or None, received {seed!r}")
    shuffle = a.get("shuffle", True)
    if not isinstance(shuffle, bool):
        raise ValidationError(f"fit: shuffle must be True or False, received {shuffle!r}")
    given = [k for k in ("validation_data", "test_dataloader", "validation_split") if a.get(k) is not None]
    if len(given) > 1:
        raise ValidationError(f"pass validation data once: validation_data=, validation_split= or the older "
                              f"test_dataloader=; received {given}")
    x, y, val = x, a.get("y"), a.get("validation_data", a.get("test_dataloader"))
    if a.get("validation_split") is not None:
        (x, val), y = split_validation(model, x, y, a["validation_split"]), None
    loader = as_training_data(model, x, y, batch_size, shuffle, seed)
    val = None if val is None else as_validation_data(model, val)
    options = {k: a[k] for k in ("checkpoint", "checkpoint_every", "on_failure", "record_voltages", "record_power")
               if k in a}
    epochs, initial_epoch = a.get("epochs", 1), a.get("initial_epoch", 0)
    # Keras counts epochs up to an index; ebana's fit counts the epochs to train.
    if isinstance(epochs, int) and isinstance(initial_epoch, int) and not isinstance(epochs, bool):
        epochs = max(epochs - initial_epoch, 0) if initial_epoch >= 0 else epochs
    model.history = fit(model, loader, epochs, c["loss"], c["optimizer"], c["beta"], val,
                        a.get("callbacks", ()), symmetric=c["symmetric"], verbose=a.get("verbose", 1),
                        initial_epoch=initial_epoch, metrics=c["metrics"], **options)
    return model.history


def evaluate_model(model, x, y=None, loss_fn=None, batch_size=256, loss=None, power=False, verbose=1):
    """Resolve the arguments of :meth:`Model.evaluate`; ``y`` may be the loss (older call style).
    With the compiled loss, only the compiled ``metrics`` are reported."""
    from .evaluate import evaluate
    if y is not None and (callable(y) or isinstance(y, str)) and not hasattr(y, "shape"):
        y, loss_fn = None, y  # evaluate(data, loss_fn)
    loss = loss_fn or loss or getattr(model, "loss_fn", None)
    if loss is None:
        raise ValidationError("evaluate needs a loss: pass loss='mse' (or compile/fit first, which remember it)")
    compiled = getattr(model, "compiled", None) or {}
    metrics = compiled.get("metrics") if loss is compiled.get("loss") else None
    data = as_validation_data(model, (x, y) if y is not None else x, check_batch_size(batch_size, "evaluate"))
    return evaluate(model, data, resolve_loss(loss), power=power, verbose=verbose, metrics=metrics)
