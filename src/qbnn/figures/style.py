"""The one style of qbnn's figures: pyplot on the Agg backend with one set of rc settings, one DPI,
one way to save (atomically) and one placeholder for an empty input."""
from __future__ import annotations

import os

from qbnn.io import atomic_output

#: rc settings of every figure (matplotlib.rcParams keys)
STYLE = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 7,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "savefig.dpi": 110,
    "figure.dpi": 110,
}
DPI = 110


def pyplot():
    """matplotlib.pyplot on the Agg backend with :data:`STYLE` applied."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(STYLE)
    plt.rcParams["axes.prop_cycle"] = matplotlib.cycler(color=plt.cm.tab10.colors)  # named, so it cannot drift
    return plt


def save(fig, path: str | os.PathLike) -> None:
    """Write ``fig`` as PNG at :data:`DPI`, atomically, and close it."""
    with atomic_output(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    pyplot().close(fig)


def placeholder(path: str | os.PathLike, text: str) -> None:
    """A small figure saying why there is nothing to draw (a grid may lack e.g. dropout runs)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4, 2))
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.axis("off")
    save(fig, path)
