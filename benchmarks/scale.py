"""Edge-scale training benchmark (issue 13): ``qbnn.training`` strategies vs baselines on four tasks.

Every (task, method, seed) runs in its own child process, which reports its own peak resident memory
(``getrusage(RUSAGE_SELF).ru_maxrss``, measured; it includes the interpreter and torch). Writes
``benchmarks/out/scale.csv`` (one row per run, appended as runs finish), ``scale_table.md`` (means)
and ``scale.png`` (test accuracy against wall time).

``train:*`` runs also record the test accuracy of the LNS's best network at doubling times
(``curve``), drawn in ``scale_curve.png`` (accuracy against time) with STE best-of-5 as a line.

Full protocol of the issue (hours on 2 cores):
    python benchmarks/scale.py --seeds 5 --budget 120 --other-seeds 5 --other-budget 120
Reduced protocol (what benchmarks/out/scale.* holds; see the table header for the exact flags):
    python benchmarks/scale.py --seeds 3 --budget 120 --other-seeds 1 --other-budget 60 --jobs 2
Method variants: ``train:STRATEGY:WARM[:kcv|:krule|:kNN|:nomargin|:valNN]`` (κ by cross-validation — the
default since it was measured, so ``train:lns:none`` rows written before then ran the fan-in rule — / the
fan-in rule / κ = NN / margin phase off / NN % held out for the validation early stop).
A protocol split over calls (``--first-seed K`` runs seeds K..K+n-1), then merged:
    python benchmarks/scale.py --report A.csv B.csv --out benchmarks/out/NAME
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "out"
TASKS = {  # name -> layers (input width first)
    "digits10-8x8": [64, 32, 10],
    "digits3v8-8x8": [64, 16, 1],
    "digits10-6x6": [36, 24, 10],
    "breast-cancer": [30, 16, 1],
}
HELDOUT_TASKS = {  # tasks of the same kind never used to choose defaults (re-check: --tasks with these names)
    "digits10-7x7": [49, 24, 10],
    "digits1v7-8x8": [64, 16, 1],
    "wine": [13, 16, 3],
    "credit-default": [23, 16, 1],  # paper B's credit data, 1,000 seeded rows (added after the defaults were fixed)
    # paper B's other tabular files, added after κ cross-validation was chosen (never used to choose anything):
    "wbc-original": [9, 16, 1],  # original Wisconsin breast cancer, 699 rows, 9 integer features
    "uniform-n10": [10, 16, 1],  # paper B's random sets: instance seed % 10, 1,000 rows x 10 reals
    "uniform-n100": [100, 16, 1],  # 200 rows x 100 reals (more features than training rows per class)
}
PAPER_B = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "paper-b"  # the repo's ../shared
STRATEGY_METHODS = ["lns", "lns-pt", "lns-milp", "consensus"]  # qbnn train --warm-start none
OTHER_METHODS = ["pt", "ste-pt", "ste5", "mlp", "logreg", "mip-split"]
MAIN_METHODS = ["train:lns:none", "train:lns:ste", "ste5"]  # the targets' methods: --seeds, --budget


def make_task(name: str, seed: int):
    """``(Xtr, ytr, Xte, yte)`` ±1 int8 inputs; labels ±1 (one output) or class indices. Splits seeded."""
    from sklearn.datasets import load_breast_cancer, load_digits
    from sklearn.model_selection import train_test_split

    if name == "wine":
        from sklearn.datasets import load_wine

        X, y = load_wine(return_X_y=True)
        Xtr, Xte, ytr, yte = train_test_split(X, y, train_size=0.7, random_state=seed, stratify=y)
        med = np.median(Xtr, axis=0)
        b = lambda A: np.where(A >= med, 1, -1).astype(np.int8)  # noqa: E731
        return b(Xtr), ytr, b(Xte), yte
    if name in ("wbc-original", "uniform-n10", "uniform-n100"):  # 70/30 stratified, binarised at the training median
        file = {"wbc-original": "breast-cancer-wisconsin.csv", "uniform-n10": f"Uniform_N10_m1000_{seed % 10}.csv",
                "uniform-n100": f"Uniform_N100_m200_{seed % 10}.csv"}[name]
        data = np.loadtxt(PAPER_B / file, delimiter=";")
        X, y = data[:, :-1], data[:, -1].astype(int)
        Xtr, Xte, ytr, yte = train_test_split(X, y, train_size=0.7, random_state=seed, stratify=y)
        med = np.median(Xtr, axis=0)
        b = lambda A: np.where(A >= med, 1, -1).astype(np.int8)  # noqa: E731
        return b(Xtr), np.where(ytr == 1, 1, -1), b(Xte), np.where(yte == 1, 1, -1)
    if name in ("breast-cancer", "credit-default"):
        if name == "credit-default":  # 30,000 rows: a seeded stratified 700 train / 300 test subsample
            data = np.loadtxt(PAPER_B / "default_of_credit_card_clients.csv", delimiter=";")
            X, y = data[:, :-1], data[:, -1].astype(int)
            Xtr, Xte, ytr, yte = train_test_split(X, y, train_size=700, test_size=300, random_state=seed, stratify=y)
        else:
            X, y = load_breast_cancer(return_X_y=True)
            Xtr, Xte, ytr, yte = train_test_split(X, y, train_size=0.7, random_state=seed, stratify=y)
        med = np.median(Xtr, axis=0)
        b = lambda A: np.where(A >= med, 1, -1).astype(np.int8)  # noqa: E731
        return b(Xtr), np.where(ytr == 1, 1, -1), b(Xte), np.where(yte == 1, 1, -1)
    X, y = load_digits(return_X_y=True)
    if name in ("digits10-6x6", "digits10-7x7"):
        from qbnn.data.binarise import downsample_images

        side = int(name[-1])
        X = downsample_images(X.reshape(-1, 8, 8), side).reshape(len(X), -1)
    if name in ("digits3v8-8x8", "digits1v7-8x8"):
        a, b_ = (3, 8) if name == "digits3v8-8x8" else (1, 7)
        m = np.isin(y, (a, b_))
        X, y = X[m], np.where(y[m] == b_, 1, -1)
        Xtr, Xte, ytr, yte = train_test_split(X, y, train_size=0.7, random_state=seed, stratify=y)
    else:
        Xtr, Xte, ytr, yte = train_test_split(X, y, train_size=1000, random_state=seed, stratify=y)
    thr = Xtr.mean()
    b = lambda A: np.where(A >= thr, 1, -1).astype(np.int8)  # noqa: E731
    return b(Xtr), ytr, b(Xte), yte


def run_one(task: str, method: str, seed: int, budget: float) -> dict:
    import torch

    from qbnn.topology import Topology
    from qbnn.training import TrainingProblem, train

    torch.set_num_threads(1)
    Xtr, ytr, Xte, yte = make_task(task, seed)
    topo = Topology.layered({**TASKS, **HELDOUT_TASKS}[task])
    t0 = time.perf_counter()
    row = {"task": task, "method": method, "seed": seed, "budget_s": budget, "n_train": len(ytr), "n_test": len(yte)}
    w = None
    if method.startswith("train:"):
        _, strategy, warm, *variant = method.split(":")  # train:S:W[:nomargin|:valNN|:kcv|:kNN] (margin
        val = [int(v[3:]) / 100 for v in variant if v.startswith("val")]  # phase off / NN % held out for
        kappa = [v[1:] for v in variant if v.startswith("k")]  # validation / κ by cross-validation / κ = NN)
        res = train(topo, Xtr, ytr, strategy=strategy, warm_start=warm, time_limit=budget, seed=seed,
                    margin_phase="nomargin" not in variant, validation=val[0] if val else 0.0,
                    kappa=kappa[0] if kappa else None)
        w = res.weights
        row["curve"] = json.dumps([[round(t, 2), topo.accuracy(ws, Xte, yte)] for t, ws in res.snapshots])
        row["info"] = json.dumps({k: v for k, v in res.summary(topo).items() if k not in ("loss", "prediction")})
    elif method in ("pt", "ste-pt"):
        if method == "pt":
            res = train(topo, Xtr, ytr, strategy="pt", warm_start="none", time_limit=budget, seed=seed)
            w = res.weights
        else:
            from qbnn.bnn_solving import solve_bnn

            w = solve_bnn(TrainingProblem(topo, Xtr, ytr), "ste-pt", replicas=16, steps=10**9, time_limit=budget,
                          seed=seed).weights
    elif method in ("ste5", "mlp", "logreg"):
        from qbnn.baselines import run_baseline

        res = run_baseline("ste" if method == "ste5" else method, topo, Xtr, ytr, Xte, yte, seed=seed,
                           **({"restarts": 5} if method == "ste5" else {}))
        w = res.get("weights") if method == "ste5" else None
        if w is None:
            row.update(train_accuracy=res.get("train_accuracy"), test_accuracy=res.get("test_accuracy"))
    elif method == "mip-split":
        from qbnn.mip import MIPNetwork

        net = MIPNetwork({**TASKS, **HELDOUT_TASKS}[task], "split", time_limit=budget, seed=seed, threads=1)
        net.fit(Xtr.astype(float), ytr)
        row.update(train_accuracy=net.score(Xtr.astype(float), ytr), test_accuracy=net.score(Xte.astype(float), yte))
    else:
        raise ValueError(method)
    row["wall_s"] = round(time.perf_counter() - t0, 2)
    if w is not None:
        w = np.asarray(w, dtype=np.int8)
        row.update(train_accuracy=topo.accuracy(w, Xtr, ytr), test_accuracy=topo.accuracy(w, Xte, yte),
                   train_loss=int(topo.training_loss(w, Xtr, ytr)))
    ru = resource.getrusage(resource.RUSAGE_SELF)
    row["peak_mb"] = round(ru.ru_maxrss / 1024, 1)
    row["cpu_s"] = round(ru.ru_utime + ru.ru_stime, 1)  # the compute the run actually got on the shared cores
    return row


def methods(seeded: str) -> list[str]:
    return [f"train:{s}:none" for s in STRATEGY_METHODS] + [f"train:{seeded}:ste"] + OTHER_METHODS


def table(rows: list[dict], header: str) -> str:
    import pandas as pd

    df = pd.DataFrame(rows)
    g = df.groupby(["task", "method"], sort=False)
    agg = g.agg(train_acc=("train_accuracy", "mean"), test_acc=("test_accuracy", "mean"),
                train_loss=("train_loss", "mean") if "train_loss" in df else ("wall_s", "size"),
                wall_s=("wall_s", "mean"), cpu_s=("cpu_s", "mean"), peak_mb=("peak_mb", "max"), runs=("seed", "size")).reset_index()
    lines = [header, "", "| task | method | train acc | test acc | train loss | wall s | cpu s | peak MB | runs |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in agg.itertuples():
        loss = "" if not np.isfinite(r.train_loss) else f"{r.train_loss:.1f}"
        lines.append(f"| {r.task} | {r.method} | {r.train_acc:.3f} | {r.test_acc:.3f} | {loss} | {r.wall_s:.1f} | "
                     f"{r.cpu_s:.1f} | {r.peak_mb:.0f} | {r.runs} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(r["task"] for r in rows))
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for m in dict.fromkeys(r["method"] for r in rows if r["task"] == task):
            pts = [(r["wall_s"], r["test_accuracy"]) for r in rows if r["task"] == task and r["method"] == m]
            ax.scatter(*zip(*pts), label=m, s=18)
        ax.set_title(task); ax.set_xlabel("wall time (s)"); ax.set_ylabel("test accuracy"); ax.set_xscale("log")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_curves(rows: list[dict], path: Path) -> None:
    """Test accuracy of the best network so far against seconds, per ``train:*`` run; STE best-of-5 dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(r["task"] for r in rows))
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 4), squeeze=False)
    colours = {}
    for ax, task in zip(axes[0], tasks):
        for r in rows:
            if r["task"] != task or not r.get("curve") or not isinstance(r["curve"], str):
                continue
            pts = json.loads(r["curve"]) + [[r["wall_s"], r["test_accuracy"]]]
            c = colours.setdefault(r["method"], f"C{len(colours)}")
            ax.plot(*zip(*pts), color=c, alpha=0.7, marker=".", label=r["method"])
        ste = [r["test_accuracy"] for r in rows if r["task"] == task and r["method"] == "ste5"]
        if ste:
            ax.axhline(float(np.mean(ste)), color="k", ls="--", label="ste5 (mean)")
        h, lab = ax.get_legend_handles_labels()
        keep = dict(zip(lab, h))
        ax.legend(keep.values(), keep.keys(), fontsize=7, loc="lower right")
        ax.set_title(task); ax.set_xlabel("seconds"); ax.set_ylabel("test accuracy"); ax.set_xscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


PAIRED = [  # (variant, reference): paired per (task, seed) — same split, same warm-start seed
    ("train:lns:none", "ste5"), ("train:lns:ste", "ste5"),
    ("train:lns:none", "train:lns:none:nomargin"), ("train:lns:ste", "train:lns:ste:nomargin"),
    ("train:lns:none:val20", "train:lns:none"), ("train:lns:ste:val20", "train:lns:ste"),
    ("train:lns:none:val20", "ste5"), ("train:lns:ste:val20", "ste5"),
    ("train:lns:none:kcv", "ste5"), ("train:lns:ste:kcv", "ste5"),  # κ by cross-validation (:kcv) against the
    ("train:lns:none:kcv", "train:lns:none"), ("train:lns:ste:kcv", "train:lns:ste"),  # fan-in rule (rows run
    ("train:lns:none:krule", "ste5"), ("train:lns:ste:krule", "ste5"),  # before the default became cv) /
    ("train:lns:none", "train:lns:none:krule"), ("train:lns:ste", "train:lns:ste:krule"),  # :krule (after)
    ("train:lns:none:kcv", "train:lns:none:krule")]


def paired(rows: list[dict]) -> str:
    """Markdown table of paired differences (variant − reference, same task and seed) in test accuracy
    and documented training loss: mean Δ with a t 95 % interval, wins/losses/ties, Wilcoxon and sign-test
    p (``qbnn.paired``). Pairs only seeds where both ran."""
    import pandas as pd

    from qbnn.paired import paired_table

    df = pd.DataFrame(rows)
    lines = ["| task | variant − reference | n | test Δ (pt) | 95 % CI | W/L/T | p Wilcoxon | p sign | "
             "train loss Δ | W/L/T (lower) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for v, ref in PAIRED:
        sub = df[df.method.isin([v, ref])]
        if sub.empty or sub.method.nunique() < 2 or "train_loss" not in sub:
            continue
        shared = sub.groupby(["task", "seed"]).method.nunique()
        sub = sub.set_index(["task", "seed"]).loc[shared[shared == 2].index].reset_index()  # both ran
        if sub.empty:
            continue
        sub = sub.assign(neg_loss=-sub["train_loss"].astype(float))
        acc = paired_table(sub, ref, group="task", variant="method")
        loss = paired_table(sub.dropna(subset=["neg_loss"]), ref, group="task", variant="method", value="neg_loss")
        for a in acc.itertuples():
            lo = loss[loss.task == a.task].iloc[0]
            lines.append(f"| {a.task} | {v} − {ref} | {a.n} | {100 * a.delta_mean + 0.0:+.1f} | "
                         f"[{100 * a.ci_low:+.1f}, {100 * a.ci_high:+.1f}] | {a.wins}/{a.losses}/{a.ties} | "
                         f"{a.p_wilcoxon:.2f} | {a.p_sign:.2f} | {-lo.delta_mean + 0.0:+.1f} | "
                         f"{lo.wins}/{lo.losses}/{lo.ties} |")
    return "\n".join(lines) + "\n"


def job_list(tasks: list[str], ms: list[str], main_m: list[str], seeds: int, o_seeds: int, budget: float,
             o_budget: float, first_seed: int = 0) -> list[tuple[str, str, int, float]]:
    """``(task, method, seed, budget)`` per run, seed-major: main methods get seeds ``first_seed`` ..
    ``first_seed + seeds - 1`` and ``budget``, the others ``o_seeds`` seeds from the same start and
    ``o_budget``; so a protocol can be split over several calls and merged with ``--report``."""
    return [(task, m, first_seed + i, budget if m in main_m else o_budget)
            for i in range(max(seeds, o_seeds)) for task in tasks for m in ms
            if i < (seeds if m in main_m else o_seeds)]


def merge_runs(frames: list, tasks: list[str] | None = None, ms: list[str] | None = None):
    """Rows of the run CSVs ``frames`` (DataFrames) of ``tasks`` and methods ``ms`` (all when None);
    ValueError when a (task, method, seed) occurs twice, which would be averaged and mis-paired."""
    import pandas as pd

    df = pd.concat(frames, ignore_index=True)
    df = df[df.task.isin(tasks or df.task) & df.method.isin(ms or df.method)]
    dup = df[df.duplicated(["task", "method", "seed"], keep=False)]
    if not dup.empty:
        r = dup.iloc[0]
        raise ValueError(f"{len(dup)} rows repeat a (task, method, seed), e.g. {r.task} {r.method} {r.seed}; "
                         "narrow --tasks/--methods or the files")
    return df


def _child(task: str, m: str, seed: int, budget: float) -> dict | None:
    p = subprocess.run([sys.executable, __file__, "--one", task, m, str(seed), str(budget)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        print(f"FAILED {task} {m} {seed}: {p.stderr.strip().splitlines()[-1:]}", flush=True)
        return None
    row = json.loads(p.stdout.strip().splitlines()[-1])
    row["load1"] = round(os.getloadavg()[0], 2)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5, help="seeds of the main methods (lns none / ste, ste5)")
    ap.add_argument("--budget", type=float, default=120.0, help="seconds per time-limited main method")
    ap.add_argument("--other-seeds", type=int, help="seeds of the other methods (default --seeds)")
    ap.add_argument("--other-budget", type=float, help="seconds per other time-limited method (default --budget)")
    ap.add_argument("--first-seed", type=int, default=0, metavar="K", help="run seeds K .. K+n-1 (to split a "
                                                                 "protocol over calls; merge with --report)")
    ap.add_argument("--jobs", type=int, default=1, help="child processes at a time")
    ap.add_argument("--tasks", nargs="*", help="default: the issue's four tasks (with --report: every task)")
    ap.add_argument("--methods", nargs="*", help="default: every strategy (warm start none), --seeded with ste, "
                                                 "and the baselines (with --report: every method)")
    ap.add_argument("--seeded", default="lns", help="strategy run with --warm-start ste (default lns)")
    ap.add_argument("--out", default=str(OUT / "scale"), help="output prefix (.csv, _table.md, .png)")
    ap.add_argument("--one", nargs=4, metavar=("TASK", "METHOD", "SEED", "BUDGET"), help=argparse.SUPPRESS)
    ap.add_argument("--report", nargs="+", metavar="CSV", help="no runs: merge these run CSVs (only the rows of "
                                                              "--tasks/--methods when given) into --out's table, "
                                                              "paired table (_paired.md) and plots")
    a = ap.parse_args()
    if a.report:
        import pandas as pd

        out = Path(a.out)
        try:
            rows = merge_runs([pd.read_csv(f) for f in a.report], a.tasks, a.methods).to_dict("records")
        except ValueError as e:
            ap.error(str(e))
        pd.DataFrame(rows).to_csv(out.with_suffix(".csv"), index=False)
        kept = "".join(f"; {k} {' '.join(v)}" for k, v in (("tasks", a.tasks), ("methods", a.methods)) if v)
        names = ", ".join(Path(f).name for f in a.report)
        Path(str(out) + "_table.md").write_text(table(rows, f"Merged from {names} (rows kept: all{kept})."))
        Path(str(out) + "_paired.md").write_text(paired(rows))
        plot(rows, out.with_suffix(".png"))
        plot_curves(rows, Path(str(out) + "_curve.png"))
        return
    if a.one:
        print(json.dumps(run_one(a.one[0], a.one[1], int(a.one[2]), float(a.one[3]))))
        return
    import pandas as pd

    a.tasks = a.tasks or list(TASKS)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    load0 = os.getloadavg()
    t0 = time.time()
    o_seeds = a.seeds if a.other_seeds is None else a.other_seeds
    o_budget = a.budget if a.other_budget is None else a.other_budget
    main_m = [f"train:lns:none", f"train:{a.seeded}:ste", "ste5"]
    jobs = job_list(a.tasks, a.methods or methods(a.seeded), main_m, a.seeds, o_seeds, a.budget, o_budget,
                    a.first_seed)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max(1, a.jobs)) as ex:
        for row in ex.map(lambda j: _child(*j), jobs):
            if row is None:
                continue
            rows.append(row)
            print(json.dumps({k: row.get(k) for k in ("task", "method", "seed", "train_accuracy", "test_accuracy",
                                                      "train_loss", "wall_s", "cpu_s", "peak_mb")}), flush=True)
            pd.DataFrame(rows).to_csv(out.with_suffix(".csv"), index=False)
    first = f" --first-seed {a.first_seed}" if a.first_seed else ""
    header = (f"Protocol: `python benchmarks/scale.py --seeds {a.seeds}{first} --budget {a.budget:g} "
              f"--other-seeds {o_seeds} --other-budget {o_budget:g} --jobs {a.jobs}` — {len(a.tasks)} tasks; "
              f"{', '.join(main_m)}: {a.seeds} seeds × {a.budget:g} s; other methods: {o_seeds} seeds × "
              f"{o_budget:g} s; {a.jobs} run(s) at a time; "
              f"total {(time.time() - t0) / 60:.1f} min; load average at start {load0[0]:.2f}, at end "
              f"{os.getloadavg()[0]:.2f} (2-core CPU shared with other jobs). Means over seeds; peak MB = max over "
              f"seeds of each child process's measured peak RSS; cpu s = the process time a run actually got.")
    Path(str(out) + "_table.md").write_text(table(rows, header))
    plot(rows, out.with_suffix(".png"))
    plot_curves(rows, Path(str(out) + "_curve.png"))


if __name__ == "__main__":
    main()
