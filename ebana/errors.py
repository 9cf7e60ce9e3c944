"""One exception hierarchy for everything ebana raises on purpose."""


class EbanaError(Exception):
    """Base class of every error ebana raises on purpose."""


class GraphError(EbanaError):
    """The layer graph is malformed: a cycle, a dangling layer, a bad name."""


class ShapeError(EbanaError):
    """Shapes disagree: layer widths, batch arrays, saved state."""


class ValidationError(EbanaError, ValueError):
    """A value is out of range or of the wrong kind (a name, a voltage, a file)."""


class SimulatorError(EbanaError):
    """A circuit solve failed.

    Attributes:
        sample: index of the failing sample in its batch, or None.
        output: the simulator's own messages (Ngspice stdout/stderr).
    """

    def __init__(self, message, sample=None, output=""):
        self.sample = sample
        self.output = output
        text = message if sample is None else f"sample {sample}: {message}"
        if output:
            text += "\n--- simulator output ---\n" + output.strip()
        super().__init__(text)


class UnsupportedElementError(SimulatorError):
    """A backend cannot simulate an element of the circuit (e.g. an opaque SPICE block)."""


class DataNotFoundError(EbanaError, FileNotFoundError):
    """A data set's files are in none of the places searched; the message lists them and how to get the files."""
