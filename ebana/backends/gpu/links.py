"""The crossbars of a layered circuit with one state of the conductances, on the device.

A :class:`DeviceLink` holds one dense block ``W`` (S, ``(n_a, n_b)``) of the
conductance vector and answers, for either side, the current the other side
drives into its nets: ``sum_j W_ij V_j`` (A), one matrix product per batch and
direction. Between two groups the amplifier gains and offsets of both sides
are folded into the matrices once (``scaled``, ``offset``), as the CPU solver
does: a sweep then costs one product per crossbar and direction.
Units: V, A, S.
"""
import numpy as np

from ..layered.plan import FIXED


class SideOnDevice:
    """A :class:`~ebana.backends.layered.plan.Side` with its index and gain arrays on the device."""

    def __init__(self, side, xp):
        self.side, self.group = side, side.group
        self.loc = xp.asarray(side.loc)
        self.alpha = xp.asarray(side.alpha, dtype=float)
        self.beta = xp.asarray(side.beta, dtype=float)
        self.identity = bool(side.identity)
        # no gain and no offset (inputs, biases): a node is its root, no arithmetic to launch
        self.unit = bool(np.all(side.alpha == 1.0) and np.all(side.beta == 0.0))

    def values(self, v_root, xp):
        """Node voltages (V), ``(B, n)``, from the root voltages (the group's nets or the known nodes)."""
        if self.identity:
            return v_root
        x = v_root if self.side.full else xp.take(v_root, self.loc, axis=1)
        return x if self.unit else x * self.alpha + self.beta


class DeviceLink:
    """``link`` (a :class:`~ebana.backends.layered.plan.Link`, dense) bound to conductances ``g``
    (S, ``(R,)``, on the device); ``index`` holds the plan's arrays on the device."""

    def __init__(self, link, g, index, xp):
        self.link = link
        self.a, self.b = index.sides[id(link.a)], index.sides[id(link.b)]
        na, nb = len(link.a.nodes), len(link.b.nodes)
        self.W = g[index.res[id(link)]].reshape(na, nb)
        self.sums = {"a": self.W.sum(axis=1), "b": self.W.sum(axis=0)}
        self.scaled = self.offset = None
        if link.a.group != FIXED and link.b.group != FIXED:
            self._fold(xp)

    def _fold(self, xp):
        """``scaled[side]``: the matrix mapping the other group's net voltages to the currents into
        ``side``'s nets divided by their gain; ``offset[side]``: the part of that current the
        other side's offsets drive (A, per net), a constant of the bound state."""
        a, b, W = self.a, self.b, self.W
        if a.identity and b.identity:
            self.scaled = {"a": W, "b": W}
            self.offset = {"a": 0.0, "b": 0.0}
            return
        self.scaled = {"a": W * b.alpha[None, :] / a.alpha[:, None],
                       "b": W * a.alpha[:, None] / b.alpha[None, :]}
        self.offset = {"a": (W @ b.beta) / a.alpha, "b": (a.beta @ W) / b.alpha}

    def mine_other(self, name):
        return (self.a, self.b) if name == "a" else (self.b, self.a)

    def from_nets(self, name, v_other):
        """Currents (A) into ``name``'s nets, divided by their gain, from the other group's net
        voltages ``v_other`` (V), without ``offset``."""
        return v_other @ self.scaled["a"].T if name == "a" else v_other @ self.scaled["b"]

    def toward(self, name, u_other):
        """``sum_j W_ij u_j`` (A) for every node of side ``name``, from the other side's node voltages (V)."""
        return u_other @ self.W.T if name == "a" else u_other @ self.W
