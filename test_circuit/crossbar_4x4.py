"""In-situ training of the 4x4 memristor crossbar, solved in Ngspice.

1. Trains 100 chips (device-to-device draws) and prints the convergence rate,
   the distribution of epochs to converge and the predictions on the 10
   unseen patterns.
2. Retrains the slowest converged chip (and the first failed one, if any) and
   saves its plots (conductances, weights, activations with the target band,
   error) to ``results/crossbar_4x4/chip/`` (``failed_chip/``).
3. Shows the effect of wire resistance (IR drop) on that chip's column currents.
4. Repeats the statistics for the reference rule (no hinge), 10 kOhm wire
   segments and SET+RESET updates, for comparison.

The device is the measured curve ``../shared/data/SP291D1NR100.dat`` when the
file is present, else the parametric fit to it (``SP291D1NR100Fit``).

Run:  .venv/bin/python test_circuit/crossbar_4x4.py [--chips 100] [--seed 0] [--device auto|measured|fit]
"""
import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ebana.crossbar import InSituTrainer, TrainerConfig, pattern_names, training_set, unseen_patterns  # noqa: E402
from ebana.crossbar.circuit import shared_backend  # noqa: E402
from ebana.crossbar.plots import plot_epochs_histogram, plot_wire_effect, save_training_plots  # noqa: E402
from ebana.crossbar.statistics import chip_statistics  # noqa: E402
from ebana.crossbar.wires import wire_resistance_effect  # noqa: E402
from ebana.devices import DeviceVariation, SP291D1NR100Fit, TabulatedMemristor  # noqa: E402

MEASURED = ROOT.parent / "shared" / "data" / "SP291D1NR100.dat"


def pick_device(choice):
    if choice == "fit" or (choice == "auto" and not MEASURED.is_file()):
        return SP291D1NR100Fit(), "parametric fit SP291D1NR100Fit"
    if not MEASURED.is_file():
        sys.exit(f"--device measured: {MEASURED} is not there")
    return TabulatedMemristor.from_file(MEASURED), f"measured table {MEASURED.name}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chips", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", choices=("auto", "measured", "fit"), default="auto")
    ap.add_argument("--out", default=str(ROOT / "results" / "crossbar_4x4"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device, device_name = pick_device(args.device)
    variation, config = DeviceVariation(), TrainerConfig()
    backend = shared_backend()  # one libngspice per process: every chip shares it
    x, y = training_set()
    print(f"device: {device_name}; {variation}\n{config}\n")

    # 1. Statistics over chips (chip i is drawn from SeedSequence(seed).spawn(n)[i]).
    print(f"{args.chips} chips, default parameters:")
    stats = chip_statistics(args.chips, args.seed, device, variation, config, backend=backend)
    print(stats.summary())
    ax = plot_epochs_histogram(stats)
    ax.figure.savefig(out / "epochs_histogram.png", dpi=100)
    paths = [out / "epochs_histogram.png"]

    # 2. The slowest converged chip (the most epochs to look at) with plots, and
    # the first chip that failed (if any) for contrast.
    seeds = np.random.SeedSequence(args.seed).spawn(args.chips)
    picks = [("chip", int(np.argmax(stats.epochs)))] if stats.converged.any() else []
    if not stats.converged.all():
        picks.append(("failed_chip", int(np.argmin(stats.converged))))
    chip = None
    for folder, index in picks:
        trained = InSituTrainer(device, variation, config, seed=seeds[index], backend=backend)
        history = trained.fit(x, y)
        status = (f"converged after {history.epochs_to_converge} epochs" if history.converged
                  else f"did not converge in {config.epochs} epochs")
        print(f"\nchip {index}: {status}; saturated pulses {trained.devices.saturated}")
        for name, f in zip(pattern_names(x), history.activation[-1]):
            print(f"  train {name}: activations {np.array2string(f, precision=3)}")
        for name, f in zip(pattern_names(unseen_patterns()), trained.predict(unseen_patterns())):
            print(f"  unseen {name}: activations {np.array2string(f, precision=3)}")
        paths += save_training_plots(history, x, out / folder)
        chip = trained if chip is None else chip

    # 3. Wire resistance: the trained chip's column currents against the ideal V @ G.
    effect = wire_resistance_effect(chip.devices.conductance, chip.voltages(x),
                                    [0.0, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5], backend=backend)
    print("\nwire resistance (trained chip, 6 training patterns):\n" + effect.table())
    ax = plot_wire_effect(effect)
    ax.figure.savefig(out / "wire_resistance.png", dpi=100)
    paths.append(out / "wire_resistance.png")

    print()
    for label, cfg in (("reference rule (hinge=False: deltas pull outputs back to +-target)",
                        replace(config, hinge=False)),
                       ("wire resistance 10 kOhm per segment", replace(config, r_wire=1e4)),
                       ("SET and RESET pulses (update='both')", replace(config, update="both"))):
        other = chip_statistics(args.chips, args.seed, device, variation, cfg, backend=backend, progress=False)
        print(f"{label}: {100 * other.convergence_rate:.0f} % converged, median epochs "
              f"{other.epoch_quantiles([0.5])[0]:g}, {other.runtime_s:.1f} s")

    print("\nplots: " + ", ".join(str(p) for p in paths))
    print(f"\nconvergence rate over {stats.n_chips} chips: {100 * stats.convergence_rate:.0f} % "
          f"within {config.epochs} epochs ({device_name})")
    return stats


if __name__ == "__main__":
    main()
