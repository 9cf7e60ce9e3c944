"""The layered solver's stopping rule (:func:`ebana.backends.layered.sweeps._converged`): on the
error the measured contraction implies, not on the last move alone."""
import numpy as np

from ebana.backends.layered.backend import LayeredBackend
from ebana.backends.layered.sweeps import _converged

BE = LayeredBackend()  # vtol 1e-12 V, product_tol 1e-11 V
SMALL = [np.full((2, 3), 0.5)]  # voltages below 1 V: vtol is absolute
LARGE = [np.full((2, 3), 100.0)]  # 100 V: vtol relative, up to 1000 vtol


def test_first_sweep_takes_its_move_as_the_error():
    assert _converged(0.9 * BE.vtol, 0.0, SMALL, 0.0, BE)
    assert not _converged(1.1 * BE.vtol, 0.0, SMALL, 0.0, BE)


def test_slow_contraction_is_further_from_its_fixed_point_than_its_move():
    move = 0.5 * BE.vtol
    assert _converged(move, move / 0.1, SMALL, 0.0, BE)  # fast: the error is the move
    assert not _converged(move, move / 0.99, SMALL, 0.0, BE)  # rate 0.99: error 99 moves
    assert not _converged(move, move, SMALL, 0.0, BE)  # not contracting: no bound at all


def test_vtol_is_relative_above_one_volt_up_to_a_thousand_times():
    move = 0.5 * BE.vtol
    assert _converged(move, move / 0.99, LARGE, 0.0, BE)  # error 49.5 vtol <= 100 vtol
    assert _converged(20 * BE.vtol, 0.0, LARGE, 0.0, BE)
    huge = [np.full((1, 1), 1e6)]
    assert not _converged(2e3 * BE.vtol, 0.0, huge, 0.0, BE)  # beyond 1000 vtol, whatever the voltages


def test_no_stop_while_products_round_more_than_the_tolerance():
    assert _converged(0.0, 0.0, SMALL, BE.product_tol, BE)
    assert not _converged(0.0, 0.0, SMALL, 1.01 * BE.product_tol, BE)
