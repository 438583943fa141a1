"""Plot ``benchmarks/out/bnn_solving.csv``: training errors per method (mean ± sd over seeds) for
every task × class pair, with the proven optimum (or the MILP lower bound) as a line.

    python benchmarks/bnn_solving_plot.py [csv] [png]
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from qbnn.io import atomic_output

OUT = Path(__file__).parent / "out"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    src = Path(argv[0]) if argv else OUT / "bnn_solving.csv"
    dst = Path(argv[1]) if len(argv) > 1 else src.with_suffix(".png")
    with open(src, newline="") as f:
        rows = list(csv.DictReader(f))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(dict.fromkeys((r["task"], r["pair"]) for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    ncol = 3
    nrow = int(np.ceil(len(groups) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.2 * ncol, 3.8 * nrow), squeeze=False)
    for ax, (task, pair) in zip(axes.ravel(), groups):
        rs = [r for r in rows if (r["task"], r["pair"]) == (task, pair)]
        mean, sd = [], []
        for m in methods:
            e = [float(r["train_errors"]) for r in rs if r["method"] == m]
            mean.append(np.mean(e) if e else np.nan)
            sd.append(np.std(e) if e else 0.0)
        ax.barh(range(len(methods)), mean, xerr=sd, color=["C1" if m.startswith("moves:") else "C0" for m in methods])
        ax.set_xscale("symlog", linthresh=10)
        opt, bnd = rs[0].get("opt"), rs[0].get("bound")
        if opt not in (None, ""):
            ax.axvline(float(opt), color="k", ls="--", label=f"proven optimum {float(opt):g}")
        elif bnd not in (None, "") and float(bnd) > 0:  # a 0 bound says nothing
            ax.axvline(float(bnd), color="gray", ls=":", label=f"MILP lower bound {float(bnd):g}")
        ax.set_yticks(range(len(methods)))
        ax.set_yticklabels(methods, fontsize=7)
        ax.set_title(f"{rs[0]['name']}", fontsize=8)
        ax.set_xlabel("training errors (decoded network)")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="lower right")
    for ax in axes.ravel()[len(groups):]:
        ax.axis("off")
    fig.tight_layout()
    with atomic_output(dst, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    print(f'{{"plot": "{dst}", "groups": {len(groups)}, "methods": {len(methods)}}}')
    return 0


if __name__ == "__main__":
    sys.exit(main())
