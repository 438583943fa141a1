"""Figure of binarised training samples: one row per class (white = +1, black = -1)."""
from __future__ import annotations

import os

import numpy as np

from qbnn.data import Dataset
from qbnn.figures.runs import image_shape_of
from qbnn.figures.style import pyplot, save


def plot_sample_grid(data_path: str | os.PathLike, out_png: str | os.PathLike, per_class: int = 8) -> dict:
    """Write a PNG grid of up to ``per_class`` training samples of each class.

    Returns ``{"classes": [...], "shown": [count per class], "out": out_png}``.
    """

    ds = Dataset.load(data_path, real=True)
    Xtr, ytr, attrs = ds.X_train, ds.y_train, ds.attrs
    real = ds.encoding == "real"
    lo, hi = (float(Xtr.min()), float(Xtr.max())) if real else (-1, 1)
    classes = attrs["classes"]
    codes = [-1, 1] if len(classes) == 2 else list(range(len(classes)))
    plt = pyplot()
    rows, cols = image_shape_of(attrs, Xtr.shape[1])
    per_class = max(1, int(per_class))
    aspect = cols / rows
    fig, axes = plt.subplots(
        len(classes),
        per_class,
        figsize=(max(3.0, 0.9 * per_class * min(aspect, 4.0)) + 0.8, 0.9 * len(classes) + 0.6),
        squeeze=False,
    )
    shown = []
    for r, (c, code) in enumerate(zip(classes, codes)):
        idx = np.flatnonzero(ytr == code)[:per_class]
        shown.append(int(len(idx)))
        for j in range(per_class):
            ax = axes[r, j]
            ax.set_xticks([])
            ax.set_yticks([])
            for sp in ax.spines.values():
                sp.set_visible(j < len(idx))
            if j < len(idx):
                ax.imshow(Xtr[idx[j]].reshape(rows, cols), cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            else:
                ax.axis("off")
        axes[r, 0].set_ylabel(f"{c}\n(y={code})", rotation=0, ha="right", va="center", fontsize=9)
        if len(idx):
            axes[r, 0].axis("on")
    what = f"scaled ({attrs.get('scaling')})" if real else f"binarised (threshold {attrs.get('threshold', 0):.3g})"
    fig.suptitle(f"{attrs.get('source', '')}: {what} training samples", fontsize=10)
    fig.tight_layout()
    save(fig, out_png)
    return {"classes": classes, "shown": shown, "out": str(out_png)}
