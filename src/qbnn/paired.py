"""Paired statistics: each variant against a reference (plain training) on the same splits.

Unpaired intervals of per-variant means over a few seeds cannot resolve 1–2 points, because the split
(and its seed) moves every variant together. Pairing removes that shared variance: per (group, seed)
the difference ``Δ = acc(variant) − acc(reference)``, then

* the mean Δ with a Student-t 95 % interval (:func:`ci95`);
* a two-sided Wilcoxon signed-rank p-value (``scipy.stats.wilcoxon``; 1.0 when every Δ is 0) and a
  two-sided sign-test p-value (``scipy.stats.binomtest`` on wins vs losses, ties dropped);
* a verdict per comparison: ``helps`` / ``hurts`` when the 95 % interval excludes 0 *and* the Wilcoxon
  p < 0.05, else ``no detectable effect``;
* Holm's step-down adjustment of the Wilcoxon p-values over the whole table (``p_holm``,
  ``holm_significant``). With n seeds the smallest two-sided Wilcoxon p is 2/2^n (0.002 at n = 10), so a
  family of ~100 comparisons cannot pass Holm at 0.05 with 10 seeds: read a verdict together with its
  consistency across regimes, not as a family-wise claim.

The forest plot of a paired table is :func:`qbnn.figures.accuracy.plot_paired`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from qbnn.errors import QbnnError


def ci95(std, count):
    """Half-width of the 95% confidence interval of a mean: Student t with ``count - 1`` degrees of
    freedom (few seeds make the normal 1.96 too narrow); 0 for a single run."""
    from scipy.stats import t

    n = np.asarray(count, dtype=np.float64)
    s = np.nan_to_num(np.asarray(std, dtype=np.float64))
    q = t.ppf(0.975, np.maximum(n - 1, 1))
    return np.where(n > 1, q * s / np.sqrt(np.maximum(n, 1)), 0.0)


def wilcoxon_p(d: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences ``d`` (1.0 if all are 0)."""
    from scipy.stats import wilcoxon

    d = np.asarray(d, dtype=np.float64)
    if d.size == 0 or not np.any(d != 0):
        return 1.0
    return float(wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)


def sign_test_p(d: np.ndarray) -> float:
    """Two-sided sign-test p-value (ties dropped; 1.0 without a nonzero difference)."""
    from scipy.stats import binomtest

    d = np.asarray(d, dtype=np.float64)
    n = int(np.sum(d != 0))
    return 1.0 if n == 0 else float(binomtest(int(np.sum(d > 0)), n, 0.5).pvalue)


def holm(p: np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (monotone, capped at 1)."""
    p = np.asarray(p, dtype=np.float64)
    m = p.size
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return out


def paired_table(df: pd.DataFrame, reference: str | list[str], group: str = "regime", pair_on: str = "seed",
                 value: str = "test_accuracy", variant: str = "variant") -> pd.DataFrame:
    """One row per (group, variant ≠ reference): paired Δ statistics against the group's reference.

    ``reference``: the reference variant's name, or a list (the first one present in a group is used,
    e.g. ``["plain", "ovo-exact"]``). Only seeds where both the variant and the reference ran are paired.
    """
    refs = [reference] if isinstance(reference, str) else list(reference)
    for col in (group, pair_on, value, variant):
        if col not in df.columns:
            raise QbnnError(f"paired statistics need column {col!r}")
    rows = []
    for g, sub in df.groupby(group, sort=True):
        ref = next((r for r in refs if (sub[variant] == r).any()), None)
        if ref is None:
            continue
        base = sub[sub[variant] == ref].groupby(pair_on)[value].mean()
        for v, sv in sub[sub[variant] != ref].groupby(variant, sort=False):
            vals = sv.groupby(pair_on)[value].mean()
            common = vals.index.intersection(base.index)
            d = (vals[common] - base[common]).to_numpy(dtype=np.float64)
            n = d.size
            mean = float(d.mean()) if n else np.nan
            half = float(ci95(d.std(ddof=1) if n > 1 else 0.0, n)) if n else np.nan
            rows.append({group: g, "variant": v, "reference": ref, "n": n,
                         "reference_mean": float(base[common].mean()) if n else np.nan,
                         "variant_mean": float(vals[common].mean()) if n else np.nan,
                         "delta_mean": mean, "delta_ci95": half, "ci_low": mean - half, "ci_high": mean + half,
                         "wins": int(np.sum(d > 0)), "losses": int(np.sum(d < 0)), "ties": int(np.sum(d == 0)),
                         "p_wilcoxon": wilcoxon_p(d), "p_sign": sign_test_p(d)})
    out = pd.DataFrame(rows)
    if out.empty:
        raise QbnnError(f"no (variant, reference) pairs found for reference {refs}")
    out["p_holm"] = holm(out["p_wilcoxon"].to_numpy())
    out["holm_significant"] = out["p_holm"] < 0.05
    sig = out["p_wilcoxon"] < 0.05
    out["verdict"] = np.where(sig & (out["ci_low"] > 0), "helps",
                              np.where(sig & (out["ci_high"] < 0), "hurts", "no detectable effect"))
    return out
