"""What a training run tells the user and writes beside its numbers.

* :func:`epoch_line`: one line per epoch that stays on screen (Keras' ``verbose=1``).
* :func:`run_info`: the model config, hyperparameters and the unit of every
  metric, stored by :meth:`History.save` in the HDF5 file's attributes.
"""
import sys

UNITS = {"mae": "V", "accuracy": "1", "epoch_time_s": "s", "lr_scale": "1", "skipped_batches": "1"}


def epoch_line(epoch, end, metrics, stream=None):
    """Print ``Epoch 3/10 - 1.2 s - loss: 0.0123 - accuracy: 0.75 - val_loss: ...``."""
    parts = [f"Epoch {epoch + 1}/{end}", f"{metrics.get('epoch_time_s', float('nan')):.1f} s"]
    parts += [f"{k}: {v:.4g}" for k, v in metrics.items() if k not in ("epoch_time_s", "lr_scale")]
    if metrics.get("lr_scale", 1.0) != 1.0:
        parts.append(f"lr_scale: {metrics['lr_scale']:.3g}")
    print(" - ".join(parts), file=stream or sys.stdout, flush=True)


def metric_units(names, loss_fn):
    """Unit of each metric: the loss's own (``loss_fn.unit``, e.g. 'V^2' for MSE) for (val_)loss."""
    loss_unit = getattr(loss_fn, "unit", "loss units")
    out = {}
    for name in names:
        base = name[4:] if name.startswith("val_") else name
        out[name] = loss_unit if base == "loss" else UNITS.get(base, "")
    return out


def run_info(model, settings, loss_fn, metric_names):
    """Plain data for the History file: model config, hyperparameters, units."""
    from ..saving.run_settings import plain_data
    hyper = {k: v for k, v in settings.items() if k != "model"}
    return {"model_config": plain_data(model.get_config()), "hyperparameters": hyper,
            "units": metric_units(metric_names, loss_fn)}
