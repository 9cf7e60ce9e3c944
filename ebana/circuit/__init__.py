"""Circuit intermediate form, element models and netlist rendering."""
from .circuit import Circuit, CircuitBuilder
from .elements import BehavioralDiode, MosDiode, ShockleyDiode
from .netlist import DEFAULT_OPTIONS, render

__all__ = ["Circuit", "CircuitBuilder", "BehavioralDiode", "ShockleyDiode", "MosDiode", "DEFAULT_OPTIONS", "render"]
