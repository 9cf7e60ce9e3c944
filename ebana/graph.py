"""Ordering the layer graph: one pure function, no recursion."""
from .errors import GraphError
from .layers.base import Layer


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
