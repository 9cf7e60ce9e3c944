"""The ``Callback`` base class: the hooks ``fit`` calls, each doing nothing by default."""


class Callback:
    """Base class: every hook does nothing. ``self.model``, ``self.optimizer`` and
    ``self.run_metrics`` (a :class:`~.run_metrics.RunMetrics`, or None when not known) are set by fit."""
    model = None
    optimizer = None
    run_metrics = None

    def set_context(self, model, optimizer):
        self.model, self.optimizer = model, optimizer

    def on_train_begin(self):
        """Before the first epoch (check files here, so a bad path fails before training)."""

    def on_epoch_begin(self, epoch):
        """Before epoch ``epoch`` (0-based)."""

    def on_epoch_end(self, epoch, metrics, model):
        """After epoch ``epoch`` with its metrics; return True to stop training."""
        return False

    def on_train_end(self):
        """After the last epoch, also when training stops early."""
