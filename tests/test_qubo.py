import itertools

import numpy as np
import pytest

from qbnn.errors import QbnnError
from qbnn.qubo import QUBO


def _random_qubo(n, m, seed):
    rng = np.random.default_rng(seed)
    return QUBO.from_coo(n, rng.normal(size=n), rng.integers(0, n, m), rng.integers(0, n, m), rng.normal(size=m), offset=1.5)


def test_energy_matches_bruteforce_formula():
    q = _random_qubo(6, 20, 0)
    Q = q.to_dense()
    for bits in itertools.product([0, 1], repeat=6):
        x = np.array(bits, dtype=float)
        assert q.energy(x) == pytest.approx(q.offset + x @ Q @ x)


def test_from_coo_merges_duplicates_and_diagonal():
    q = QUBO.from_coo(3, [0, 0, 0], [0, 1, 2, 1], [0, 2, 1, 2], [4.0, 1.0, 2.0, 0.5])
    assert q.linear[0] == 4.0
    assert q.num_interactions == 1 and q.values[0] == pytest.approx(3.5)


def test_batch_energy_and_roundtrip(tmp_path):
    q = _random_qubo(10, 30, 1)
    X = np.random.default_rng(2).integers(0, 2, (7, 10))
    E = q.energy(X)
    q.save(tmp_path / "q.h5")
    q2 = QUBO.load(tmp_path / "q.h5")
    np.testing.assert_allclose(q2.energy(X), E)
    assert [q.energy(x) for x in X] == pytest.approx(list(E))


def test_rejects_nan_and_lower_triangle():
    with pytest.raises(QbnnError, match="NaN"):
        QUBO(np.array([np.nan]), [], [], [])
    with pytest.raises(QbnnError, match="upper-triangular"):
        QUBO(np.zeros(3), [2], [1], [1.0])


def test_load_rejects_foreign_and_truncated(tmp_path):
    import h5py

    with h5py.File(tmp_path / "x.h5", "w") as f:
        f.create_dataset("a", data=[1])
    with pytest.raises(QbnnError, match="not a qbnn QUBO"):
        QUBO.load(tmp_path / "x.h5")
    (tmp_path / "t.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 20)
    with pytest.raises(QbnnError, match="not a readable HDF5"):
        QUBO.load(tmp_path / "t.h5")
    q = _random_qubo(4, 4, 3)
    q.save(tmp_path / "new.h5")
    with h5py.File(tmp_path / "new.h5", "a") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(QbnnError, match="format version 99"):
        QUBO.load(tmp_path / "new.h5")
