"""Circuit intermediate form, element models and netlist rendering."""
from .elements import BehavioralDiode, MosDiode, ShockleyDiode
from .netlist import DEFAULT_OPTIONS, render
from .structure import Circuit, CircuitBuilder

__all__ = ["Circuit", "CircuitBuilder", "BehavioralDiode", "ShockleyDiode", "MosDiode", "DEFAULT_OPTIONS", "render"]
