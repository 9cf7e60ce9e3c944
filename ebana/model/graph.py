"""Ordering the layer graph, and what the order tells about EP: pure functions, no recursion."""
import warnings

from ..errors import GraphError
from ..layers.amplification import AmplificationLayer
from ..layers.base import Layer


def topological_order(outputs):
    """Layers reachable from ``outputs``, every parent before its children.

    Raises GraphError on a cycle or on two layers whose names differ only by
    case (SPICE is case-insensitive, so they would share nets).
    """
    order, state = [], {}  # state: 1 = on the stack, 2 = done
    for out in outputs:
        if not isinstance(out, Layer):
            raise GraphError(f"model outputs must be layers, received {type(out).__name__}")
        stack = [(out, iter(out.parents))]
        if state.get(id(out)) == 2:
            continue
        state[id(out)] = 1
        while stack:
            layer, parents = stack[-1]
            nxt = next(parents, None)
            if nxt is None:
                stack.pop()
                state[id(layer)] = 2
                order.append(layer)
            elif state.get(id(nxt)) == 1:
                path = " -> ".join(l.describe() for l, _ in stack) + " -> " + nxt.describe()
                raise GraphError(f"the layer graph has a cycle: {path}")
            elif state.get(id(nxt)) is None:
                state[id(nxt)] = 1
                stack.append((nxt, iter(nxt.parents)))
    seen = {}
    for layer in order:
        key = layer.name.lower()
        if key in seen:
            raise GraphError(f"two layers are named {seen[key].name!r} and {layer.name!r}; layer names must "
                             "be unique, ignoring case (SPICE is case-insensitive)")
        seen[key] = layer
    return order


def ep_gradient_scales(order):
    """For each layer name, the factor between dL/dG and the raw EP estimate.

    An AmplificationLayer draws ``1/gain`` of its output current from its
    input, so the circuit settles at the minimum of ``E_up + E_down / gain**2``:
    the EP rule sees the conductances upstream of it ``gain**2`` too weakly.
    The factor is the product of ``gain**2`` over the amplifiers between a
    layer and the outputs (1 for a network without amplifiers). Where paths
    to the outputs cross different gains no single factor is exact; the
    largest is used and a warning says so.
    """
    children = {id(layer): [] for layer in order}
    for layer in order:
        for parent in layer.parents:
            children[id(parent)].append(layer)
    scale = {}
    for layer in reversed(order):
        options = {scale[id(c)] * (c.gain ** 2 if isinstance(c, AmplificationLayer) else 1.0)
                   for c in children[id(layer)]}
        # Only layers with conductances have an EP gradient to scale (a bias source has none).
        if len(options) > 1 and layer.parameters():
            warnings.warn(f"{layer.describe()} reaches the outputs through amplifiers of different gains; "
                          "its EP gradient is scaled by the largest gain**2", RuntimeWarning, stacklevel=3)
        scale[id(layer)] = max(options) if options else 1.0
    return {layer.name: scale[id(layer)] for layer in order}
