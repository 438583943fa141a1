"""Fixtures shared by several test modules."""
import os

import h5py
import pytest


@pytest.fixture
def h5_opens(monkeypatch):
    """``h5_opens(path)`` -> a list that records the mode of every ``h5py.File`` open of ``path`` from
    then on (a command that reads a file kind once at its boundary shows ``["r"]``)."""
    def watch(path):
        opened = []
        real = h5py.File
        target = os.path.abspath(os.fspath(path))

        def counting(name, *a, **kw):
            if os.path.abspath(os.fspath(name)) == target:
                opened.append(a[0] if a else kw.get("mode"))
            return real(name, *a, **kw)

        monkeypatch.setattr(h5py, "File", counting)
        return opened

    return watch


def write_bars4_task(directory, seed: int = 0):
    """``qbnn binarise`` a 4x4 bars-and-stripes dataset (16 training, 12 test images) into
    ``directory/data.h5`` and a [16, 2, 1] topology with bias into ``directory/net.yaml``."""
    from qbnn.cli import main

    assert main(["binarise", "--source", "bars_and_stripes", "--size", "4", "--train-size", "16",
                 "--test-size", "12", "--seed", str(seed), "--out", str(directory / "data.h5")]) == 0
    (directory / "net.yaml").write_text("layers: [16, 2, 1]\nbias: true\n")
    return directory
