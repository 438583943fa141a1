"""Report figures: intervals clipped to the accuracy range, runs as points when n < 3, generic solvers flagged."""
import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from qbnn.figures.accuracy import plot_accuracy
from qbnn import solver_registry
from qbnn.report import MIN_RUNS_FOR_INTERVAL, clipped_yerr, is_generic_solver, summarise_variants, variant_label


@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 5)), min_size=1, max_size=20))
def test_clipped_intervals_stay_in_unit_range_and_are_otherwise_unchanged(pairs):
    mean, h = map(np.array, zip(*pairs))
    lo, hi = clipped_yerr(mean, h)
    assert np.all(mean - lo >= -1e-12) and np.all(mean + hi <= 1 + 1e-12)
    assert np.all(lo <= h + 1e-12) and np.all(hi <= h + 1e-12) and np.all(lo >= 0) and np.all(hi >= 0)
    inside = (mean - h >= 0) & (mean + h <= 1)
    assert np.allclose(lo[inside], h[inside]) and np.allclose(hi[inside], h[inside])


def _runs(solvers=(("sa", [0, 1]), ("ste-pt", [0, 1, 2]))):
    rows = []
    for solver, seeds in solvers:
        for seed in seeds:
            rows.append(dict(method=f"qubo_{solver}", dataset="d", topology="t", seed=seed, margin=0.0, solver=solver,
                             dropout=False, train_accuracy=0.6 + 0.3 * seed / 2, test_accuracy=0.26 + 0.7 * seed / 2))
    return pd.DataFrame(rows)


def test_generic_solver_rows_are_flagged():
    s = summarise_variants(_runs())
    flags = dict(zip(s["solver"], s["generic_solver"]))
    assert flags == {"sa": True, "ste-pt": False}
    labels = {r["solver"]: variant_label(r) for r in s.to_dict("records")}
    assert "(generic)" in labels["sa"] and "(generic)" not in labels["ste-pt"]


DIMOD_SA = "dimod:dwave.samplers.SimulatedAnnealingSampler"


def test_dimod_samplers_are_generic_in_the_summary_and_the_figure_labels(tmp_path):
    """A dimod sampler is blind to the BNN structure like the registry's Ising machines: its rows are flagged
    and labelled "(generic)"; BNN strategies and the exact MILP are not."""
    s = summarise_variants(_runs(((DIMOD_SA, [0, 1]), ("dimod:dimod.ExactSolver", [0]), ("portfolio", [0]),
                                  ("exact", [0]), ("exhaustive", [0]))))
    flags = dict(zip(s["solver"], s["generic_solver"]))
    assert flags == {DIMOD_SA: True, "dimod:dimod.ExactSolver": True, "portfolio": False, "exact": False,
                     "exhaustive": True}
    labels = {r["solver"]: variant_label(r) for r in s.to_dict("records")}
    assert labels[DIMOD_SA] == f"QUBO plain {DIMOD_SA} (generic)"
    assert labels["portfolio"] == "QUBO plain portfolio"


def test_generic_solvers_follow_the_registry_kinds():
    for name, spec in solver_registry.SOLVERS.items():
        assert is_generic_solver(name) == (spec.kind == "ising" or name == "exhaustive"), name
        for alias in spec.aliases:
            assert is_generic_solver(alias) == is_generic_solver(name)
    for name in ("", "nonsense", "dimod:", "dimod:NoDot", None, float("nan")):
        assert not is_generic_solver(name)


def test_accuracy_figure_draws_points_not_intervals_below_three_runs(tmp_path, monkeypatch):
    import matplotlib.axes

    drawn = {"bars": [], "points": []}
    orig_bar, orig_plot = matplotlib.axes.Axes.bar, matplotlib.axes.Axes.plot

    def bar(self, x, height, *a, yerr=None, **kw):
        drawn["bars"].append(np.asarray(yerr))
        return orig_bar(self, x, height, *a, yerr=yerr, **kw)

    def plot(self, *args, **kw):
        drawn["points"].append(np.asarray(args[1]))
        return orig_plot(self, *args, **kw)

    monkeypatch.setattr(matplotlib.axes.Axes, "bar", bar)
    monkeypatch.setattr(matplotlib.axes.Axes, "plot", plot)
    runs = _runs()
    s = summarise_variants(runs)
    plot_accuracy(s, tmp_path / "a.png", runs=runs)
    assert (tmp_path / "a.png").stat().st_size > 1000
    few = (s["n"] < MIN_RUNS_FOR_INTERVAL).to_numpy()
    assert few.tolist() == [True, False] or few.tolist() == [False, True]
    for yerr in drawn["bars"]:  # (2, variants): no whisker for the 2-run variant, a real one for the 3-run one
        assert np.all(yerr[:, few] == 0) and np.all(yerr[:, ~few].sum(axis=0) > 0)
    # the 2 runs of the sa variant drawn as points (train and test)
    sa = runs[runs["solver"] == "sa"]
    got = sorted(np.concatenate(drawn["points"]).tolist())
    assert got == sorted(sa["train_accuracy"].tolist() + sa["test_accuracy"].tolist())
