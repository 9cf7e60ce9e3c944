"""Old import paths of modules that moved when the package was laid out by job.

``import ebana.backends.native_layered`` (and every other path listed in
:data:`MOVED`) still works: a finder on ``sys.meta_path`` answers the old name
with the module at its new place (the same module object, so classes and
state are shared) and warns once with :class:`DeprecationWarning`.
"""
import importlib
import importlib.abc
import importlib.util
import sys
import warnings

#: old module path -> new module path
MOVED = {
    "ebana.graph": "ebana.model.graph",
    "ebana.model_config": "ebana.model.config",
    "ebana.noise": "ebana.model.noise",
    "ebana.probes": "ebana.model.probes",
    "ebana.power": "ebana.analysis.power",
    "ebana.robustness": "ebana.analysis.robustness",
    "ebana.diagnostics": "ebana.analysis.diagnostics",
    "ebana.image_networks": "ebana.networks.locally_connected",
    "ebana.image_plots": "ebana.plots.images",
    "ebana.training.checkpoint": "ebana.saving.checkpoint",
    "ebana.training.optimizer_state": "ebana.saving.optimizer_state",
    "ebana.training.run_settings": "ebana.saving.run_settings",
    "ebana.backends.native": "ebana.backends.dense.backend",
    "ebana.backends.native_plan": "ebana.backends.dense.plan",
    "ebana.backends.native_linear": "ebana.backends.dense.linear",
    "ebana.backends.native_devices": "ebana.backends.junctions",
    "ebana.backends.native_auto": "ebana.backends.auto",
    "ebana.backends.native_layered": "ebana.backends.layered.backend",
    "ebana.backends.layered_anderson": "ebana.backends.layered.anderson",
    "ebana.backends.layered_clamps": "ebana.backends.layered.clamps",
    "ebana.backends.layered_kernels": "ebana.backends.layered.kernels",
    "ebana.backends.layered_links": "ebana.backends.layered.links",
    "ebana.backends.layered_plan": "ebana.backends.layered.plan",
    "ebana.backends.layered_precision": "ebana.backends.layered.precision",
    "ebana.backends.layered_sweeps": "ebana.backends.layered.sweeps",
    "ebana.backends.ngspice_fold": "ebana.backends.ngspice.fold",
    "ebana.backends.ngspice_library": "ebana.backends.ngspice.library",
    "ebana.circuit.circuit": "ebana.circuit.structure",
}


class _Alias(importlib.abc.Loader):
    def __init__(self, new):
        self.new = new

    def create_module(self, spec):
        warnings.warn(f"{spec.name} moved to {self.new}; import it from there", DeprecationWarning, stacklevel=2)
        return importlib.import_module(self.new)

    def exec_module(self, module):
        pass  # the module at its new place is already executed


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Answers an old module path with the module at its new place."""

    def find_spec(self, fullname, path=None, target=None):
        new = MOVED.get(fullname)
        if new is None:
            return None
        return importlib.util.spec_from_loader(fullname, _Alias(new))


def install():
    """Put the finder on ``sys.meta_path`` once."""
    if not any(isinstance(f, MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
