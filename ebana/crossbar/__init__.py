"""In-situ training of memristor crossbars solved as Ngspice circuits."""
from .circuit import CrossbarCircuit
from .task import pattern_names, training_set, unseen_patterns
from .training import InSituTrainer, TrainerConfig, TrainingHistory

__all__ = ["CrossbarCircuit", "InSituTrainer", "TrainerConfig", "TrainingHistory",
           "pattern_names", "training_set", "unseen_patterns"]
