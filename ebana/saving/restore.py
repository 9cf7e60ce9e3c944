"""A model rebuilt from its saved file: graph, conductances, and how it was compiled.

The file is read and checked by :func:`~.model_file.read_model_file`; the
conductances (names, shapes, ``[g_min, g_max]``) and the optimizer state
(shapes, finite moments, valid hyperparameters) are checked before the model
is returned.

Example:
    >>> import os, tempfile
    >>> import numpy as np, ebana
    >>> from ebana.networks import clamped_mlp
    >>> model = clamped_mlp(2, 4, 1, backend="native")
    >>> model = model.compile(optimizer="adam", loss="mse")   # returns the model
    >>> history = model.fit(np.zeros((8, 2)), np.zeros((8, 1)), epochs=1, batch_size=4, verbose=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "run.ebana")
    >>> model.save(path)
    >>> same = ebana.load_model(path, backend="native")   # training goes on from here
    >>> np.array_equal(same.get_weights()["d1"], model.get_weights()["d1"])
    True
"""
import os

from ..errors import ValidationError
from ..model.functional import Model
from ..training.resolve import LOSS_CLASSES, OPTIMIZER_CLASSES
from .model_file import read_model_file
from .weights import set_weights


def load_model(path, backend="ngspice", **model_options):
    """A model from a file written by :meth:`Model.save`, on ``backend``, compiled as it was saved."""
    path = os.fspath(path)
    d = read_model_file(path)
    model = Model.from_config(d["config"], backend=backend, **model_options)
    set_weights(model, d["weights"], f"saved model {path!r}")
    t = d["training"]
    if t is not None:
        known_losses, known_opts = LOSS_CLASSES, OPTIMIZER_CLASSES  # every class a name resolves to
        if not (isinstance(t, dict) and set(t) == {"loss", "optimizer", "beta", "symmetric"}
                and isinstance(t["loss"], dict) and t["loss"].get("class") in known_losses
                and isinstance(t["optimizer"], dict) and t["optimizer"].get("class") in known_opts):
            raise ValidationError(f"saved model {path!r}: the training state (loss, optimizer, beta) is "
                                  f"malformed or names an unknown loss/optimizer class")
        try:
            loss = known_losses[t["loss"]["class"]](**t["loss"]["config"])
        except (TypeError, ValidationError) as exc:
            raise ValidationError(f"saved model {path!r}: loss settings {t['loss']!r}: {exc}") from None
        optimizer = known_opts[t["optimizer"]["class"]]()
        optimizer.load_state_dict(t["optimizer"], source=path, params=model.parameters())
        model.compile(optimizer=optimizer, loss=loss, beta=t["beta"], symmetric=t["symmetric"])
    return model
