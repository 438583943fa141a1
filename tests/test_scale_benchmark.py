"""``benchmarks/scale.py``'s pure helpers: the run list that ``--seeds``/``--first-seed`` split, so that
separate calls merged with ``--report`` cover exactly the one-call protocol."""
import importlib.util
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

_SCALE = Path(__file__).resolve().parents[1] / "benchmarks" / "scale.py"
_spec = importlib.util.spec_from_file_location("scale_bench", _SCALE)
scale = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scale)

MAIN = scale.MAIN_METHODS
MS = MAIN + ["pt", "train:lns-pt:none"]


def test_first_seed_shifts_main_and_other_seeds():
    jobs = scale.job_list(["wine"], MS, MAIN, 2, 1, 120.0, 45.0, first_seed=3)
    others = {("pt", 3), ("train:lns-pt:none", 3)}  # --other-seeds 1: the first seed only
    assert {(m, s) for _, m, s, _ in jobs} == {(m, s) for m in MAIN for s in (3, 4)} | others
    assert all(b == (120.0 if m in MAIN else 45.0) for _, m, _, b in jobs)


@given(st.integers(0, 6), st.integers(0, 6), st.integers(0, 3))
def test_split_calls_cover_the_one_call_protocol(n, k, start):
    """Seeds start..start+k-1 then start+k..start+n-1 = one call with n seeds from start (as multisets)."""
    k = min(k, n)
    tasks = ["breast-cancer", "digits10-6x6"]
    one = scale.job_list(tasks, MS, MAIN, n, n, 120.0, 45.0, first_seed=start)
    split = (scale.job_list(tasks, MS, MAIN, k, k, 120.0, 45.0, first_seed=start)
             + scale.job_list(tasks, MS, MAIN, n - k, n - k, 120.0, 45.0, first_seed=start + k))
    assert sorted(one) == sorted(split)
    assert len(one) == n * len(tasks) * len(MS) == len(set(one))


def _runs(task, method, seeds, acc=0.9):
    import pandas as pd

    return pd.DataFrame({"task": task, "method": method, "seed": list(seeds), "test_accuracy": acc})


def test_merge_runs_keeps_the_named_rows_and_refuses_repeats():
    import pytest

    a = _runs("wine", "ste5", range(3))
    b = _runs("wine", "ste5", range(3, 5))
    c = _runs("breast-cancer", "train:lns:none", range(5))
    merged = scale.merge_runs([a, b, c])
    assert len(merged) == 10
    only = scale.merge_runs([a, b, c], tasks=["wine"])
    assert sorted(only.seed) == [0, 1, 2, 3, 4] and set(only.task) == {"wine"}
    assert len(scale.merge_runs([a, c], ms=["train:lns:none"])) == 5
    with pytest.raises(ValueError, match="wine ste5 2"):
        scale.merge_runs([a, _runs("wine", "ste5", [2], acc=0.5)])
    assert len(scale.merge_runs([a, _runs("wine", "ste5", [2])], tasks=["breast-cancer"])) == 0


def test_paired_table_pairs_only_shared_splits():
    rows = [dict(task="wine", method=m, seed=s, test_accuracy=a, train_loss=l)
            for m, s, a, l in [("ste5", 0, 0.90, 9), ("ste5", 1, 0.92, 8), ("train:lns:none:kcv", 0, 0.93, 5),
                               ("train:lns:none:kcv", 1, 0.91, 6), ("train:lns:none:kcv", 2, 0.5, 1)]]
    rows.append(dict(task="credit-default", method="train:lns:none:krule", seed=0, test_accuracy=0.7, train_loss=3))
    table = scale.paired(rows)
    line = [r for r in table.splitlines() if "train:lns:none:kcv − ste5" in r]
    assert len(line) == 1 and "| 2 |" in line[0] and "| +1.0 |" in line[0]  # (+3 − 1)/2; seed 2: no STE run
    assert "kcv − train:lns:none:krule" not in table  # krule ran on another task only: no pair, no error
