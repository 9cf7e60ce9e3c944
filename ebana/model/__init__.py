"""The model: a layer graph (:mod:`.graph`), compiled once into a circuit (:mod:`.functional`),
as data (:mod:`.config`), with its inputs checked and batched (:mod:`.inputs`) and its noise
drawn per batch (:mod:`.noise`)."""
from .config import layers_from_config, model_config
from .functional import Model

__all__ = ["Model", "model_config", "layers_from_config"]
