"""dimod samplers as `qbnn solve` backends (`--solver dimod:MODULE.CLASS`), the Solution record's dimod
interchange, and `qbnn decode --sampleset`."""
import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qbnn.cli import main
from qbnn.qubo import QUBO

dimod = pytest.importorskip("dimod")

ROOT = Path(__file__).resolve().parents[1]
SA_SAMPLER = "dimod:dwave.samplers.SimulatedAnnealingSampler"


def _qubo(n, seed):
    rng = np.random.default_rng(seed)
    r, c = np.triu_indices(n, 1)
    keep = rng.random(len(r)) < 0.7
    return QUBO.from_coo(n, rng.normal(size=n), r[keep], c[keep], rng.normal(size=keep.sum()), offset=rng.normal())


def _brute_force_min(q):
    X = np.array(list(itertools.product((0, 1), repeat=q.num_variables)), dtype=np.int8)
    return float(np.min(q.energy(X)))


def _last_json(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_solver_reaches_the_brute_force_minimum(tmp_path, capsys, seed):
    q = _qubo(9, seed)
    q.save(tmp_path / "q.h5")
    out = tmp_path / "s.h5"
    assert main(["solve", str(tmp_path / "q.h5"), "--solver", "dimod:dimod.ExactSolver", "--out", str(out)]) == 0
    summary = _last_json(capsys)
    assert summary["best_energy"] == pytest.approx(_brute_force_min(q), abs=1e-9)
    from qbnn.solution import Solution

    sol = Solution.load(out)
    assert sol.solver == "dimod:dimod.ExactSolver" and len(sol.energies) == 2 ** 9
    assert q.energy(sol.best_x) == pytest.approx(sol.best_energy)
    assert sol.provenance["versions"]["dimod"] == dimod.__version__


def test_simulated_annealing_sampler_is_seeded(tmp_path, capsys):
    pytest.importorskip("dwave.samplers")
    q = _qubo(12, 5)
    q.save(tmp_path / "q.h5")
    runs = []
    for name in ("a", "b"):
        assert main(["solve", str(tmp_path / "q.h5"), "--solver", SA_SAMPLER, "--replicas", "5", "--steps", "50",
                     "--sampler-arg", "beta_schedule_type=geometric", "--seed", "7", "--save-states",
                     "--out", str(tmp_path / f"{name}.h5")]) == 0
        runs.append(_last_json(capsys))
    from qbnn.solution import Solution

    a, b = Solution.load(tmp_path / "a.h5"), Solution.load(tmp_path / "b.h5")
    np.testing.assert_array_equal(a.states, b.states)  # the seed reached the sampler
    assert a.states.shape == (5, 12)  # replicas -> num_reads
    assert a.info["sample_args"] == {"beta_schedule_type": "geometric", "seed": 7, "num_reads": 5, "num_sweeps": 50}
    assert a.provenance["settings"]["sampler_args"] == {"beta_schedule_type": "geometric"}
    assert runs[0]["best_energy"] >= _brute_force_min(q) - 1e-9


@pytest.mark.parametrize("argv, culprit", [
    (["--solver", "dimod:no_such_module_x.Sampler"], "no_such_module_x"),
    (["--solver", "dimod:dimod.NoSuchSampler"], "NoSuchSampler"),
    (["--solver", "dimod:dimod.BinaryQuadraticModel"], "not a dimod Sampler"),
    (["--solver", "dimod:ExactSolver"], "dimod:ExactSolver"),
    (["--solver", "dimod:dimod.ExactSolver", "--sampler-arg", "num_reads=3"], "num_reads"),
    (["--solver", "dimod:dimod.ExactSolver", "--sampler-arg", "oops"], "oops"),
    (["--solver", "sa", "--sampler-arg", "num_reads=3"], "--sampler-arg"),
    (["--solver", "nonsense"], "nonsense"),
])
def test_bad_dimod_solvers_are_refused_in_one_line(tmp_path, capsys, argv, culprit):
    q = _qubo(5, 0)
    q.save(tmp_path / "q.h5")
    before = sorted(os.listdir(tmp_path))
    rc = main(["solve", str(tmp_path / "q.h5"), *argv, "--out", str(tmp_path / "s.h5")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("qbnn: error:") and culprit in err[0], err
    assert sorted(os.listdir(tmp_path)) == before  # nothing written


def test_solution_sampleset_round_trip(tmp_path, capsys):
    from qbnn.solution import Solution

    q = _qubo(10, 3)
    q.save(tmp_path / "q.h5")
    assert main(["solve", str(tmp_path / "q.h5"), "--solver", "sa", "--replicas", "6", "--steps", "30",
                 "--save-states", "--out", str(tmp_path / "s.h5")]) == 0
    sol = Solution.load(tmp_path / "s.h5")
    assert sol.provenance["settings"]["replicas"] == 6 and sol.seed == 0 and sol.provenance["qubo_hash"]
    ss = sol.to_sampleset()
    text = json.dumps(ss.to_serializable())
    back = Solution.from_sampleset(dimod.SampleSet.from_serializable(json.loads(text)), q)
    np.testing.assert_array_equal(back.states, sol.states)
    np.testing.assert_allclose(back.energies, sol.energies)
    assert back.best_energy == pytest.approx(sol.best_energy)
    assert back.provenance["qubo_hash"] == sol.provenance["qubo_hash"]
    # a SPIN sample set with shuffled variable order is the same set of states
    spins = ss.change_vartype(dimod.SPIN, inplace=False)
    order = list(reversed(range(10)))
    shuffled = dimod.SampleSet.from_samples((spins.record.sample[:, order], order), dimod.SPIN,
                                            energy=spins.record.energy)
    np.testing.assert_array_equal(Solution.from_sampleset(shuffled, q).states, sol.states)


def _compiled(tmp_path):
    compiler = pytest.importorskip("qbnn.compiler")
    from qbnn.topology import Topology

    rng = np.random.default_rng(0)
    X = rng.choice(np.array([-1, 1], dtype=np.int8), size=(8, 4))
    y = np.where(X[:, 0] * X[:, 1] > 0, 1, -1)
    cb = compiler.compile_bnn(Topology.layered([4, 2, 1]), X, y, margin=0.05)
    compiler.save_compiled(cb, tmp_path / "bnn.h5")
    return cb, tmp_path / "bnn.h5"


def test_decode_sampleset_equals_decoding_the_same_sample(tmp_path, capsys):
    """A SampleSet written by dimod for a compiled QUBO decodes to the network the normal path gives for
    the sample it picks (the lowest repaired energy)."""
    from qbnn.topology import Network

    cb, path = _compiled(tmp_path)
    rng = np.random.default_rng(1)
    samples = rng.integers(0, 2, size=(6, cb.num_variables)).astype(np.int8)  # mostly infeasible
    samples[2] = cb.repair(rng.choice(np.array([-1, 1], dtype=np.int8), size=cb.n_weights))  # one feasible
    ss = dimod.SampleSet.from_samples((samples, range(cb.num_variables)), dimod.BINARY, energy=cb.energy(samples))
    (tmp_path / "ss.json").write_text(json.dumps(ss.to_serializable()))
    assert main(["decode", str(path), "--sampleset", str(tmp_path / "ss.json"), "--out", str(tmp_path / "a.h5")]) == 0
    got = _last_json(capsys)
    repaired = cb.energy(cb.repair(cb.decode(samples)))
    i = got["sample_index"]
    assert repaired[i] == pytest.approx(repaired.min()) and got["num_samples"] == 6 and got["feasible_samples"] >= 1
    np.save(tmp_path / "x.npy", samples[i])
    assert main(["decode", str(path), "--sample", str(tmp_path / "x.npy"), "--out", str(tmp_path / "b.h5")]) == 0
    ref = _last_json(capsys)
    assert {k: v for k, v in got.items() if k not in ("out", "num_samples", "feasible_samples", "sample_index")} == \
        {k: v for k, v in ref.items() if k != "out"}
    a, b = Network.load(tmp_path / "a.h5"), Network.load(tmp_path / "b.h5")
    np.testing.assert_array_equal(a.weights, b.weights)


def test_decode_sampleset_of_a_solve_equals_decoding_its_solution(tmp_path, capsys):
    from qbnn.solution import Solution

    _, path = _compiled(tmp_path)
    assert main(["solve", str(path), "--solver", "sa", "--replicas", "4", "--steps", "50",
                 "--out", str(tmp_path / "s.h5")]) == 0
    capsys.readouterr()
    ss = Solution.load(tmp_path / "s.h5").to_sampleset()  # best state only
    (tmp_path / "ss.json").write_text(json.dumps(ss.to_serializable()))
    outs = []
    for flag, src, net in (("--sample", "s.h5", "a.h5"), ("--sampleset", "ss.json", "b.h5")):
        assert main(["decode", str(path), flag, str(tmp_path / src), "--out", str(tmp_path / net)]) == 0
        outs.append({k: v for k, v in _last_json(capsys).items() if k not in ("out", "num_samples",
                                                                            "feasible_samples", "sample_index")})
    assert outs[0] == outs[1]


@pytest.mark.parametrize("content, culprit", [
    (b"\xff\xfe\x00binary", "UTF-8"),
    (b"{not json", "valid JSON"),
    (b'{"type": "BinaryQuadraticModel"}', "SampleSet"),
    (b'{"type": "SampleSet", "version": {}}', "readable dimod SampleSet"),
])
def test_bad_sampleset_files_are_refused(tmp_path, capsys, content, culprit):
    _, path = _compiled(tmp_path)
    (tmp_path / "ss.json").write_bytes(content)
    rc = main(["decode", str(path), "--sampleset", str(tmp_path / "ss.json"), "--out", str(tmp_path / "n.h5")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and culprit in err[0], err
    assert not (tmp_path / "n.h5").exists()


def test_sampleset_over_other_variables_is_refused(tmp_path, capsys):
    cb, path = _compiled(tmp_path)
    for labels in (range(cb.num_variables - 1), [f"v{i}" for i in range(cb.num_variables)]):
        labels = list(labels)
        ss = dimod.SampleSet.from_samples((np.zeros((1, len(labels)), dtype=np.int8), labels), dimod.BINARY, energy=[0])
        (tmp_path / "ss.json").write_text(json.dumps(ss.to_serializable()))
        rc = main(["decode", str(path), "--sampleset", str(tmp_path / "ss.json"), "--out", str(tmp_path / "n.h5")])
        err = capsys.readouterr().err
        assert rc == 2 and "variables must be the QUBO's" in err and not (tmp_path / "n.h5").exists()


@pytest.mark.slow
def test_dimod_solver_from_the_config(tmp_path):
    """A tiny config naming a dimod sampler runs through Snakemake: solve (with sampler_args), decode, evaluate."""
    pytest.importorskip("dwave.samplers")
    snakemake = shutil.which("snakemake") or str(Path(sys.executable).with_name("snakemake"))
    for item in ("Snakefile", "workflow", "config", "envs"):
        (shutil.copytree if (ROOT / item).is_dir() else shutil.copy)(ROOT / item, tmp_path / item)
    (tmp_path / "config/dimod.yaml").write_text(json.dumps({
        "datasets": {"bas4": {"source": "bars_and_stripes", "size": 4, "train_size": 16, "test_size": 12, "seed": 0}},
        "topologies": {"h2": "config/topologies/h2.yaml"},
        "experiments": {"tiny": {"dataset": "bas4", "topology": "h2", "solvers": [SA_SAMPLER]}},
        "solver_settings": {SA_SAMPLER: {"replicas": 4, "steps": 100, "sampler_args": {"beta_schedule_type": "linear"}}},
    }))
    target = f"results/evaluate/bas4/h2/qubo_m0.0_{SA_SAMPLER}_s0.json"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    res = subprocess.run([snakemake, "--cores", "1", target, "--configfile", "config/dimod.yaml"], cwd=tmp_path,
                         env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    metrics = json.loads((tmp_path / target).read_text())
    assert 0 <= metrics["test_accuracy"] <= 1
    from qbnn.solution import Solution

    sol = Solution.load(tmp_path / f"results/solve/bas4/h2/m0.0_{SA_SAMPLER}_s0.h5")
    assert sol.info["sample_args"]["beta_schedule_type"] == "linear" and sol.info["sample_args"]["num_reads"] == 4
