"""Memristors trained in situ on the Fashion-MNIST circuit: every update is a train of SET/RESET pulses.

Run:  python test_circuit/fashion_memristors.py [--quick] [--epochs N] [--hidden N] [--train N] [--test N]
          [--device-file PATH] [--c2c X] [--d2d X] [--max-pulses N] [--lr S] [--clamp V] [--gain X]
          [--ngspice-check N] [--ideal [wide|window]] [--out DIR]

The network is the Fashion-MNIST example's ``dense`` circuit (``clamped_mlp``
1568-``--hidden``-20: 784 pixels as differential pairs and a +-1 V bias pair ->
hidden nets clamped to +-``--clamp`` V -> amplifiers of ``--gain`` -> 10 differential
output pairs, targets +-``--target`` V) with every crossbar a
:class:`~ebana.layers.MemristorDenseLayer`: the devices follow the measured pulse
curve of ``SP291D1NR100.dat`` (``--device-file``; its fit
:class:`~ebana.devices.SP291D1NR100Fit` when the file is absent: 454.5 -> 520.2 nS
over 50 SET pulses), with cycle-to-cycle programming noise ``--c2c`` (relative to
the swing; 0.09 measured) and device-to-device shifts ``--d2d``. Adam asks for
conductances; each device then gets at most ``--max-pulses`` pulses per update
towards them, and the circuit only ever sees what the devices reach (a device
at the end of its curve saturates, never extrapolates). Requested changes smaller
than a pulse add up between updates (``accumulate``). The differential input pairs
cancel the devices' common 454 nS, so the weights are the differences; each
crossbar still divides its signal by that common conductance (a swing of 1.14):
the hidden nets reach only millivolts (median 2.1 mV), so their clamps sit at +-2.5 mV
(the example's +-0.1 V were never reached: the hidden layer stayed linear) and amplifiers of
800 restore a 2 V swing; targets are +-5 mV (the deep resistive network,
without amplifiers, stays at chance on this device).
``--ideal`` trains the same circuit with ideal conductances, for comparison (``--ideal window``:
continuous conductances within the device curve's 454.5 .. 532.2 nS, no pulses, no noise).

Reports test accuracy, training pulses per device (median and maximum: endurance),
the programming energy (pulses x the file's measured pulse energy, mean ``V * I``
of its 2 V pulses times their 1 ms), and re-solves ``--ngspice-check`` test images
in Ngspice with the final conductances (predictions must be identical). Writes
``OUT/results.json``, ``OUT/history.h5`` and ``OUT/weights.pkl``.
Default: 10 epochs on all 60,000 images (80 s per epoch on 2 cores) and 500 images re-solved in
Ngspice (about 2.2 s each on two processes: 18 min; ``--check-only`` re-runs the check of a
saved run); ``--quick``:
32 hidden nets, 2,000 training and 500 test images, 1 epoch (under a minute).
"""
import argparse
import json
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import fashion_mnist as fm  # noqa: E402  (inputs and targets as the training example makes them)

from ebana import (AmplificationLayer, BiasVoltageLayer, ConcatenateLayer, CurrentLayer, DiodeLayer,  # noqa: E402
                   InputVoltageLayer, Model)
from ebana.datasets import load_fashion_mnist  # noqa: E402
from ebana.devices import DeviceVariation, SP291D1NR100Fit, TabulatedMemristor  # noqa: E402
from ebana.devices.memristor_data import load_pulse_curve  # noqa: E402
from ebana.layers import MemristorDenseLayer  # noqa: E402
from ebana.datasets import one_hot  # noqa: E402
from ebana.networks import clamped_mlp  # noqa: E402
from ebana.training import MSE, Adam, DataLoader  # noqa: E402

DEVICE_FILE = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "SP291D1NR100.dat"


def memristor_network(hidden, device, variation, max_pulses, seed, gain, clamp, accumulate=True):
    """``clamped_mlp(1568, hidden, 10, clamp=clamp, gain=gain)`` with memristor crossbars (same layer names
    and circuit)."""
    x = InputVoltageLayer(units=2 * fm.N_PIXELS, name="x")
    b = BiasVoltageLayer(units=2, name="b", bias_voltage=[1.0, -1.0])
    crossbar = dict(device=device, variation=variation, max_pulses=max_pulses, accumulate=accumulate)
    h = MemristorDenseLayer(units=hidden, name="d1", **crossbar)(ConcatenateLayer(name="j")([x, b]))
    h = DiodeLayer(name="c1", direction="down", bias_voltage=clamp)(h)
    h = DiodeLayer(name="c2", direction="up", bias_voltage=-clamp)(h)
    h = AmplificationLayer(name="a1", param={"gain": gain})(h)
    out = CurrentLayer(name="out", fold=True)(MemristorDenseLayer(units=2 * fm.N_CLASSES, name="d2", **crossbar)(h))
    return Model(inputs=[x, b], outputs=[out], backend="native", seed=seed)


def ideal_network(args, window=None):
    """The same circuit with ideal conductances, for comparison: continuous within ``window``
    (``(g_lo, g_hi)`` in S, the device's curve) or, by default, the example's ``dense`` range."""
    g_min, g_max, init = (1e-9, 2e-6, ("uniform", 1e-8, 1e-6)) if window is None else (*window, ("uniform", *window))
    return clamped_mlp(2 * fm.N_PIXELS, args.hidden, fm.N_CLASSES, clamp=args.clamp, gain=args.gain, g_min=g_min,
                       g_max=g_max, initializer=init, backend="native", seed=args.seed)


def device_model(args):
    """The pulse curve (measured when the file is there) and the pulse energy (J, or None)."""
    path = pathlib.Path(args.device_file)
    if path.is_file():
        curve = load_pulse_curve(path)
        return TabulatedMemristor(curve.conductance, c2c=args.c2c, source=str(path)), curve.pulse_energy
    print(f"fashion-memristors: {path} absent, using its fit SP291D1NR100Fit (no pulse energy)")
    return SP291D1NR100Fit(c2c=args.c2c), None


def train_ideal(args, x_train, y_train, x_test, labels):
    """The comparison run: ideal conductances, the same circuit, targets and epochs (Adam ``--lr``);
    with ``--ideal window``, within the device curve's conductances."""
    curve = device_model(args)[0].curve()
    model = ideal_network(args, (float(curve.min()), float(curve.max())) if args.ideal == "window" else None)
    start = time.perf_counter()
    model.fit(DataLoader({"x": x_train, "out": y_train}, batch_size=args.batch_size, shuffle=True, seed=args.seed),
              epochs=args.epochs, loss_fn=MSE(), optimizer=Adam(lr=args.lr), beta=args.beta, symmetric=True, verbose=2)
    accuracy = float(np.mean(np.argmax(model.predict({"x": x_test})["out"], axis=1) == labels))
    print(f"fashion-memristors (ideal conductances): test accuracy {accuracy:.4f} after {args.epochs} epochs "
          f"({time.perf_counter() - start:.0f} s)")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"ideal_{args.ideal}.json").write_text(json.dumps({"test_accuracy": accuracy, "epochs": args.epochs,
                                                             "settings": {k: v for k, v in vars(args).items()}}))
    return {"test_accuracy": accuracy}


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small CI run")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default 10; quick 1)")
    p.add_argument("--hidden", type=int, default=None, help="hidden nets (default 1024; quick 32)")
    p.add_argument("--train", type=int, default=None)
    p.add_argument("--test", type=int, default=None)
    p.add_argument("--device-file", default=str(DEVICE_FILE), help="measured pulse curve (.dat or .csv)")
    p.add_argument("--c2c", type=float, default=0.09, help="cycle-to-cycle noise, relative to the swing")
    p.add_argument("--d2d", type=float, default=0.05, help="device-to-device shift spread (relative)")
    p.add_argument("--max-pulses", type=int, default=1, help="pulses per device per update")
    p.add_argument("--lr", type=float, default=None, help="Adam step (S; default 2e-9, --ideal: 5e-8)")
    p.add_argument("--beta", type=float, default=1e-8, help="nudging (S)")
    p.add_argument("--gain", type=float, default=800.0, help="hidden amplifiers' gain (V/V)")
    p.add_argument("--clamp", type=float, default=0.0025,
                   help="the hidden nets' two-sided diode clamps, +-V: within what the first crossbar can "
                        "reach, a few mV on this device (clamp x gain is the hidden swing, 2 V)")
    p.add_argument("--target", type=float, default=0.005, help="output targets +-V (differential pairs)")
    p.add_argument("--ideal", nargs="?", const="wide", choices=("wide", "window"), default=None,
                   help="the same circuit with ideal conductances, for comparison: 'wide' (the default) in the "
                        "example's 1e-9 .. 2e-6 S, 'window' continuous within the device curve's conductances")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--ngspice-check", type=int, default=None, help="test images re-solved (default 500; quick 50)")
    p.add_argument("--check-only", action="store_true",
                   help="no training: re-solve --ngspice-check test images of the run saved in --out in Ngspice "
                        "(its circuit as results.json records it)")
    p.add_argument("--data", default=None, help="folder of the Fashion-MNIST IDX files")
    p.add_argument("--out", default=None, help="output folder (default results/fashion_memristors[_quick])")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    quick = dict(epochs=1, hidden=32, train=2000, test=500, ngspice_check=50)
    full = dict(epochs=10, hidden=1024, train=60000, test=10000, ngspice_check=500)
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.lr is None:
        args.lr = 5e-8 if args.ideal == "wide" else 2e-9
    if args.hidden < 2 or args.hidden % 2:
        p.error("--hidden must be even (two halves)")
    for name in ("clamp", "gain", "lr"):
        if not getattr(args, name) > 0:  # NaN fails too
            p.error(f"--{name} must be > 0, received {getattr(args, name)}")
    args.out = args.out or f"results/fashion_memristors{'_quick' if args.quick else ''}"
    return args


def ngspice_stage(args, model, x_test, readouts, out, result):
    """Re-solve the first ``--ngspice-check`` test images in Ngspice with the devices' conductances
    (``OUT/weights.pkl``: the example's check, an Ngspice copy of the model from its config) and
    record it in ``OUT/results.json``."""
    n_check = min(args.ngspice_check, args.test)
    same, diff, seconds = fm.ngspice_check(model, out / "weights.pkl", x_test[:n_check], readouts[:n_check],
                                           workers=2) if n_check else (0, 0.0, 0.0)
    result["ngspice"] = {"images": n_check, "identical": same, "max_readout_difference_V": diff, "seconds": seconds}
    (out / "results.json").write_text(json.dumps(result, indent=1))
    print(f"ngspice: {same}/{n_check} predictions identical, worst readout difference {diff:.3g} V ({seconds:.0f} s)")
    return result


def check_only(args, device, x_test):
    """``--check-only``: the Ngspice check of the run saved in OUT, without training."""
    out = pathlib.Path(args.out)
    if not (out / "weights.pkl").is_file() or not (out / "results.json").is_file():
        raise SystemExit(f"fashion-memristors: --check-only needs a run in {out} (weights.pkl, results.json)")
    result = json.loads((out / "results.json").read_text())
    for key in ("hidden", "d2d", "max_pulses", "seed", "gain", "clamp"):  # the circuit the run trained
        setattr(args, key, result["settings"][key])
    model = memristor_network(args.hidden, device, DeviceVariation(shift_d2d=args.d2d), args.max_pulses, args.seed,
                              args.gain, args.clamp)
    model.load_weights(out / "weights.pkl")  # refused with the layer named when the circuit differs
    n_check = min(args.ngspice_check, args.test)
    return ngspice_stage(args, model, x_test, model.predict({"x": x_test[:n_check]})["out"], out, result)


def main(argv=None):
    args = parse(argv)
    (tr, trl), (te, tel) = load_fashion_mnist(args.data)
    x_train, x_test = (fm.to_inputs(i, "dense") for i in (tr[:args.train], te[:args.test]))
    y_train = one_hot(trl[:args.train], fm.N_CLASSES, on=args.target, off=-args.target)
    if args.ideal:
        return train_ideal(args, x_train, y_train, x_test, tel[:args.test])
    device, energy = device_model(args)
    if args.check_only:
        return check_only(args, device, x_test)
    model = memristor_network(args.hidden, device, DeviceVariation(shift_d2d=args.d2d), args.max_pulses, args.seed,
                              args.gain, args.clamp)
    start = time.perf_counter()
    history = model.fit(DataLoader({"x": x_train, "out": y_train}, batch_size=args.batch_size, shuffle=True,
                                   seed=args.seed), epochs=args.epochs, loss_fn=MSE(), optimizer=Adam(lr=args.lr),
                        beta=args.beta, symmetric=True, verbose=2)
    seconds = time.perf_counter() - start
    readouts = model.predict({"x": x_test})["out"]
    accuracy = float(np.mean(np.argmax(readouts, axis=1) == tel[:args.test]))
    layers = [model.layer(n) for n in ("d1", "d2")]
    pulses = np.concatenate([layer.training_pulses().ravel() for layer in layers])
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"test_accuracy": accuracy, "epochs": args.epochs, "train_seconds": seconds,
              "pulses_per_device": {"median": int(np.median(pulses)), "max": int(pulses.max()),
                                    "mean": float(pulses.mean()), "total": int(pulses.sum())},
              "saturated_pulses": int(sum(layer.array.saturated - layer.initial_saturated for layer in layers)),
              "pulse_energy_J": energy, "programming_energy_J": None if energy is None else float(pulses.sum() * energy),
              "ngspice": None, "settings": {k: v for k, v in vars(args).items() if k not in ("out",)}}
    # the trained model and its figures are saved before the Ngspice check, which may take long or fail
    model.save_weights(out / "weights.pkl")
    history.save(out / "history.h5")
    (out / "results.json").write_text(json.dumps(result, indent=1))
    print(f"fashion-memristors: test accuracy {accuracy:.4f} after {args.epochs} epochs ({seconds:.0f} s); "
          f"training pulses per device: median {result['pulses_per_device']['median']}, "
          f"max {result['pulses_per_device']['max']}; programming energy "
          + ("n/a" if energy is None else f"{result['programming_energy_J']:.3g} J ({energy:.3g} J per pulse)"),
          flush=True)
    return ngspice_stage(args, model, x_test, readouts, out, result)


if __name__ == "__main__":
    main()
