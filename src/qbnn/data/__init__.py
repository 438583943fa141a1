"""Binarised datasets: sources, binarisation, and the ``qbnn-data`` HDF5 file.

The dataset file is one record type, :class:`Dataset` (``Dataset.load(path, real=False)``,
``Dataset.save(path)``); ``qbnn binarise`` makes one with :func:`binarise` and
:meth:`Dataset.from_binarised`. Format and configuration: ``docs/data-format.md``.
"""
from __future__ import annotations

from .binarise import binarise, downsample_images, fit_threshold, otsu_threshold, parse_threshold, to_pm1
from .sources import bars_and_stripes_patterns, load_source, read_idx
from .store import FORMAT, FORMAT_VERSION, Dataset, load_dataset, write_dataset

__all__ = [
    "Dataset",
    "FORMAT",
    "FORMAT_VERSION",
    "bars_and_stripes_patterns",
    "binarise",
    "downsample_images",
    "fit_threshold",
    "load_dataset",
    "load_source",
    "otsu_threshold",
    "parse_threshold",
    "read_idx",
    "to_pm1",
    "write_dataset",
]
