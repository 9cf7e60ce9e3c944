"""Training steps on a Dask cluster (LocalCluster) give the serial result.

dask[distributed] is in the test extras, so this runs wherever the tests do (never skipped)."""
import distributed
import numpy as np

from ebana.backends import ParallelBackend
from ebana.training import MSE
from ebana.training.ep import ep_step
from networks import mlp_64_32_20, mlp_inputs


def test_ep_steps_on_a_local_dask_cluster_match_serial(rng):
    batch = mlp_inputs(6, rng)
    batch["out"] = rng.uniform(-0.2, 0.2, (6, 20))
    serial = mlp_64_32_20("ngspice")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        model = mlp_64_32_20(ParallelBackend("ngspice", executor=client.get_executor(), workers=2))
        for step in range(2):  # the second step finds the circuit in the workers and ships only new weights
            a = ep_step(serial, batch, MSE(), 1e-6)
            b = ep_step(model, batch, MSE(), 1e-6)
            np.testing.assert_array_equal(a.v_free, b.v_free)
            np.testing.assert_array_equal(a.v_nudged, b.v_nudged)
            for m in (serial, model):
                m.layer("d1").g *= 1.01
