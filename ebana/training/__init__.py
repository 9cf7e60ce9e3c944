"""Training utilities: data loading, losses, optimizers, history, progress bars.

Pure numpy (plus h5py/matplotlib/tqdm for files, plots and bars); nothing
here runs a circuit. The EP loop calls these.
"""
from .callbacks import (Callback, CSVLogger, EarlyStopping, LearningRateScheduler, ModelCheckpoint, ReduceLROnPlateau,
                        cosine_decay, exponential_decay, step_decay)
from .data import Batch, DataLoader
from .fault_aware import FaultAware
from .history import History
from .losses import MSE, CrossEntropy, MeanAbsoluteError, MeanSquaredError
from .optimizers import SGD, Adam, Optimizer
from .progress import progress
from .rmsprop import RMSprop

__all__ = ["Batch", "DataLoader", "FaultAware", "History", "MSE", "MeanSquaredError", "MeanAbsoluteError", "CrossEntropy",
           "SGD", "Adam", "RMSprop",
           "Optimizer", "progress", "Callback", "CSVLogger", "EarlyStopping", "LearningRateScheduler",
           "ModelCheckpoint", "ReduceLROnPlateau", "cosine_decay", "exponential_decay", "step_decay"]
