"""The layer contract (Keras functional style, one node per layer).

* ``__init__`` takes hyperparameters only and validates them.
* Calling a layer on parent layers only *records* the edge and the width of
  the output (``units``, in nets); a layer is called at most once, because a
  layer is a piece of circuit, not a reusable function.
* A layer's nets also have a ``shape`` (a tuple whose product is ``units``):
  ``(units,)`` by default, ``(rows, cols, channels)`` for images, net
  ``k`` being element ``k`` of the C-order (channels-last) flattening. A layer
  with ``keeps_layout = True`` (diodes, amplifiers: one output net per input
  net) keeps its parent's shape.
* ``build(input_units, rng)`` allocates parameters (conductances, S).
* ``lower(builder, input_nodes)`` writes the layer's circuit elements and
  returns its output node indices.
* ``get_config()`` returns the constructor's keyword arguments and
  ``from_config(cfg)`` is ``cls(**cfg)``.
"""
import numpy as np

from ..backends.arrays import upload_once
from ..errors import GraphError, ShapeError
from ..validation import check_name


class Layer:
    """Base class of every layer. Subclasses set ``units`` in ``_output_units``."""
    #: whether the layer is a source of the graph (takes no parents)
    is_source = False
    #: whether output net k stands where input net k stood (the parent's shape carries over)
    keeps_layout = False

    def __init__(self, name):
        self.name = check_name(name)
        self.parents = []
        self.units = None
        self._shape = None
        self.built = False
        self._called = False

    # graph recording -----------------------------------------------------
    def __call__(self, parents):
        if self.is_source:
            raise GraphError(f"{self.describe()} is a source of the graph and takes no parents")
        if self._called:
            raise GraphError(f"{self.describe()} was already connected; a layer is a piece of circuit and "
                             "can be used only once: create another layer")
        many = isinstance(parents, (list, tuple))
        parents = list(parents) if many else [parents]
        for p in parents:
            if not isinstance(p, Layer):
                raise GraphError(f"{self.describe()} must be called on layers, received {type(p).__name__}")
            if p.units is None:
                raise GraphError(f"{self.describe()} called on {p.describe()}, which is not connected yet")
        self._check_parents(parents, many)
        self.parents = parents
        self.units = self._output_units([p.units for p in parents])
        self._shape = self._output_shape([p.shape for p in parents])
        self._called = True
        return self

    def _check_parents(self, parents, many):
        if many or len(parents) != 1:
            raise GraphError(f"{self.describe()} takes exactly one parent layer, received {len(parents)}; "
                             "join several with ConcatenateLayer")

    def _output_units(self, parent_units):
        return parent_units[0]

    def _output_shape(self, parent_shapes):
        if self.keeps_layout and len(parent_shapes) == 1 and int(np.prod(parent_shapes[0])) == self.units:
            return tuple(parent_shapes[0])
        return (self.units,)

    @property
    def shape(self):
        """Layout of the output nets, a tuple of ints (None before the layer is connected)."""
        if self.units is None:
            return None
        return self._shape if self._shape is not None else (self.units,)

    # life cycle ----------------------------------------------------------
    def build(self, input_units, rng):
        """Allocate parameters for ``input_units`` input nets."""
        self.built = True

    def lower(self, builder, input_nodes):
        """Write circuit elements into ``builder``; return the output node indices."""
        raise NotImplementedError

    # parameters ----------------------------------------------------------
    def parameters(self):
        """Trainable parameter arrays by name (empty for most layers)."""
        return {}

    def conductances(self):
        """Conductances (S) of this layer's resistors in circuit order, or None."""
        return None

    def conductances_with(self, devices):
        """:meth:`conductances` with the devices' conductances ``devices`` (S, ``(..., n_devices)``:
        masked, faulty or drifted, per sample or per chip) in place of the layer's own. Here they
        are all its resistors; a wired crossbar appends its wire segments (fixed metal)."""
        return devices

    def epoch_metrics(self):
        """Figures this layer adds to each epoch of a History (name -> number), e.g. a memristor
        crossbar's pulse counts; empty for most layers."""
        return {}

    def array_attributes(self):
        """Names of the attributes holding the layer's value arrays (conductances in S, bias
        voltages in V): the arrays a model on a device keeps there (:mod:`ebana.model.device`)."""
        return ()

    def ep_gradient_from_phases(self, low, high, span, per_sample=False):
        """EP gradient of :meth:`parameters` from two :class:`~ebana.backends.OperatingPoint`
        phases; conductance layers use the node voltages only (their ``ep_gradient``)."""
        return self.ep_gradient(low.v, high.v, span, per_sample=per_sample)

    def stored_shape(self, input_units):
        """Shape of the array a weights file keeps for this layer once built for
        ``input_units`` input nets, or None when it keeps none; computed without
        allocating anything, so a loaded file's sizes are checked before building."""
        return None

    # configuration -------------------------------------------------------
    def get_config(self):
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def describe(self):
        return f"{type(self).__name__} {self.name!r}"

    def __repr__(self):
        return f"<{self.describe()} units={self.units}>"


def device_index(layer, attr, xp):
    """The node-index array ``layer.<attr>`` as an index for arrays of namespace ``xp``: a
    slice when the nodes are consecutive (a view, no index array at all), else the array
    itself on the CPU, or its device copy, uploaded once and kept on the layer until
    :meth:`Layer.lower` writes a new array there."""
    nodes = getattr(layer, attr)
    consecutive = consecutive_slice(nodes) if nodes.ndim == 1 else None
    if consecutive is not None:
        return consecutive
    if xp is np:
        return nodes
    # lowered again since (a new array under attr): the new nodes are uploaded
    return upload_once(layer.__dict__.setdefault("_device_indices", {}), (attr, id(xp)), nodes, xp)


def consecutive_slice(nodes):
    """``nodes`` (node indices, any shape, read in C order) as a slice when they are consecutive
    (indexing with it gives a view), else None."""
    flat = np.asarray(nodes).reshape(-1)
    if len(flat) and flat[-1] - flat[0] == len(flat) - 1 and np.array_equal(flat, np.arange(flat[0], flat[-1] + 1)):
        return slice(int(flat[0]), int(flat[-1]) + 1)
    return None


def check_units(units, layer):
    if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
        raise ShapeError(f"{layer} needs a positive integer number of units, received {units!r}")
    return int(units)
