"""A model as data: layer configs plus edges by unique layer name (Keras style).

``model_config(model)`` gives a plain dict; :func:`layers_from_config` rebuilds
its layer graph, from which ``Model.from_config(config)`` makes an equal,
freshly initialised model; weights travel separately (``Model.save_weights`` /
``load_weights``).
"""
from ..errors import GraphError, ValidationError
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


def layers_from_config(config):
    """Rebuild the layer graph of ``config``: ``(input layers, output layers, seed)``."""
    if not isinstance(config, dict) or config.get("format") != FORMAT or config.get("version") != VERSION:
        raise ValidationError(f"not an {FORMAT} v{VERSION} config (format={config.get('format')!r}, "
                              f"version={config.get('version')!r})" if isinstance(config, dict)
                              else f"a model config must be a dict, received {type(config).__name__}")
    built = {}
    for entry in config["layers"]:  # saved in topological order: parents come first
        cls = LAYER_CLASSES.get(entry.get("class"))
        if cls is None:
            raise ValidationError(f"unknown layer class {entry.get('class')!r}; known: {sorted(LAYER_CLASSES)}")
        layer = cls.from_config(dict(entry["config"]))
        if layer.name in built:
            raise GraphError(f"the config defines layer {layer.name!r} twice")
        missing = [p for p in entry["parents"] if p not in built]
        if missing:
            raise GraphError(f"{layer.describe()} refers to parents {missing} defined after it or not at all")
        if entry["parents"]:
            parents = [built[p] for p in entry["parents"]]
            layer(parents if type(layer).__name__ == "ConcatenateLayer" else parents[0])
        built[layer.name] = layer
    try:
        inputs = [built[n] for n in config["inputs"]]
        outputs = [built[n] for n in config["outputs"]]
    except KeyError as e:
        raise GraphError(f"the config's inputs/outputs name a layer it does not define: {e}") from None
    return inputs, outputs, config.get("seed", 0)
