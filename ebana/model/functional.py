"""``Model(inputs, outputs)``: a layer graph compiled once into a circuit."""
import numpy as np

from ..analysis import power
from ..analysis.robustness import evaluate_robustness
from ..backends import make_stimulus
from ..backends.arrays import check_device, namespace, to_device, to_host, upload_once
from ..backends.factory import backend_with_retries
from ..circuit import CircuitBuilder, render
from ..errors import GraphError, ShapeError, ValidationError
from ..interrupt import deferred_sigint
from ..layers import CurrentLayer, InputVoltageLayer
from ..layers.base import Layer
from ..saving.model_file import save_model
from ..saving.safe_io import atomic_write_bytes, check_writable
from ..saving.weights import get_weights, load_weights, save_weights, set_weights
from ..training.keras_api import compile_model, evaluate_model, fit_model
from ..training.progress import progress
from ..validation import check_array, check_batch_size
from . import probes
from .config import layers_from_config, model_config
from .device import check_device_model, move_arrays, refuse_on_device
from .graph import ep_gradient_scales, topological_order
from .inputs import batch_count, check_inputs, input_batches
from .noise import ModelNoise

#: predict shows a progress bar from this many batches on
PREDICT_PROGRESS_BATCHES = 8


class Model:
    """A network of layers, compiled to one circuit.

    Args:
        inputs: the InputVoltageLayer (and optionally BiasVoltageLayer) layers.
        outputs: the CurrentLayer layers whose readouts are the outputs.
        backend: 'ngspice' (reference), 'native' (the layered solver, or the dense Newton
            solver for circuits without layers: :meth:`solver` says which) or a Backend.
            A name gets retries of non-converging samples
            (:class:`~ebana.backends.retry.RetryingBackend`); an instance is used as given.
        seed: seed of the conductance initialisation and of the noise masks.
        variability: default :class:`~ebana.devices.Variability` for every
            DenseLayer that sets none (noise-aware training), or None.
        device: where the arrays live and the training runs: 'cpu' (NumPy, the default) or
            'cuda' (CuPy; backend 'native' then runs the layered solver on the GPU). On a
            device the layers' conductances (S) and bias voltages (V) stay there; whatever
            leaves the model (weights, files, ``predict``) is a NumPy array. What a device
            model refuses: :mod:`ebana.model.device`. ``model.device`` is the name,
            ``model.xp`` the array namespace (numpy or cupy).

    >>> import numpy as np
    >>> from ebana import CurrentLayer, DenseLayer, InputVoltageLayer
    >>> x = InputVoltageLayer(units=2, name="x")
    >>> out = CurrentLayer(name="out", fold=True)(DenseLayer(units=2, name="d1")(x))
    >>> model = Model(inputs=[x], outputs=[out], backend="native")
    >>> model.predict({"x": np.array([[0.5, -0.5]])})["out"].shape   # (samples, outputs), V
    (1, 1)
    """

    def __init__(self, inputs, outputs, backend="ngspice", seed=0, variability=None, device="cpu"):
        inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        if not outputs:
            raise GraphError("a Model needs at least one output layer")
        for out in outputs:
            if not isinstance(out, CurrentLayer):
                name = out.describe() if isinstance(out, Layer) else repr(out)
                raise GraphError(f"model output {name} must be a CurrentLayer (EP nudges the outputs "
                                 "with current sources)")
        self.layers = topological_order(outputs)
        reached = {id(l) for l in self.layers}
        for x in inputs:
            if not isinstance(x, Layer) or not x.is_source:
                raise GraphError(f"model input {x!r} must be an InputVoltageLayer or BiasVoltageLayer")
            if id(x) not in reached:
                raise GraphError(f"input {x.describe()} is not connected to any output")
        listed = {id(x) for x in inputs}
        for layer in self.layers:
            if isinstance(layer, InputVoltageLayer) and id(layer) not in listed:
                raise GraphError(f"{layer.describe()} feeds the outputs but is not listed in the model's inputs")
        self.input_layers = inputs  # as listed (bias layers included), for get_config
        self.inputs = [l for l in inputs if isinstance(l, InputVoltageLayer)]
        self.outputs = outputs
        self.seed = seed
        rng = np.random.default_rng(seed)
        for layer in self.layers:
            layer.build(sum(p.units for p in layer.parents), rng)
        self.circuit, self.nodes = self._compile()
        # layers holding conductances, in circuit order (model.conductances() concatenates theirs)
        self.resistive_layers = [l for l in self.layers if l.conductances() is not None]
        self._bias_layers = [l for l in self.layers if getattr(l, "vs_slice", None) is not None]
        self.ep_scales = ep_gradient_scales(self.layers)
        self.noise = ModelNoise(self.resistive_layers, default=variability, seed=seed)
        self.devices = None  # a ChipDevices (faults, drift) when the model is one simulated chip: saved with it
        self.device = check_device(device)
        check_device_model(self, self.device)  # before the device's solver (and CuPy) is loaded
        self.backend = backend_with_retries(backend, device=self.device)
        self.xp = namespace(self.device)
        self._uploads = {}  # host arrays of the circuit needed on the device, uploaded once
        if self.device != "cpu":
            move_arrays(self, self.xp)
        self.backend_name = backend if isinstance(backend, str) else None  # saved with the model
        # set by compile and fit (ebana.training.keras_api): what save() stores and evaluate() defaults to
        self.compiled = None  # {'optimizer', 'loss', 'beta' (S), 'symmetric'}
        self.loss_fn = None
        self.history = None  # the History of the last fit

    # compile -----------------------------------------------------------------
    def _compile(self):
        builder, nodes = CircuitBuilder(), {}
        for layer in self.layers:
            parent_nodes = [nodes[id(p)] for p in layer.parents]
            inp = np.concatenate(parent_nodes) if parent_nodes else np.zeros(0, dtype=np.int64)
            nodes[id(layer)] = layer.lower(builder, inp)
        circuit = builder.build()
        return circuit, nodes

    def layer(self, name):
        """The layer called ``name``."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise GraphError(f"the model has no layer named {name!r}; layers: {[l.name for l in self.layers]}")

    def conductances(self):
        """All conductances (S) in circuit order, shape (R,)."""
        if not self.resistive_layers:
            return self.xp.zeros(0)
        return self.xp.concatenate([l.conductances() for l in self.resistive_layers])

    def _uploaded(self, name, host):
        """``host`` (an array of the circuit) on the model's device: uploaded once per array."""
        return host if self.xp is np else upload_once(self._uploads, name, host, self.xp)

    def parameters(self):
        """Trainable parameter arrays by layer name (the arrays themselves: updates are in place)."""
        out = {}
        for layer in self.layers:
            out.update(layer.parameters())
        return out

    # data --------------------------------------------------------------------
    def check_inputs(self, data):
        """Validate a dict of input arrays; return (batch size, {name: (B, units) array}) (V),
        the arrays on the model's device (host arrays are checked, then copied there)."""
        return check_inputs(self.inputs, data, self.xp)

    def source_voltages(self, arrays, batch_size):
        """Voltage-source values (V), (B, V): nominal values with the inputs filled in (on the model's device)."""
        # a broadcast copy: np.repeat of one row is several times slower (and holds Python's lock)
        nominal = self._uploaded("vs_value", self.circuit.vs_value)
        vs = self.xp.broadcast_to(nominal, (batch_size, self.circuit.n_vs)).copy()
        for layer in self._bias_layers:  # bias voltages may have been trained since compiling
            vs[:, layer.vs_slice] = layer.source_values()
        for name, a in arrays.items():
            vs[:, self.circuit.slice("vs", name)] = a
        return vs

    def output_currents(self, currents, batch_size):
        """Current-source values (A), (B, I), from a dict output name -> (B, nets) currents."""
        isrc = self.xp.zeros((batch_size, self.circuit.n_is))
        if currents is not None and not isinstance(currents, dict):
            raise ValidationError(f"currents must be a dict output name -> (batch, nets) array (A), "
                                  f"received {type(currents).__name__}")
        outputs = {out.name: out for out in self.outputs}
        for name, c in (currents or {}).items():
            if name not in outputs:
                raise ShapeError(f"currents name {name!r}, which is not an output; outputs: {sorted(outputs)}")
            sl = self.circuit.slice("is", name)
            nets = sl.stop - sl.start
            c = check_array(c, f"currents of {outputs[name].describe()} (A)")
            if c.shape not in ((batch_size, nets), (nets,), ()):
                raise ShapeError(f"currents of {outputs[name].describe()} must have shape (batch, nets) = "
                                 f"({batch_size}, {nets}), received {c.shape}")
            isrc[:, sl] = c if self.xp is np else to_device(c, self.xp)
        return isrc

    # solving -----------------------------------------------------------------
    def solve(self, data, currents=None, g=None, initial=None):
        """Operating point of a batch. ``currents``: output name -> (B, nets) injected currents (A)."""
        size, arrays = self.check_inputs(data)
        g = self.conductances() if g is None else self.device_conductances(g)
        stim = make_stimulus(self.circuit, g, self.source_voltages(arrays, size),
                             self.output_currents(currents, size))
        return self.backend.solve(self.circuit, stim, initial=initial)

    def device_conductances(self, g):
        """Conductances (S) ``(R,)`` given by a caller, on the model's device (unchanged on the CPU);
        per-sample ones (``(B, R)`` or a function) are refused on a device."""
        if self.xp is np:
            return g
        if callable(g) or getattr(g, "ndim", 1) == 2:
            refuse_on_device(self, "per-sample conductances (a (B, R) array or a function of the phase)")
        return to_device(g, self.xp)

    def solver(self):
        """Name of the solver that runs this model's circuit: 'ngspice', 'native-layered',
        'native-dense (why the layered solver does not apply)', ..."""
        return self.backend.which(self.circuit)

    def readouts(self, v):
        """Readout values (V) of every output, as a dict name -> (B, units)."""
        return {out.name: out.readout(v) for out in self.outputs}

    def predict(self, data, batch_size=256):
        """Free-phase readouts (V) of every output, by output name, for ``data``: a dict of
        input arrays, one array for a one-input model, or a DataLoader (its batches, in its
        order; target keys are ignored). The readouts are NumPy arrays, also from a model on
        a device (the data go there once per call, the readouts come back once)."""
        batch_size = check_batch_size(batch_size, "predict")
        batches = input_batches(self.inputs, data, batch_size, self.xp)
        total = batch_count(data, batch_size)
        # a bar only for long runs (and only on a terminal: see ebana.training.progress)
        shown = progress(batches, total=total, desc="predict",
                         enabled=total is None or total >= PREDICT_PROGRESS_BATCHES)
        with deferred_sigint():  # Ctrl-C stops within one sample's solve
            parts = [self.readouts(self.solve(batch).lazy_v) for batch in shown]  # nodes read: outputs
        if not parts:
            raise ShapeError("predict received no samples")
        return {name: to_host(self.xp.concatenate([p[name] for p in parts])) for name in parts[0]}

    # power (ebana.analysis.power) -------------------------------------------------------
    def power(self, data, batch_size=256):
        """Free-phase power (W) per sample of every layer: a :class:`~ebana.analysis.power.PowerReport`
        (``dissipated`` by resistors, junctions and amplifiers; ``delivered`` by sources)."""
        refuse_on_device(self, "model.power")
        return power.model_power(self, data, batch_size)

    def energy_per_inference(self, data, settle_time, batch_size=256):
        """Energy (J) per sample, ``(B,)``: the free-phase power held for ``settle_time`` (s)."""
        refuse_on_device(self, "model.energy_per_inference")
        return power.energy_per_inference(self, data, settle_time, batch_size)

    # training (the loops live in ebana.training, above the model) -------------
    def compile(self, optimizer="adam", loss="mse", beta=None, symmetric=False, metrics=None):
        """Remember optimizer ('adam', 'sgd', 'rmsprop' or an instance), loss ('mse': Keras' mean
        over outputs, 'mae', 'half_squared_error', 'cross_entropy' or an instance), beta (S;
        default 1% of the smallest g_max), nudging and ``metrics`` (e.g. ``['accuracy']``; among
        those the loss reports; None: all) for :meth:`fit`. Checks them all, learning rates included."""
        return compile_model(self, optimizer, loss, beta, symmetric, metrics)

    def fit(self, x=None, *args, **kwargs):
        """Train with Equilibrium Propagation; returns the History (kept in ``model.history``).

        Keras style: ``fit(x, y, epochs=1, batch_size=32, validation_data=None,
        validation_split=None, callbacks=(), verbose=1, shuffle=True, seed=model.seed,
        initial_epoch=0)`` after :meth:`compile`, where ``x``/``y`` are arrays (one
        input/output) or dicts by layer name, or ``fit(dict_with_targets)`` or
        ``fit(DataLoader)``. As in Keras, training runs from epoch ``initial_epoch`` up to
        ``epochs`` and each call returns its own History. ebana's original ``fit(loader,
        epochs, loss_fn, optimizer, beta, test_dataloader=None, callbacks=(), symmetric=False,
        verbose=True)`` works too.
        ``loss=``, ``optimizer=``, ``beta=`` (S), ``checkpoint``, ``checkpoint_every``,
        ``on_failure``, ``record_voltages``, ``record_power`` pass through to :func:`ebana.training.fit.fit`.
        """
        return fit_model(self, x, args, kwargs)

    def evaluate(self, x, y=None, loss_fn=None, batch_size=256, loss=None, power=False, verbose=1):
        """Free-phase mean loss and the loss's metrics, e.g. ``{'loss': ..., 'accuracy': ...}``
        (``'mae'`` in V for regression). ``x``: a DataLoader, a dict with targets, or inputs with ``y``.
        ``power=True`` adds the mean power (W) per layer (:meth:`~ebana.analysis.power.PowerReport.metrics`).
        ``verbose=1``: a progress bar over many batches (on a terminal only)."""
        return evaluate_model(self, x, y, loss_fn, batch_size, loss, power, verbose)

    def gradients(self, batch, loss="mse", beta=None, symmetric=True):
        """EP gradient ``dL/dG`` (loss units per S) by layer name; see :func:`ebana.model.probes.gradients`."""
        return probes.gradients(self, batch, loss, beta, symmetric)

    def node_voltages(self, data):
        """Free-phase voltages (V) of each layer's output nets, by layer name: (B, nets) arrays."""
        return probes.node_voltages(self, data)

    def get_weights(self):
        """Copies of the conductances (S) by trainable layer name."""
        return get_weights(self)

    def set_weights(self, weights):
        """Assign conductances (S): a dict by layer name or a list in layer order (checked first)."""
        set_weights(self, weights)

    def save(self, path):
        """Write config, conductances and optimizer state to one safe file (:func:`ebana.load_model`)."""
        save_model(self, path)

    def to(self, backend, device=None):
        """Move the model to another backend ('ngspice', 'native', 'ngspice:2' or a Backend), in place;
        ``device`` ('cpu', 'cuda'; None: stay) moves its arrays too (an optimizer's moments follow
        at its next step)."""
        device = self.device if device is None else check_device(device)
        check_device_model(self, device)
        new = backend_with_retries(backend, device=device)
        close = getattr(self.backend, "close", None)
        if close is not None:
            close()
        self.backend = new
        self.backend_name = backend if isinstance(backend, str) else None
        if device != self.device:
            self.device, self.xp, self._uploads = device, namespace(device), {}
            move_arrays(self, self.xp)
        return self

    def get_config(self):
        """The model as data: layer configs plus edges by name (see :mod:`ebana.model.config`)."""
        return model_config(self)

    @classmethod
    def from_config(cls, config, backend="ngspice", source="config", **options):
        """A new model with the layer graph of ``config`` (weights: :meth:`load_weights`);
        ``source`` names the config in errors; ``options``: ``seed`` aside, :class:`Model`'s
        (``variability``, ``device``: the config names no device, so 'cpu' unless given)."""
        inputs, outputs, seed = layers_from_config(config, source)
        return cls(inputs=inputs, outputs=outputs, backend=backend, seed=seed, **options)

    def save_weights(self, path):
        """Write the conductances (S) by layer name to ``path`` atomically."""
        save_weights(self, path)

    def load_weights(self, path):
        """Load conductances from ``path`` (restricted unpickler; names, shapes and bounds checked first)."""
        load_weights(self, path)

    def evaluate_robustness(self, dataset, sigmas, chips=100, seed=0, **options):
        """Accuracy over ``chips`` simulated chips per sigma (median, IQR, min, max).

        See :func:`ebana.analysis.robustness.evaluate_robustness` for the options
        (``kind``, ``backend``, ``loss_fn``, ``path``, ``plot``, ...).
        """
        options.setdefault("loss_fn", self.loss_fn)
        refuse_on_device(self, "evaluate_robustness")
        return evaluate_robustness(self, dataset, sigmas, chips=chips, seed=seed, **options)

    # netlist -----------------------------------------------------------------
    def netlist(self, inputs, title="ebana model"):
        """Standalone SPICE netlist (with ``.op``) for one sample of ``inputs`` (each with or
        without its batch axis: ``(28, 28, 2)`` or ``(1, 28, 28, 2)`` for an image input)."""
        shapes = {layer.name: layer.shape for layer in self.inputs}
        size, arrays = self.check_inputs({k: np.asarray(v)[None] if np.ndim(v) == len(shapes.get(k, ())) > 1
                                          else np.atleast_2d(v) for k, v in inputs.items()})
        if size != 1:
            raise ShapeError(f"write_netlist takes one sample, received {size}")
        vs = to_host(self.source_voltages(arrays, 1)[0])
        return render(self.circuit, to_host(self.conductances()), vs, title=title)

    def write_netlist(self, path, inputs, title="ebana model"):
        """Write :meth:`netlist` to ``path`` atomically; ``ngspice -b path`` solves it standalone.

        The destination is checked first (a folder that cannot be written, or a path that
        is a device, FIFO or folder, is refused naming ``path``)."""
        check_writable(path, "netlist")
        text = self.netlist(inputs, title)
        atomic_write_bytes(text.encode(), path, "netlist")
        return path

    def summary(self):
        """One line per layer: name, type, output nets, conductances."""
        lines = []
        for l in self.layers:
            g = l.conductances()
            lines.append(f"{l.name:<20} {type(l).__name__:<20} nets={l.units:<5} "
                         f"conductances={0 if g is None else g.size}")
        return "\n".join(lines)
