"""The free and a nudged operating point of a model from the CPU layered solver and from the
device solver (ebana/backends/gpu) with namespace ``xp``, on the same batch: the comparison
tests/test_device_solver.py (NumPy, the strict stand-in) and tests/test_cuda.py (CuPy) make."""
from ebana.backends import Stimulus, make_stimulus
from ebana.backends.gpu.backend import DeviceLayeredBackend
from ebana.backends.layered.backend import LayeredBackend


def cpu_and_device_phases(model, xp, x, nudge):
    """``[(cpu free, device free), (cpu nudged, device nudged)]`` for inputs ``x`` (V) and
    output currents ``nudge`` (A, one row per sample); the device ones hold device arrays."""
    c = model.circuit
    free = make_stimulus(c, model.conductances(), model.source_voltages({"x": x}, len(x)))
    nudged = Stimulus(free.g, free.vs, nudge)
    cpu, dev = LayeredBackend(), DeviceLayeredBackend(xp=xp)

    def on(s):
        return Stimulus(*(xp.asarray(a) for a in (s.g, s.vs, s.isrc)))
    a, b = cpu.solve(c, free), dev.solve(c, on(free))
    a2, b2 = cpu.solve(c, nudged, initial=a.v), dev.solve(c, on(nudged), initial=b.v)
    return [(a, b), (a2, b2)]


def replayed_phases(model, backend, xp, rng, batches=4, batch=24, scale=1.0):
    """The free and nudged phases of ``batches`` batches, each with the conductances perturbed
    afresh, from the CPU layered solver and from ``backend`` (a device solver that replays
    recorded solves after the first of each kind): ``[(cpu op, device op), ...]``."""
    c = model.circuit
    g0, cpu, out = model.conductances(), LayeredBackend(), []
    for _ in range(batches):
        g = g0 * rng.uniform(0.8, 1.2, g0.shape)
        x = scale * rng.uniform(-1, 1, (batch, model.inputs[0].units))
        free = make_stimulus(c, g, model.source_voltages({"x": x}, batch))
        nudged = Stimulus(free.g, free.vs, rng.normal(0, 1e-6 * scale, (batch, c.n_is)))

        def on(s):
            return Stimulus(*(xp.asarray(a) for a in (s.g, s.vs, s.isrc)))
        a, b = cpu.solve(c, free), backend.solve(c, on(free))
        a2, b2 = cpu.solve(c, nudged, initial=a.v), backend.solve(c, on(nudged), initial=b.v)
        out += [(a, b), (a2, b2)]
    return out
