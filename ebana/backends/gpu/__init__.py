"""The layered native solver on a device (a CUDA GPU through CuPy), behind the same backend interface.

``DeviceLayeredBackend(xp)`` (:mod:`.backend`) solves, with the array namespace
``xp``, the layered circuits the fully connected networks build: dense
crossbars, behavioral diode clamps to known nodes, amplifiers, output current
sources. Everything stays on the device: conductances, known voltages, the
sweeps, the KCL check and the node voltages it returns. Circuits it does not
cover are refused with the reason (:mod:`.support`), never solved differently.
"""
