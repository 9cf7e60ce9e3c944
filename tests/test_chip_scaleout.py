"""The chip study scaled out: process pools and a Dask cluster give the in-process result bit for bit,
a killed Dask worker costs time but no chip, and an interrupted study resumes from its HDF5 file.

dask[distributed] is in the test extras, so the cluster tests run wherever the tests do."""
import multiprocessing
import os
import re
import signal
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager

import distributed
import h5py
import numpy as np
import pytest

from conftest import ROOT
from ebana.analysis.chip_tasks import ChipStudy, build_payload, run_chip
from ebana.analysis.chips import chip_conductances, chip_seed, prepare_batches
from ebana.analysis.robustness import RobustnessResult
from ebana.devices import Variability
from ebana.errors import ValidationError
from ebana.networks import clamped_mlp
from ebana.training import MSE

rng = np.random.default_rng(0)
X = rng.uniform(-0.5, 0.5, (60, 4))                               # V
DATA = {"x": X, "out": np.where(X[:, :1] > 0, [[0.1, -0.1]], [[-0.1, 0.1]])}  # V, two classes
SIGMAS = [0.0, 0.3, 0.8]
KW = dict(sigmas=SIGMAS, chips=4, seed=7, loss_fn=MSE(), verbose=False)
JOBS = 1 + 2 * 4  # chips solved: one at sigma 0 (every chip there is the nominal network), 4 at each other sigma


def model(scale=1.0):
    m = clamped_mlp(4, 8, 2, backend="native", seed=1)
    m.layer("d1").g *= scale
    return m


@pytest.fixture(scope="module")
def reference():
    """The in-process study every other run must reproduce."""
    return model().evaluate_robustness(DATA, **KW)


@contextmanager
def deadline(seconds):
    """Fail (not hang) when a cluster test runs past ``seconds``."""
    def expire(*_):
        raise TimeoutError(f"cluster test ran past {seconds} s")
    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


class Count:
    """A callback that records each (sigma index, chip) it is told about."""

    def __init__(self, stop_after=None):
        self.seen, self.stop_after = [], stop_after

    def __call__(self, i, c, accuracy):
        self.seen.append((i, c))
        if self.stop_after is not None and len(self.seen) >= self.stop_after:
            raise KeyboardInterrupt


def test_the_chips_of_a_study_do_not_depend_on_the_study_or_on_the_order_of_tasks(reference):
    fewer = model().evaluate_robustness(DATA, **{**KW, "chips": 2})
    np.testing.assert_array_equal(fewer.accuracy, reference.accuracy[:, :2])
    m = model()
    payload = build_payload(m, "native", MSE(), prepare_batches(m, DATA, 256))
    study = ChipStudy(tuple(SIGMAS), 4, 7, "gaussian")
    jobs = study.jobs()
    got = np.full(reference.accuracy.shape, np.nan)
    for k in np.random.default_rng(3).permutation(len(jobs)):  # shuffled, in a worker's cache
        i, c = jobs[k]
        [(_, _, got[i, c])] = run_chip(payload, study, c, [i])
    study.fill(got)
    np.testing.assert_array_equal(got, reference.accuracy)
    assert len(set(reference.accuracy[2])) > 1  # the chips differ: the comparison means something


def test_thread_and_process_pools_give_the_in_process_result(reference):
    with ThreadPoolExecutor(2) as threads:
        in_threads = model().evaluate_robustness(DATA, executor=threads, **KW)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        in_processes = model().evaluate_robustness(DATA, executor=pool, **KW)
        spice_here = model().evaluate_robustness(DATA, backend="ngspice", **{**KW, "chips": 2})
        spice_there = model().evaluate_robustness(DATA, backend="ngspice", executor=pool, **{**KW, "chips": 2})
    for res in (in_threads, in_processes):
        np.testing.assert_array_equal(res.accuracy, reference.accuracy)
        assert res.backend == reference.backend and res.seed == 7
    np.testing.assert_array_equal(spice_there.accuracy, spice_here.accuracy)  # the Ngspice re-check, scaled out


def test_ngspice_chips_on_threads_take_turns_on_the_one_library():
    here = model().evaluate_robustness(DATA, backend="ngspice", **{**KW, "chips": 2})
    with ThreadPoolExecutor(3) as threads:
        there = model().evaluate_robustness(DATA, backend="ngspice", executor=threads, **{**KW, "chips": 2})
    np.testing.assert_array_equal(there.accuracy, here.accuracy)


def chips_run_twice(dask_scheduler):
    """Chip tasks the scheduler started more than once: those running on a worker that died, or
    finished there and lost with it (the study still holds them, so they are computed again)."""
    starts = {}
    for key, start, finish, *_ in dask_scheduler.transition_log:
        if str(key).startswith("ebana-chip") and finish == "processing" and start != "processing":
            starts[key] = starts.get(key, 0) + 1
    return sum(1 for n in starts.values() if n > 1)


def test_a_dask_cluster_gives_the_same_chips_and_survives_a_killed_worker():
    kw = {**KW, "chips": 30}  # 90 chips: the killed worker still holds some
    reference = model().evaluate_robustness(DATA, **kw)
    with deadline(120), distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                                 dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        plain = model().evaluate_robustness(DATA, executor=client, **kw)
        np.testing.assert_array_equal(plain.accuracy, reference.accuracy)
        pids = client.run(os.getpid)
        victim = sorted(pids.values())[0]
        killed = []

        def kill_once(i, c, accuracy):
            seen.append((i, c))
            if not killed:
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)
        seen = []
        survived = model().evaluate_robustness(DATA, executor=client, callback=kill_once, **kw)
        assert victim not in client.run(os.getpid).values()  # the worker did die (its nanny started another)
        assert client.run_on_scheduler(chips_run_twice) >= 1  # ... holding chips: they ran again elsewhere
    np.testing.assert_array_equal(survived.accuracy, reference.accuracy)
    every = sorted(ChipStudy(tuple(SIGMAS), kw["chips"], kw["seed"], "gaussian").jobs())
    assert sorted(seen) == every  # every chip exactly once: none lost, none counted twice


def test_an_interrupted_study_resumes_from_its_file_without_recomputing(tmp_path, reference):
    path = tmp_path / "rob.h5"
    RobustnessResult(np.array([1.0]), np.ones((1, 2)), "gaussian", 0, "x").save(path, "other")
    with pytest.raises(KeyboardInterrupt):
        model().evaluate_robustness(DATA, path=path, callback=Count(stop_after=3), **KW)
    with pytest.raises(ValidationError, match=r"unfinished study 'model' \(3 of 12 chips\)"):
        RobustnessResult.load(path)
    rest = Count()
    with ThreadPoolExecutor(2) as threads:  # resumed elsewhere: a chip is the same chip anywhere
        done = model().evaluate_robustness(DATA, path=path, callback=rest, executor=threads, **KW)
    assert len(rest.seen) == JOBS - 3 and len(set(rest.seen)) == JOBS - 3
    np.testing.assert_array_equal(done.accuracy, reference.accuracy)
    np.testing.assert_array_equal(RobustnessResult.load(path).accuracy, reference.accuracy)
    with h5py.File(path, "r") as f:
        assert "_partial" not in f and "other" in f  # finished: no partial left, other groups kept
    again = Count()
    model().evaluate_robustness(DATA, path=path, callback=again, **KW)  # a finished study runs again
    assert len(again.seen) == JOBS


def test_a_study_interrupted_here_resumes_in_a_fresh_process(tmp_path, reference):
    path = tmp_path / "rob.h5"
    with pytest.raises(KeyboardInterrupt):
        model().evaluate_robustness(DATA, path=path, callback=Count(stop_after=4), **KW)
    script = ("import test_chip_scaleout as t; n = t.Count(); "
              f"t.model().evaluate_robustness(t.DATA, path={str(path)!r}, callback=n, **t.KW); print(len(n.seen))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]), OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == str(JOBS - 4)  # the study's identity is the same in another process
    np.testing.assert_array_equal(RobustnessResult.load(path).accuracy, reference.accuracy)


def test_a_partial_study_of_other_weights_is_not_resumed(tmp_path):
    path = tmp_path / "rob.h5"
    with pytest.raises(KeyboardInterrupt):
        model().evaluate_robustness(DATA, path=path, callback=Count(stop_after=5), **KW)
    fresh = Count()
    with pytest.warns(RuntimeWarning, match="unfinished study 'model' with other weights; it is not resumed"):
        res = model(scale=1.5).evaluate_robustness(DATA, path=path, callback=fresh, **KW)
    assert len(fresh.seen) == JOBS
    np.testing.assert_array_equal(res.accuracy, model(scale=1.5).evaluate_robustness(DATA, **KW).accuracy)
    with pytest.raises(KeyboardInterrupt):
        model().evaluate_robustness(DATA, path=path, callback=Count(stop_after=2), **{**KW, "kind": "folded"})
    with pytest.warns(RuntimeWarning, match="with other kind; it is not resumed"):
        model().evaluate_robustness(DATA, path=path, **KW)


def test_the_wall_time_script_checks_every_run_against_the_in_process_study():
    """test_circuit/chips_scaleout.py shortened: untrained, 2 chips per sigma, 2 workers."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")
    run = subprocess.run([sys.executable, str(ROOT / "test_circuit" / "chips_scaleout.py"), "--epochs", "0",
                          "--chips", "2", "--hidden", "8", "--workers", "2"],
                         capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    for where in ("in this process | 1", "ProcessPoolExecutor | 2", "Dask LocalCluster | 2"):
        assert re.search(rf"\| {where} \| [0-9.]+ \| [0-9]+ \| 10 of 10 \|", run.stdout), run.stdout


def test_files_written_before_resumable_studies_still_load(tmp_path):
    path = tmp_path / "old.h5"
    with h5py.File(path, "w") as f:  # the layout RobustnessResult.save wrote before this change
        f.attrs["format"], f.attrs["version"] = "ebana-robustness", 1
        grp = f.create_group("model")
        grp.create_dataset("sigmas", data=[0.0, 0.5])
        grp.create_dataset("accuracy", data=[[0.9, 0.9], [0.7, 0.8]])
        grp.attrs.update({"kind": "gaussian", "seed": 3, "backend": "native", "chips": 2})
    old = RobustnessResult.load(path)
    assert old.seed == 3 and old.accuracy.shape == (2, 2)


@pytest.mark.parametrize("options, match", [
    (dict(sigmas=float("nan")), "sigmas must be finite"),
    (dict(sigmas=-0.1), r"sigmas must lie in \[0.0, inf\], received -0.1"),
    (dict(sigmas=[0.1, float("nan")]), r"sigmas\[1\] must be finite"),
    (dict(sigmas="0.3"), "sigmas must be numbers"),
    (dict(seed=-1), "seed must be an int >= 0"),
    (dict(kind="uniform"), "kind"),
    (dict(executor=object()), "executor must be a concurrent.futures.Executor or a dask.distributed.Client"),
    (dict(callback=3), "callback must be callable"),
    (dict(path="r.h5", name="_partial"), "outside '_partial' \\(the group of unfinished studies\\)"),
])
def test_bad_study_arguments_are_named(options, match):
    with pytest.raises(ValidationError, match=match):
        model().evaluate_robustness(DATA, **{**KW, **options})


def test_an_executor_needs_the_backend_by_name():
    m = model()
    with ThreadPoolExecutor(1) as threads, pytest.raises(ValidationError, match="needs the backend by name"):
        m.evaluate_robustness(DATA, backend=m.backend, executor=threads, **KW)


@pytest.mark.parametrize("kind", ["gaussian", "folded", "lognormal", "additive"])
def test_a_study_solves_one_chip_at_sigma_zero_because_every_chip_there_is_the_nominal_network(kind):
    m = model()
    nominal = np.concatenate([layer.g.ravel() for layer in m.resistive_layers])
    zero = Variability(kind=kind, sigma=0.0, scope="chip")
    for seed in (chip_seed(7, 0), chip_seed(7, 3)):
        np.testing.assert_array_equal(chip_conductances(m, zero, seed), nominal)
    study = ChipStudy((0.0, 0.3), 4, 7, kind)
    assert study.jobs() == [(0, 0), (1, 0), (1, 1), (1, 2), (1, 3)]
    seen = Count()
    res = m.evaluate_robustness(DATA, **{**KW, "sigmas": [0.0, 0.3], "kind": kind, "callback": seen})
    assert seen.seen == study.jobs()  # sigma 0 solved once, its accuracy given to every chip
    assert np.all(res.accuracy[0] == res.accuracy[0, 0]) and not np.isnan(res.accuracy).any()
