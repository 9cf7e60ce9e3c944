"""Geometry of image layers: which input nets each output position sees.

Images are laid out channels-last, ``(rows, cols, channels)``, net ``k`` being
element ``k`` of the C-order flattening (see :mod:`ebana.layers.base`).
Padding 'valid': every window lies inside the image. Padding 'same' (Keras'
rule): ``ceil(size / stride)`` windows per axis, the image padded by
``max((out - 1) * stride + kernel - size, 0)`` positions, half of them (rounded
down) before; a padded position has index -1 (the layer joins it to ground).
"""
import numpy as np

from ..errors import ShapeError, ValidationError


def pair_of_ints(value, what):
    """``(a, b)`` from an int or a pair of positive ints."""
    items = (value, value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    try:
        a, b = items
    except (TypeError, ValueError):
        raise ValidationError(f"{what} must be a positive int or a pair of them, received {value!r}") from None
    for x in (a, b):
        if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 1:
            raise ValidationError(f"{what} must be a positive int or a pair of them, received {value!r}")
    return int(a), int(b)


def image_dims(shape, who, parent):
    """``(rows, cols, channels)`` of a parent's net layout; a 2-D layout has one channel."""
    if shape is not None and len(shape) == 2:
        return (int(shape[0]), int(shape[1]), 1)
    if shape is None or len(shape) != 3:
        raise ShapeError(f"{who} expected an image input of shape (rows, cols, channels), received nets of "
                         f"shape {shape} from {parent.describe()}; give InputVoltageLayer a shape= or put a "
                         "ReshapeLayer before it")
    return tuple(int(s) for s in shape)


def output_size(dims, kernel, strides, who, padding="valid"):
    """``(out_rows, out_cols)`` of the windows of size ``kernel`` moved by ``strides``."""
    rows, cols = dims[0], dims[1]
    if padding == "same":
        return -(-rows // strides[0]), -(-cols // strides[1])
    if kernel[0] > rows or kernel[1] > cols:
        raise ShapeError(f"{who}: window {kernel} is larger than its input image ({rows}, {cols}); "
                         "use a smaller kernel_size or padding='same'")
    return (rows - kernel[0]) // strides[0] + 1, (cols - kernel[1]) // strides[1] + 1


def _axis(size, kernel, stride, out, padding):
    """Input positions (out, kernel) along one axis; -1 where the window overhangs the image."""
    before = max((out - 1) * stride + kernel - size, 0) // 2 if padding == "same" else 0
    pos = (np.arange(out) * stride)[:, None] + np.arange(kernel)[None, :] - before
    return np.where((pos >= 0) & (pos < size), pos, -1)


def window_indices(dims, kernel, strides, padding="valid"):
    """Flat input-net positions of every window, ``(out_rows * out_cols, kr, kc, channels)`` (int64),
    -1 at padded positions.

    Window ``p = i * out_cols + j`` starts at row ``i * strides[0]``, column
    ``j * strides[1]`` (shifted back by the padding before the image).
    """
    rows, cols, channels = dims
    out_r, out_c = output_size(dims, kernel, strides, "window_indices", padding)
    r = _axis(rows, kernel[0], strides[0], out_r, padding)[:, None, :, None, None]
    c = _axis(cols, kernel[1], strides[1], out_c, padding)[None, :, None, :, None]
    ch = np.arange(channels)[None, None, None, None, :]
    flat = np.where((r >= 0) & (c >= 0), (r * cols + c) * channels + ch, -1)  # (out_r, out_c, kr, kc, ch)
    return flat.reshape(out_r * out_c, kernel[0], kernel[1], channels).astype(np.int64)
