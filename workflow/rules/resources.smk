# Cluster resources of the rules (docs/cluster.md): mem_mb from qbnn's own memory estimate (qbnn.memory, the
# figures its memory guard checks) for the job's problem size, runtime from the configured time limits. Both
# double with every attempt, so a job killed for memory or time is retried with more (`retries` in the
# profile). The functions read only the config and topology files, never a job's inputs, so a dry run shows
# every job's numbers instead of "<TBD>".
import functools
import math

import h5py

# Peak RSS of the interpreter and imports, measured with /usr/bin/time on the tiny config (qbnn evaluate,
# decode, compile: 55-75 MB; solve 300 MB; baseline 385 MB), rounded up.
# data: binarise holds a raw float64 source (MNIST: 376 MB); mip: HiGHS (199 MB on the tiny config)
BASE_MB = {"light": 256, "torch": 768, "data": 2048, "mip": 1024}
# When the problem size is unknown (no train_size in the config and no binarised data yet, or qbnn not
# importable by the Snakemake process itself): a flat request.
FALLBACK_MB = 4000
# Minutes added to every time limit (start-up, compile, decode, writing results), and the runtime of jobs
# that run a fixed step budget (time_limit null) or have no limit at all.
STARTUP_MIN = 5
UNLIMITED_MIN = 60


def _train_size(dataset):
    """Training samples of ``dataset``: the config's train_size, else the binarised file's when it exists."""
    size = config["datasets"][dataset].get("train_size")
    if size is not None:
        return int(size)
    path = Path(f"results/data/{dataset}.h5")
    if path.is_file():
        with h5py.File(path, "r") as f:
            return int(f["train/X"].shape[0])
    return None


@functools.lru_cache(maxsize=None)
def problem_estimate(dataset, topology, with_margin):
    """qbnn.compiler.compile_estimate (variables, nonzeros, bytes) of the full training QUBO, or None."""
    samples = _train_size(dataset)
    path = resolve_config_path(config["topologies"][topology])
    if samples is None or path is None:
        return None
    try:
        from qbnn.errors import QbnnError
        from qbnn.compiler import compile_estimate
        from qbnn.topology import Topology
    except ImportError:  # Snakemake runs without qbnn (e.g. in its own env): the job's own guard decides
        return None
    try:
        return compile_estimate(Topology.load(str(path)), samples, 1.0 if with_margin else 0.0)
    except QbnnError:  # e.g. a layered topology without its input width: known only from the data
        return None


def _solve_bytes(est, solver, replicas, steps):
    """Host bytes qbnn.storage_layout.guard_solve checks for this QUBO solved by ``solver`` with ``replicas``
    replicas for ``steps`` steps (nonzeros: the raw, pre-merge upper bound)."""
    from qbnn.qubo import QUBO_BYTES_PER_NNZ, QUBO_BYTES_PER_VAR
    from qbnn.storage_layout import solve_estimate

    n, nnz = est["variables"], est["nonzeros"]
    host = solve_estimate(n, nnz, replicas, solver, "cpu", steps=steps)["host_bytes"]
    return host + nnz * QUBO_BYTES_PER_NNZ + n * QUBO_BYTES_PER_VAR


def solve_settings(kind, wildcards):
    """(solver, replicas, steps) a job of ``kind`` solves with: a solve job its solver's settings, a per-round
    evaluation the experiment's showcase solver's, a dropout subnetwork the experiment's ``dropout`` section
    (solver, replicas, steps: what dropout.smk passes to qbnn dropout-subnetwork; the schema fills the
    registry's SUBNETWORK_DEFAULTS)."""
    if kind == "subnetwork":
        d = {**SOLVER_REGISTRY.SUBNETWORK_DEFAULTS, **dropout_settings(wildcards)}
        return d["solver"], d["replicas"], d["steps"]
    solver = wildcards.solver if kind == "solve" else showcase_solver(wildcards.exp)
    settings = solver_settings_for(solver)
    return solver, settings["replicas"], settings["steps"]


def _run_keys(wildcards):
    """(dataset, topology, margin > 0) of a job, from its wildcards or its experiment."""
    if "exp" in wildcards.keys():
        exp = config["experiments"][wildcards.exp]
        dataset, topology = exp["dataset"], exp["topology"]
    else:
        dataset, topology = wildcards.dataset, wildcards.topology
    return dataset, topology, float(wildcards.get("margin", 0.0)) > 0


def problem_bytes(kind, wildcards):
    """Estimated peak bytes of the job's problem (0 for jobs whose size does not grow with it), or None."""
    if kind in BASE_MB:
        return 0
    est = problem_estimate(*_run_keys(wildcards))
    if est is None:
        return None
    if kind == "compile":
        return est["bytes"]
    if kind == "qubo":  # decode: loads the QUBO once
        from qbnn.qubo import QUBO_BYTES_PER_NNZ, QUBO_BYTES_PER_VAR

        return est["nonzeros"] * QUBO_BYTES_PER_NNZ + est["variables"] * QUBO_BYTES_PER_VAR
    solve = _solve_bytes(est, *solve_settings(kind, wildcards))
    # round / subnetwork jobs compile and then solve in one process: the larger of the two (a subnetwork's
    # QUBO is a part of the full one, whose size bounds it)
    return solve if kind == "solve" else max(est["bytes"], solve)


def base_mb(kind):
    """Interpreter and imports of a job of ``kind`` (see memory_guard_env)."""
    return BASE_MB.get(kind, BASE_MB["light" if kind in ("compile", "qubo") else "torch"])


# Where mem_mb is a real limit (a cluster job, whose cgroup enforces it, or a local run with a
# `--resources mem_mb=` budget), the rules that have an estimate hand qbnn's memory guard the granted memory
# less the interpreter (QBNN_MEMORY_LIMIT_MB), so the guard refuses with a one-line estimate what the scheduler
# would kill, and the retry, with doubled mem_mb, has room. Elsewhere the variable stays empty and the guard
# checks the machine's available memory as usual. Shell prefix of those rules (one line):
#   QBNN_MEMORY_LIMIT_MB=$(test {params.memory_is_granted} = 1 &&
#                          echo $(({resources.mem_mb} - {params.interpreter_mb})))
# The arithmetic happens in the shell on {resources.mem_mb}: Snakemake re-evaluates resources for a retry but
# keeps the first attempt's params.
MEMORY_IS_GRANTED = int(workflow.remote_exec or workflow.non_local_exec or "mem_mb" in workflow.global_resources)


def mem_mb(kind):
    """Resource function: interpreter + memory_scale x estimate, doubled on each retry."""

    def inner(wildcards, attempt):
        need = problem_bytes(kind, wildcards)
        if need is None:
            return FALLBACK_MB * 2 ** (attempt - 1)
        scaled = need * config.get("memory_scale", 1.0) / 2**20
        return math.ceil((base_mb(kind) + scaled) * 2 ** (attempt - 1))

    return inner


def runtime_min(seconds):
    """Resource function (minutes): ``seconds(wildcards)`` (None: no limit) plus start-up, times the attempt."""

    def inner(wildcards, attempt):
        s = seconds(wildcards) if callable(seconds) else seconds
        return (STARTUP_MIN + (math.ceil(s / 60) if s else UNLIMITED_MIN)) * attempt

    return inner
