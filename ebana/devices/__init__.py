"""Device transforms: plain numpy functions of a layer's parameters.

Layers use them; backends never see them. Contents so far:

- :mod:`.variability` -- variability masks (settings, sampling, gradients).
- :mod:`.layer_noise` -- one layer's masks kept consistent over an EP step.
- :mod:`.quantize` -- binary / few-level conductances with straight-through updates.
- :mod:`.faults` -- stuck-at faults; :mod:`.drift` -- power-law conductance drift;
  :mod:`.chip` -- one chip's faults and drift for a whole model; :mod:`.mapping` -- programming
  the trained conductances onto the full device range.

Memristor pulse models are added beside these (``memristor*.py``).
"""
from .layer_noise import LayerNoise
from .masks import KINDS, MaskKind
from .quantize import Quantizer
from .variability import Variability, VariabilityModel, as_generator, chip_generator

__all__ = [
    "KINDS",
    "LayerNoise",
    "MaskKind",
    "Quantizer",
    "Variability",
    "VariabilityModel",
    "as_generator",
    "chip_generator",
]

# Memristor pulse models (in-situ crossbar training).
from .memristor import ExponentialMemristor, MemristorModel, SP291D1NR100Fit, TabulatedMemristor
from .memristor_array import DeviceVariation, MemristorArray, sample_mask
from .memristor_data import MeasuredCurve, load_pulse_curve, parse_csv, parse_dat

__all__ += [
    "DeviceVariation",
    "ExponentialMemristor",
    "MeasuredCurve",
    "MemristorArray",
    "MemristorModel",
    "SP291D1NR100Fit",
    "TabulatedMemristor",
    "load_pulse_curve",
    "parse_csv",
    "parse_dat",
    "sample_mask",
]

# Device physics of a simulated chip (stuck-at faults, drift).
from .chip import ChipDevices
from .drift import PowerLawDrift, global_compensation
from .faults import FaultMap, StuckAtFaults
from .mapping import range_factor, scale_to_range

__all__ += ["ChipDevices", "FaultMap", "PowerLawDrift", "StuckAtFaults", "global_compensation", "range_factor",
            "scale_to_range"]
