"""A model as data: layer configs plus edges by unique layer name (Keras style).

``model_config(model)`` gives a plain dict; :func:`layers_from_config` rebuilds
its layer graph, from which ``Model.from_config(config)`` makes an equal,
freshly initialised model; weights travel separately (``Model.save_weights`` /
``load_weights``).
"""
import inspect

import numpy as np

from ..errors import EbanaError, GraphError, ValidationError
from ..layers import LAYER_CLASSES

FORMAT = "ebana-model"
VERSION = 1


def model_config(model):
    """``{'format', 'version', 'seed', 'inputs', 'outputs', 'layers': [{'class', 'config', 'parents'}]}``."""
    layers = [{"class": type(l).__name__, "config": l.get_config(), "parents": [p.name for p in l.parents]}
              for l in model.layers]
    return {"format": FORMAT, "version": VERSION, "seed": model.seed,
            "inputs": [l.name for l in model.input_layers], "outputs": [l.name for l in model.outputs],
            "layers": layers}


#: Most nets one layer of a loaded config may declare (``units``, ``filters`` and the
#: nets a layer computes from them): 10 million, far above any trainable network
#: (Fashion-MNIST images have 784), far below what would exhaust memory. A config
#: over it is refused before any layer allocates anything.
MAX_LAYER_NETS = 10 ** 7

_TOP_KEYS = {"format", "version", "seed", "inputs", "outputs", "layers"}
_ENTRY_KEYS = {"class", "config", "parents"}


def _is_number(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _check_fields(cls, cfg, who):
    """Refuse unknown or missing constructor arguments and a value of the wrong kind for a
    field whose default is a number or a bool, naming the field (before anything is built)."""
    params = inspect.signature(cls.__init__).parameters
    names = {n for n in params if n != "self"}
    unknown = sorted(k for k in cfg if k not in names)
    if unknown:
        raise ValidationError(f"{who}: unknown field(s) {unknown}; {cls.__name__} takes {sorted(names)}")
    missing = sorted(n for n, p in params.items()
                     if n != "self" and p.default is inspect.Parameter.empty and n not in cfg)
    if missing:
        raise ValidationError(f"{who}: missing field(s) {missing}")
    for key, value in cfg.items():
        default = params[key].default
        if key in ("units", "filters") and value is not None:
            if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool)) or value < 1:
                raise ValidationError(f"{who}: field {key!r} must be a positive int, found {value!r}")
            if value > MAX_LAYER_NETS:
                raise ValidationError(f"{who}: field {key!r} = {value} is above the limit of {MAX_LAYER_NETS} "
                                      "nets per layer (ebana.model.config.MAX_LAYER_NETS); the file is damaged "
                                      "or not a network ebana trained")
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ValidationError(f"{who}: field {key!r} must be true or false, found {value!r}")
        elif _is_number(default) and value is not None:
            flat = value if isinstance(value, list) else [value]
            if not all(_is_number(v) for v in flat):
                raise ValidationError(f"{who}: field {key!r} must be a number (or a list of numbers), "
                                      f"found {value!r}")


def _checked_top(config, source):
    """The config's seed, after its format, keys, input/output names and layer list are checked."""
    if not isinstance(config, dict) or config.get("format") != FORMAT or config.get("version") != VERSION:
        raise ValidationError(f"{source}: not an {FORMAT} v{VERSION} config (format={config.get('format')!r}, "
                              f"version={config.get('version')!r})" if isinstance(config, dict)
                              else f"{source}: a model config must be a dict, received {type(config).__name__}")
    extra = sorted(set(config) - _TOP_KEYS)
    if extra:
        raise ValidationError(f"{source}: unknown config key(s) {extra}; a model config holds {sorted(_TOP_KEYS)}")
    seed = config.get("seed", 0)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValidationError(f"{source}: field 'seed' must be an int >= 0, found {seed!r}")
    for key in ("inputs", "outputs"):
        names = config.get(key)
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValidationError(f"{source}: field {key!r} must be a list of layer names, found {names!r}")
    if not isinstance(config.get("layers"), list):
        raise ValidationError(f"{source}: field 'layers' must be a list of layer entries, "
                              f"found {type(config.get('layers')).__name__}")
    return int(seed)


def _layer_from_entry(entry, built, where):
    """The layer of one checked config entry, called on its parents among ``built`` (by name)."""
    if not isinstance(entry, dict) or set(entry) != _ENTRY_KEYS:
        got = sorted(entry) if isinstance(entry, dict) else f"a {type(entry).__name__} {entry!r:.40}"
        raise ValidationError(f"{where}: an entry must be a dict with keys {sorted(_ENTRY_KEYS)}, found {got}")
    cls = LAYER_CLASSES.get(entry["class"]) if isinstance(entry["class"], str) else None
    if cls is None:
        raise ValidationError(f"{where}: unknown layer class {entry['class']!r}; known: {sorted(LAYER_CLASSES)}")
    cfg = entry["config"]
    if not isinstance(cfg, dict) or not all(isinstance(k, str) for k in cfg):
        raise ValidationError(f"{where} ({cls.__name__}): field 'config' must be a dict of named fields, "
                              f"found {cfg!r:.60}")
    who = f"{where} ({cls.__name__} {cfg.get('name')!r})"
    _check_fields(cls, cfg, who)
    parents = entry["parents"]
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        raise ValidationError(f"{who}: field 'parents' must be a list of layer names, found {parents!r}")
    try:
        layer = cls.from_config(dict(cfg))
    except EbanaError as exc:
        raise type(exc)(f"{who}: {exc}") from None
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
        raise ValidationError(f"{who}: {type(exc).__name__}: {exc}") from None
    if layer.name in built:
        raise GraphError(f"{who}: the config defines layer {layer.name!r} twice")
    missing = [p for p in parents if p not in built]
    if missing:
        raise GraphError(f"{who}: {layer.describe()} refers to parents {missing} defined after it or not at all")
    if parents:
        try:
            layer([built[p] for p in parents] if cls.__name__ == "ConcatenateLayer" else built[parents[0]])
        except EbanaError as exc:
            raise type(exc)(f"{who}: {exc}") from None
    if layer.units is not None and layer.units > MAX_LAYER_NETS:
        raise ValidationError(f"{who}: {layer.units} nets, above the limit of {MAX_LAYER_NETS} nets per layer "
                              "(ebana.model.config.MAX_LAYER_NETS)")
    return layer


def layers_from_config(config, source="config"):
    """Rebuild the layer graph of ``config``: ``(input layers, output layers, seed)``.

    Every part is checked before a layer is made: the keys, each entry's class, fields
    (names and kinds) and parents; errors name ``source`` (e.g. the file), the layer
    and the field. No layer is built (no conductance is allocated) here.
    """
    seed = _checked_top(config, source)
    built = {}
    for i, entry in enumerate(config["layers"]):  # saved in topological order: parents come first
        layer = _layer_from_entry(entry, built, f"{source}, layer {i}")
        built[layer.name] = layer
    try:
        inputs = [built[n] for n in config["inputs"]]
        outputs = [built[n] for n in config["outputs"]]
    except KeyError as e:
        raise GraphError(f"{source}: the config's inputs/outputs name a layer it does not define: {e}") from None
    return inputs, outputs, seed
