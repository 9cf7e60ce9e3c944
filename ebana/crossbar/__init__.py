"""In-situ training of memristor crossbars solved as Ngspice circuits.

See docs/crossbar.md. Plots live in :mod:`ebana.crossbar.plots` (imported on
demand, so that importing this package does not load matplotlib).
"""
from .circuit import CrossbarCircuit
from .statistics import ChipStatistics, chip_statistics
from .task import pattern_names, training_set, unseen_patterns
from .training import InSituTrainer, TrainerConfig, TrainingHistory
from .wires import WireEffect, wire_resistance_effect

__all__ = ["ChipStatistics", "CrossbarCircuit", "InSituTrainer", "TrainerConfig", "TrainingHistory",
           "WireEffect", "chip_statistics", "pattern_names", "training_set", "unseen_patterns",
           "wire_resistance_effect"]
