"""Fault tolerance: solver checkpoints resume bit-identically; kill -9 of `qbnn solve` and of a
Snakemake run leaves nothing that looks finished, and a rerun gives the uninterrupted result."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.sparse as sp
import torch
import yaml

from qbnn.qubo import QUBO
from qbnn.solvers import IsingProblem, solve
from qbnn.solvers.checkpoint import Checkpoint

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
QBNN = shutil.which("qbnn", path=str(BIN)) or "qbnn"
SNAKEMAKE = shutil.which("snakemake", path=str(BIN)) or "snakemake"


def _problem(n=120, density=0.08, seed=0) -> IsingProblem:
    rng = np.random.default_rng(seed)
    J = sp.triu(sp.random(n, n, density=density, random_state=seed, data_rvs=lambda k: rng.normal(size=k)), 1)
    return IsingProblem(rng.normal(size=n), J)


class _Interrupted(Exception):
    pass


class _DiesAfter(Checkpoint):
    """A real checkpoint that stops the solve right after its ``limit``-th write (a crash stand-in)."""

    def __init__(self, *a, limit: int, **kw):
        super().__init__(*a, **kw)
        self.limit = limit

    def save(self, *a):
        super().save(*a)
        if self.writes == self.limit:
            raise _Interrupted


def _same(a, b):
    assert a.best_energy == b.best_energy
    assert np.array_equal(a.best_state, b.best_state)
    assert np.array_equal(a.states, b.states) and np.array_equal(a.energies, b.energies)
    assert [(s, e) for s, _, e in a.trace] == [(s, e) for s, _, e in b.trace]
    assert a.steps_done == b.steps_done


@pytest.mark.parametrize("solver", ["sb", "dsb", "sa", "sa+keep_best", "ma"])
def test_resume_is_bit_identical(tmp_path, solver):
    prob = _problem()
    opts = dict(replicas=6, steps=400, seed=7, device="cpu", check_every=25)
    if solver == "sa+keep_best":  # the best visited state travels in the checkpoint too
        solver, opts = "sa", dict(opts, keep_best=True, polish=False)
    ref = solve(prob, solver, **opts)
    path = tmp_path / "run.ckpt"
    with pytest.raises(_Interrupted):
        solve(prob, solver, checkpoint=_DiesAfter(path, 60, limit=3), **opts)
    assert path.is_file() and not list(tmp_path.glob(".*tmp"))
    ck = Checkpoint(path, 60)
    res = solve(prob, solver, checkpoint=ck, **opts)
    assert ck.resumed_from == 180 and res.info["resumed_from_step"] == 180
    _same(ref, res)
    ck.remove()
    assert not path.exists()


def test_resume_restores_generator_state_not_just_tensors(tmp_path):
    """Resuming with a fresh generator would diverge: the RNG state is part of the checkpoint."""
    prob = _problem(seed=3)
    opts = dict(replicas=4, steps=300, seed=1, device="cpu", kernel="torch")  # the generator draws the spins
    path = tmp_path / "c.ckpt"
    with pytest.raises(_Interrupted):
        solve(prob, "sa", checkpoint=_DiesAfter(path, 100, limit=1), **opts)
    saved = torch.load(path, weights_only=True)
    assert saved["step"] == 100 and saved["seed"] == 1
    g = torch.Generator().manual_seed(1)
    assert not torch.equal(saved["rng"], g.get_state())  # the stream advanced past the start


def test_time_limited_resume_keeps_restarts_and_elapsed(tmp_path):
    """Killed in a later restart: finished restarts, best-of-restarts and spent time carry over."""
    prob = _problem(seed=6)
    path = tmp_path / "c.ckpt"
    opts = dict(replicas=4, steps=200, seed=2, device="cpu", time_limit=60.0, target_energy=-1e9)
    with pytest.raises(_Interrupted):  # 3 writes per anneal (every 50 of 200 steps): dies in restart 3
        solve(prob, "sa", checkpoint=_DiesAfter(path, 50, limit=8), **opts)
    saved = torch.load(path, weights_only=True)["tracker"]
    assert saved["restarts"] == 2 and saved["final"] is not None
    res = solve(prob, "sa", checkpoint=Checkpoint(path, 50), **dict(opts, time_limit=saved["elapsed"] + 0.5))
    assert res.info["resumed_from_step"] == 100
    assert res.restarts >= 3 and res.seconds >= saved["elapsed"]
    assert res.best_energy <= saved["best_energy"]
    assert res.steps_done >= saved["global_step"] + 100


def test_foreign_checkpoint_is_ignored(tmp_path, capsys):
    prob = _problem(seed=4)
    path = tmp_path / "c.ckpt"
    with pytest.raises(_Interrupted):
        solve(prob, "sb", replicas=4, steps=200, seed=1, device="cpu", checkpoint=_DiesAfter(path, 50, limit=2))
    # another seed -> generator seed differs; another step count -> fingerprint differs
    for opts in (dict(seed=2, steps=200), dict(seed=1, steps=300)):
        ref = solve(prob, "sb", replicas=4, device="cpu", **opts)
        ck = Checkpoint(path, 1000)
        res = solve(prob, "sb", replicas=4, device="cpu", checkpoint=ck, **opts)
        assert ck.resumed_from is None
        _same(ref, res)
    assert "starting afresh" in capsys.readouterr().err


def test_garbage_checkpoint_is_ignored(tmp_path, capsys):
    path = tmp_path / "c.ckpt"
    path.write_bytes(b"not a checkpoint")
    prob = _problem(seed=5)
    ref = solve(prob, "ma", replicas=4, steps=100, seed=0, device="cpu")
    res = solve(prob, "ma", replicas=4, steps=100, seed=0, device="cpu", checkpoint=Checkpoint(path, 30))
    _same(ref, res)
    assert "unreadable" in capsys.readouterr().err


# ----------------------------------------------------------------------------- CLI: kill -9
def _qubo_file(path: Path, n=300, seed=1) -> Path:
    rng = np.random.default_rng(seed)
    M = sp.triu(sp.random(n, n, density=0.05, random_state=seed, data_rvs=lambda k: rng.normal(size=k)), 1).tocoo()
    QUBO(rng.normal(size=n), M.row, M.col, M.data, 0.0).save(path)
    return path


def _env():
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def _ckpt_step(path: Path) -> int:
    try:
        return int(torch.load(path, weights_only=True)["step"])
    except Exception:  # noqa: BLE001 - not there yet / replaced while reading
        return -1


def _kill_when(proc, cond, timeout=120.0) -> None:
    """SIGKILL ``proc``'s process group once ``cond()`` holds; fail if it ended first."""
    t0 = time.monotonic()
    while not cond():
        assert proc.poll() is None, "process finished before it could be killed; make the run longer"
        assert time.monotonic() - t0 < timeout, "condition never met"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _read_solution(path: Path) -> dict:
    with h5py.File(path, "r") as f:
        return {"best_energy": float(f.attrs["best_energy"]), "best_x": f["best_x"][()],
                "energies": f["energies"][()], "trace_steps": f["trace"][()][:, [0, 2]]}


@pytest.mark.parametrize("solver", ["sa", "sb"])
def test_cli_kill9_and_resume(tmp_path, solver):
    q = _qubo_file(tmp_path / "q.h5")
    steps = 4000
    args = [QBNN, "solve", str(q), "--solver", solver, "--replicas", "8", "--steps", str(steps), "--seed", "3",
            "--device", "cpu"]
    t0 = time.monotonic()
    ref = subprocess.run(args + ["--out", str(tmp_path / "ref.h5")], env=_env(), capture_output=True, text=True)
    assert ref.returncode == 0, ref.stderr
    t_ref = time.monotonic() - t0

    ck, out = tmp_path / "run.ckpt", tmp_path / "out.h5"
    cmd = args + ["--checkpoint", str(ck), "--checkpoint-every", "100", "--out", str(out)]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    _kill_when(proc, lambda: _ckpt_step(ck) >= steps // 3)
    assert proc.returncode == -signal.SIGKILL
    killed_at = _ckpt_step(ck)
    assert steps // 3 <= killed_at < steps
    # nothing that looks finished: no solution file, not even under a temporary name
    assert not out.exists() and not list(tmp_path.glob(".out.h5*"))
    res = subprocess.run(cmd, env=_env(), capture_output=True, text=True)
    t_run = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["checkpoint"]["resumed_from_step"] >= killed_at
    assert not ck.exists()  # removed once the solution was written
    a, b = _read_solution(tmp_path / "ref.h5"), _read_solution(out)
    assert a["best_energy"] == b["best_energy"]
    assert np.array_equal(a["best_x"], b["best_x"]) and np.array_equal(a["energies"], b["energies"])
    assert np.array_equal(a["trace_steps"], b["trace_steps"])
    print(f"\n{solver}: uninterrupted {t_ref:.1f} s; killed at step {killed_at}/{steps}, kill+resume {t_run:.1f} s")


def test_cli_keep_checkpoint_and_bad_interval(tmp_path):
    q = _qubo_file(tmp_path / "q.h5", n=50)
    base = [QBNN, "solve", str(q), "--solver", "ma", "--steps", "50", "--replicas", "2", "--device", "cpu"]
    ck = tmp_path / "k.ckpt"
    res = subprocess.run(base + ["--checkpoint", str(ck), "--checkpoint-every", "10", "--keep-checkpoint",
                                 "--out", str(tmp_path / "o.h5")], env=_env(), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert ck.is_file() and json.loads(res.stdout.splitlines()[-1])["checkpoint"]["writes"] == 4
    bad = subprocess.run(base + ["--checkpoint", str(ck), "--checkpoint-every", "0", "--out", str(tmp_path / "b.h5")],
                         env=_env(), capture_output=True, text=True)
    assert bad.returncode != 0 and "--checkpoint-every" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "b.h5").exists()


# ----------------------------------------------------------------------------- workflow: kill -9
def _workdir(path: Path, steps: int) -> Path:
    path.mkdir()
    for item in ("Snakefile", "workflow", "config", "envs"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, path / item)
    cfg = yaml.safe_load((ROOT / "config/test.yaml").read_text())
    exp = cfg["experiments"]["tiny"]
    exp["solvers"] = ["sa"]
    exp.pop("dropout", None)
    cfg["solver_settings"] = {"sa": {"replicas": 8, "steps": steps, "time_limit": None}}  # reproducible: no timing
    (path / "config/faults.yaml").write_text(yaml.safe_dump(cfg))
    return path


TARGETS = ["results/evaluate/bas4/h2/qubo_m0.0_sa_s0.json"]
SOLUTION = "results/solve/bas4/h2/m0.0_sa_s0.h5"
CKPT = "results/checkpoints/bas4/h2/m0.0_sa_s0.ckpt"


def _smk(wd: Path, *extra):
    return [SNAKEMAKE, *TARGETS, "--cores", "1", "--configfile", "config/faults.yaml", *extra]


@pytest.mark.slow
def test_workflow_kill9_midway_then_rerun(tmp_path):
    steps = 6000
    ref_wd, wd = _workdir(tmp_path / "ref", steps), _workdir(tmp_path / "run", steps)
    t0 = time.monotonic()
    ref = subprocess.Popen(_smk(ref_wd), cwd=ref_wd, env=_env(), stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)  # uninterrupted, concurrently
    proc = subprocess.Popen(_smk(wd), cwd=wd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    _kill_when(proc, lambda: _ckpt_step(wd / CKPT) >= steps // 3, timeout=300)
    killed_at = _ckpt_step(wd / CKPT)
    assert 0 < killed_at < steps
    # nothing a rerun would take as done: no solution, no downstream files, no temporaries
    assert not (wd / SOLUTION).exists() and not (wd / TARGETS[0]).exists()
    assert not [p for p in (wd / "results/solve").rglob("*") if p.is_file()]
    unlock = subprocess.run(_smk(wd, "--unlock"), cwd=wd, env=_env(), capture_output=True, text=True)
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    rerun = subprocess.run(_smk(wd, "--rerun-incomplete"), cwd=wd, env=_env(), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    assert ref.wait() == 0, ref.stderr.read()[-4000:]
    wall = time.monotonic() - t0
    # the rerun only resumed the solve (no recompile), from the checkpoint, and cleaned it up
    assert "compile_qubo" not in rerun.stderr and "rule solve" in rerun.stderr
    log = (wd / "logs/solve/bas4_h2_m0.0_sa_s0.log").read_text()
    assert json.loads(log.strip().splitlines()[-1])["checkpoint"]["resumed_from_step"] >= killed_at
    assert not (wd / CKPT).exists() and not (ref_wd / CKPT).exists()
    a, b = _read_solution(ref_wd / SOLUTION), _read_solution(wd / SOLUTION)
    assert a["best_energy"] == b["best_energy"] and np.array_equal(a["best_x"], b["best_x"])
    assert np.array_equal(a["energies"], b["energies"])
    ma, mb = (json.loads((w / TARGETS[0]).read_text()) for w in (ref_wd, wd))
    timing = {k for k in ma if "second" in k or "time" in k}
    assert {k: v for k, v in ma.items() if k not in timing} == {k: v for k, v in mb.items() if k not in timing}
    print(f"\nworkflow: killed at step {killed_at}/{steps}; reference + kill + rerun {wall:.1f} s wall")
