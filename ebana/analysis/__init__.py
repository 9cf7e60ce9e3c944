"""What a trained circuit does beyond its outputs: power and energy, and robustness over simulated chips."""
from .device_study import drift_study, fault_study
from .power import PowerReport, circuit_power, energy_per_inference, model_power
from .robustness import RobustnessResult, evaluate_robustness

__all__ = ["PowerReport", "circuit_power", "model_power", "energy_per_inference", "RobustnessResult",
           "evaluate_robustness", "fault_study", "drift_study"]
