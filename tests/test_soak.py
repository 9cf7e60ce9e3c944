"""Long runs: 10,000 in-process Ngspice solves grow RSS by less than 30 MB (bench/soak.py)."""
import importlib.util

from conftest import ROOT


def load_soak():
    spec = importlib.util.spec_from_file_location("soak", ROOT / "bench" / "soak.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rss_growth_over_10000_small_network_solves_is_below_30_mb():
    r = load_soak().soak(solves=10000, batch=50)
    assert r["solves"] >= 10000
    assert r["growth_mb"] < 30.0, f"RSS grew by {r['growth_mb']:.1f} MB over {r['solves']} solves"
