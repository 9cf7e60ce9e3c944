"""What the device solver covers, checked once per circuit against its :class:`~ebana.backends.layered.plan.LayeredPlan`.

Covered: dense crossbars (``DenseLayer``) between known nodes and groups or between
two groups whose nodes are their nets (amplifier outputs included); behavioral
diode clamps (``DiodeLayer(kind='behavioral')``) from a group's nets to known nodes
that the exact one-pass clamp solve handles (one clamp per net, or a pair from
above and below); current sources into groups (the outputs' nudging currents).
Anything else raises :class:`NotOnDevice` naming the layer and the reason: the
CPU solvers (``device='cpu'``) solve it.
"""
import numpy as np

from ...errors import ValidationError
from ..layered.plan import FIXED


class NotOnDevice(ValidationError):
    """The circuit holds something the device solver does not solve; the message names it."""


def check_supported(plan):
    """Raise :class:`NotOnDevice` unless the device solver covers every part of ``plan``."""
    for link in plan.links:
        if not link.dense:
            raise NotOnDevice(f"layer {link.owner!r}: sparse conductance blocks (locally connected or pooling "
                              "layers) run on the CPU only; use device='cpu'")
        for side in (link.a, link.b):
            if side.group != FIXED and not side.full:
                raise NotOnDevice(f"layer {link.owner!r}: a crossbar that reaches only part of the nets of "
                                  f"group {plan.groups[side.group].name!r} runs on the CPU only")
    for grp in plan.groups:
        _check_clamps(grp)
        for _, side in grp.currents:
            if not side.full and len(np.unique(side.loc)) < len(side.loc):
                raise NotOnDevice(f"group {grp.name!r}: several current sources into one net run on the CPU only")
    c = plan.circuit
    if c.n_is and np.any(plan.node_group[c.is_node] == FIXED):
        raise NotOnDevice("a current source into a node held by a voltage source runs on the CPU only")


def _check_clamps(grp):
    sets = grp.diodes
    for s in sets:
        if s.behavioral is None:
            raise NotOnDevice(f"group {grp.name!r}: Shockley (SPICE model) diodes run on the CPU only; "
                              "DiodeLayer(kind='behavioral') runs on the device")
        if s.other.group != FIXED or not s.end.identity or not np.all(s.sign == s.sign[0]):
            raise NotOnDevice(f"group {grp.name!r}: a diode between two groups of nets, or on an amplifier "
                              "output, runs on the CPU only")
        if len(s.end.nodes) != len(grp.nets):
            raise NotOnDevice(f"group {grp.name!r}: diodes on only some of its nets run on the CPU only")
    signs = sorted(float(s.sign[0]) for s in sets)
    if len(sets) > 2 or (len(sets) == 2 and signs != [-1.0, 1.0]):
        raise NotOnDevice(f"group {grp.name!r}: more than one clamp per direction on a net runs on the CPU only")
