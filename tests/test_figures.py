"""Paper figures and the per-variant summary, drawn from a tiny real run (binarise, compile, solve, decode,
evaluate, dropout rounds, baselines) laid out exactly like the workflow's results/ tree."""
import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as student_t

from qbnn.cli import main
from qbnn.figures import runs as figures
from qbnn.data import load_dataset
from qbnn.report import load_metrics, summarise_variants
from qbnn.topology import Network, Topology

ROOT = Path(__file__).resolve().parents[1]
H2 = str(ROOT / "config/topologies/h2.yaml")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(capsys, *argv):
    assert main([str(a) for a in argv]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _is_png(path):
    import matplotlib.image as mpimg

    p = Path(path)
    assert p.read_bytes()[:8] == PNG_MAGIC and p.stat().st_size > 2000
    assert mpimg.imread(p).ndim == 3
    assert not [q for q in p.parent.iterdir() if q.name.startswith(".") or "tmp" in q.name]  # atomic writes


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """results/ tree of experiment ``tiny``: λ ∈ {0, 0.05} × solvers {sa, portfolio} × seeds {0, 1}, plus
    dropout (R = 2, seed 0 and 1), its round-0 evaluation, and greedy/logreg baselines."""
    base = tmp_path_factory.mktemp("wf")
    r = base / "results"
    cfg = base / "bas4.yaml"
    cfg.write_text("datasets:\n  bas4: {source: bars_and_stripes, size: 4, train_size: 16, test_size: 12, seed: 0}\n")
    data = r / "data/bas4.h5"
    data.parent.mkdir(parents=True)
    assert main(["binarise", "--config", str(cfg), "--dataset", "bas4", "--out", str(data)]) == 0
    d = "bas4/h2"
    for sub in ("qubo", "solve", "networks", "evaluate", "baselines"):
        (r / sub / d).mkdir(parents=True)
    evals = []
    at = "experiment=tiny,dataset=bas4,topology=h2"  # the identity the workflow's rules pass

    def solve_chain(qname, solver, seed, margin, dropout):
        sol = r / f"solve/{d}/{qname}_{solver}_s{seed}.h5"
        net = r / f"networks/{d}/qubo_{qname}_{solver}_s{seed}.h5"
        ev = r / f"evaluate/{d}/qubo_{qname}_{solver}_s{seed}.json"
        assert main(["solve", str(r / f"qubo/{d}/{qname}.h5"), "--solver", solver, "--replicas", "8",
                     "--steps", "200", "--time-limit", "0.5", "--seed", str(seed), "--out", str(sol)]) == 0
        assert main(["decode", str(r / f"qubo/{d}/{qname}.h5"), "--sample", str(sol), "--out", str(net)]) == 0
        method = f"qubo{'+dropout' if dropout else ''}_{solver}"
        ident = (f"{at},method={method},solver={solver},margin={margin},dropout={str(dropout).lower()},"
                 f"{'dropout_exp=tiny,' if dropout else ''}seed={seed}")
        assert main(["evaluate", str(net), "--data", str(data), "--identity", ident, "--out", str(ev)]) == 0
        evals.append(ev)

    for margin in ("0.0", "0.05"):
        assert main(["compile", "--data", str(data), "--network", H2, "--margin", margin, "--identity",
                     f"dataset=bas4,topology=h2,margin={margin},dropout=false",
                     "--out", str(r / f"qubo/{d}/m{margin}.h5")]) == 0
        for solver in ("sa", "portfolio"):
            for seed in (0, 1):
                solve_chain(f"m{margin}", solver, seed, margin, False)
        for seed in (0, 1):
            rd = r / f"dropout/tiny/m{margin}_s{seed}"
            rd.mkdir(parents=True)
            for rnd in (0, 1):
                prev = ["--previous", str(rd / f"round{rnd - 1}.h5")] if rnd else []
                assert main(["dropout-penalties", "--data", str(data), "--network", H2, "--round", str(rnd), *prev,
                             "--K", "2", "--solver", "greedy", "--time-limit", "0.2", "--margin", margin,
                             "--seed", str(seed), "--out", str(rd / f"round{rnd}.h5")]) == 0
            # round 0's full QUBO, evaluated with the identity the dropout_round_eval rule passes
            assert main(["compile", "--data", str(data), "--network", H2, "--margin", margin, "--weight-penalties",
                         str(rd / "round0.h5"), "--out", str(rd / "round0_qubo.h5")]) == 0
            assert main(["solve", str(rd / "round0_qubo.h5"), "--solver", "sa", "--replicas", "8", "--steps", "200",
                         "--time-limit", "0.5", "--seed", str(seed), "--out", str(rd / "round0_solution.h5")]) == 0
            assert main(["decode", str(rd / "round0_qubo.h5"), "--sample", str(rd / "round0_solution.h5"),
                         "--out", str(rd / "round0_network.h5")]) == 0
            assert main(["evaluate", str(rd / "round0_network.h5"), "--data", str(data), "--out",
                         str(rd / "round0_eval.json"), "--identity",
                         f"{at},method=qubo+dropout_sa,solver=sa,margin={margin},dropout=true,dropout_exp=tiny,"
                         f"dropout_round=0,seed={seed}"]) == 0
            qname = f"m{margin}_dropout-tiny-s{seed}"
            assert main(["compile", "--data", str(data), "--network", H2, "--margin", margin, "--weight-penalties",
                         str(rd / "round1.h5"), "--identity",
                         f"dataset=bas4,topology=h2,margin={margin},dropout=true,dropout_exp=tiny,seed={seed}",
                         "--out", str(r / f"qubo/{d}/{qname}.h5")]) == 0
            solve_chain(qname, "sa", seed, margin, True)
    for method in ("greedy", "logreg"):
        for seed in (0, 1):
            out = r / f"baselines/{d}/{method}_s{seed}.json"
            assert main(["baseline", "--data", str(data), "--network", H2, "--method", method, "--seed", str(seed),
                         "--identity", at, "--out", str(out)]) == 0
            evals.append(out)
    metrics = r / "report/metrics.csv"
    assert main(["aggregate", *map(str, evals), "--out", str(metrics), "--summary", str(r / "report/summary.csv"),
                 "--figure", str(r / "report/accuracy.png")]) == 0
    return {"root": r, "data": data, "d": d, "metrics": metrics}


def test_energy_traces_are_the_stored_traces(runs, capsys):
    r, d = runs["root"], runs["d"]
    sols = sorted(p for p in (r / f"solve/{d}").glob("m0.0_*_s*.h5") if "dropout" not in p.name)
    assert len(sols) == 4
    out = r / "figs/energy.png"
    traces = figures.plot_energy_traces(sols, out)
    _is_png(out)
    for tr, p in zip(traces, sols):
        with h5py.File(p) as f:
            stored = f["trace"][()]
            best = f.attrs["best_energy"]
        np.testing.assert_array_equal(tr["energy"], stored[:, 2])
        assert np.all(np.diff(tr["energy"]) <= 1e-9)  # best-so-far never rises
        assert tr["energy"][-1] == pytest.approx(best)  # the trace ends at the stored solution
    assert {t["solver"] for t in traces} == {"sa", "portfolio"}
    s = _run(capsys, "figures", "--solutions", *sols, "--energy-out", r / "figs/energy_cli.png")
    assert s["energy"]["traces"] == 4 and s["energy"]["solvers"] == ["portfolio", "sa"]
    _is_png(r / "figs/energy_cli.png")


def test_weight_images_equal_first_layer_weights(runs):
    r, d = runs["root"], runs["d"]
    nets = sorted((r / f"networks/{d}").glob("*_s0.h5"))
    _, _, _, _, attrs = load_dataset(runs["data"])
    rows = figures.plot_weight_images(nets, r / "figs/weights.png", {"bas4": attrs})
    _is_png(r / "figs/weights.png")
    assert len(rows) == len(nets)
    for row, p in zip(rows, nets):
        net = Network.load(p)
        t = net.topology
        assert row["names"] == list(t.names[:2])  # the two hidden neurons; the output reads no pixels
        assert row["margin"] in (0.0, 0.05) and row["seed"] == 0
        for j in range(2):
            w = net.weights[t.weight_slice(j)]
            np.testing.assert_array_equal(row["images"][j].ravel(), w[:16])
            assert row["biases"][j] == w[16]


def test_weight_images_of_sparse_topology_mark_unconnected_pixels():
    topo = Topology.load(ROOT / "config/topologies/skip.yaml")
    rng = np.random.default_rng(3)
    net = Network(topo, rng.choice(np.array([-1, 1], dtype=np.int8), topo.n_weights))
    names, imgs, biases = figures.first_layer_images(net, (4, 4))
    assert names == ["h0", "h1", "h2", "h3", "out"]  # the output reads pixel x5 directly
    for k, name in enumerate(names):
        src = np.asarray(topo.sources[k])
        w = net.weights[topo.weight_slice(k)]
        flat = imgs[k].ravel()
        pix = src < 16
        np.testing.assert_array_equal(flat[src[pix]], w[: len(src)][pix])
        assert np.count_nonzero(flat) == pix.sum()  # every other pixel is 0 (grey)
        assert biases[k] == w[-1]


def test_margin_histogram_counts(runs):
    r, d = runs["root"], runs["d"]
    nets = sorted((r / f"networks/{d}").glob("*.h5"))
    Xtr, *_ = load_dataset(runs["data"])
    table = figures.plot_margin_histograms(nets, r / "figs/margins.png", {"bas4": Xtr})
    _is_png(r / "figs/margins.png")
    S = len(Xtr)
    for (dropout, margin, layer), g in table.groupby(["dropout", "margin", "layer"]):
        n_nets = g["networks"].iloc[0]
        assert g["count"].sum() == S * (2 if layer == "hidden" else 1) * n_nets
    plain0 = table[(table.margin == 0.0) & ~table.dropout.astype(bool)]
    assert plain0["networks"].iloc[0] == 4  # 2 solvers x 2 seeds
    # recompute one group by hand: output neuron of the plain λ=0.05 networks
    Ms = []
    for p in nets:
        if p.name.startswith("qubo_m0.05_") and "dropout" not in p.name:
            net = Network.load(p)
            Z, _ = net.topology.forward(net.weights, Xtr)
            Ms.append(np.abs(Z[:, 2]) / 3.0)  # output fan-in: 2 hidden + bias
    hand, _ = np.histogram(np.concatenate(Ms), bins=figures.MARGIN_EDGES)
    got = table[(table.margin == 0.05) & ~table.dropout.astype(bool) & (table.layer == "output")]["count"]
    np.testing.assert_array_equal(got.to_numpy(), hand)


def test_dropout_rounds_table_and_figure(runs, capsys):
    r = runs["root"]
    metrics = pd.read_csv(runs["metrics"])
    rounds = sorted((r / "dropout/tiny").glob("*/round0_eval.json"))
    table = figures.dropout_rounds_table(rounds, metrics, {"tiny": 2})
    # per (λ, seed): plain run (0), round-0 penalties (1), final qubo+dropout run (2), all solved with sa
    assert len(table) == 2 * 2 * 3
    assert set(table["solver"]) == {"sa"} and set(table["dataset"]) == {"bas4"}
    for (margin, seed), g in table.groupby(["margin", "seed"]):
        assert list(g["rounds"]) == [0, 1, 2]
        plain = json.loads((r / f"evaluate/{runs['d']}/qubo_m{margin}_sa_s{seed}.json").read_text())
        final = json.loads((r / f"evaluate/{runs['d']}/qubo_m{margin}_dropout-tiny-s{seed}_sa_s{seed}.json").read_text())
        mid = json.loads((r / f"dropout/tiny/m{margin}_s{seed}/round0_eval.json").read_text())
        assert list(g["test_accuracy"]) == pytest.approx([plain["test_accuracy"], mid["test_accuracy"],
                                                          final["test_accuracy"]])
    stats = figures.plot_dropout_rounds(table, r / "figs/rounds.png")
    _is_png(r / "figs/rounds.png")
    assert (stats["n"] == 2).all() and len(stats) == 2 * 3
    s = _run(capsys, "figures", "--rounds", *rounds, "--metrics", runs["metrics"], "--dropout-rounds", "tiny=2",
             "--rounds-out", r / "figs/rounds_cli.png", "--rounds-table", r / "figs/rounds.csv")
    assert s["rounds"]["runs"] == 12 and s["rounds"]["experiments"] == ["tiny"]
    assert pd.read_csv(r / "figs/rounds.csv").shape[0] == 12


def test_summary_has_every_variant_with_t_intervals(runs):
    summary = pd.read_csv(runs["root"] / "report/summary.csv")
    assert {"QUBO plain", "QUBO +margin", "QUBO +dropout", "QUBO +both", "greedy", "logreg"} <= set(summary["variant"])
    df = load_metrics(sorted(Path(p) for p in pd.read_csv(runs["metrics"])["source_file"]))
    again = summarise_variants(df)
    assert len(again) == len(summary)
    row = summary[(summary.variant == "QUBO +margin") & (summary.solver == "sa")].iloc[0]
    acc = df[(df.method == "qubo_sa") & (df.margin == 0.05)]["test_accuracy"].to_numpy()
    assert row["n"] == 2 and row["test_accuracy_mean"] == pytest.approx(acc.mean())
    assert row["test_accuracy_ci95"] == pytest.approx(student_t.ppf(0.975, 1) * acc.std(ddof=1) / np.sqrt(2))
    plain = summary[(summary.variant == "QUBO plain") & (summary.solver == "portfolio")].iloc[0]
    assert plain["n"] == 2 and plain["margin"] == 0.0
    greedy = summary[summary.variant == "greedy"].iloc[0]
    assert pd.isna(greedy["margin"]) and greedy["n"] == 2
    assert greedy["gap_mean"] == pytest.approx(greedy["train_accuracy_mean"] - greedy["test_accuracy_mean"])
    _is_png(runs["root"] / "report/accuracy.png")


def test_placeholders_and_bad_input(tmp_path, capsys):
    s = _run(capsys, "figures", "--rounds-out", tmp_path / "r.png", "--metrics", _empty_metrics(tmp_path),
             "--energy-out", tmp_path / "e.png")
    assert s["rounds"]["runs"] == 0 and s["energy"]["traces"] == 0
    assert (tmp_path / "r.png").read_bytes()[:8] == PNG_MAGIC
    assert main(["figures"]) == 2
    assert "nothing to draw" in capsys.readouterr().err
    assert main(["figures", "--rounds-out", str(tmp_path / "x.png"), "--metrics", str(tmp_path / "m.csv"),
                 "--dropout-rounds", "tiny"]) == 2
    assert "EXP=R" in capsys.readouterr().err
    assert main(["figures", "--solutions", str(tmp_path / "missing.h5"), "--energy-out", str(tmp_path / "y.png")]) == 2
    assert "missing.h5" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "y.png").exists()


def _empty_metrics(tmp_path):
    p = tmp_path / "m.csv"
    pd.DataFrame(columns=["method", "dataset", "topology", "seed", "train_accuracy", "test_accuracy"]).to_csv(p, index=False)
    return p


def test_renamed_files_aggregate_and_draw_the_same(runs, tmp_path, capsys):
    """Identity lives in the records: files renamed outside the workflow's naming give the same summary
    (byte for byte), the same histogram table and energy panels titled with their λ (never "λ=nan")."""
    import shutil

    r, d = runs["root"], runs["d"]
    table = pd.read_csv(runs["metrics"])
    flat = tmp_path / "flat"
    flat.mkdir()
    renamed = []
    for i, src in enumerate(reversed(table["source_file"].tolist())):  # other names, other order
        renamed.append(flat / f"run{i:02d}.json")
        shutil.copy(src, renamed[-1])
    assert main(["aggregate", *map(str, renamed), "--out", str(tmp_path / "m.csv"),
                 "--summary", str(tmp_path / "s.csv")]) == 0
    capsys.readouterr()
    again = pd.read_csv(tmp_path / "s.csv")
    pd.testing.assert_frame_equal(again, pd.read_csv(r / "report/summary.csv"))
    nets = sorted((r / f"networks/{d}").glob("*.h5"))
    copies = [shutil.copy(p, flat / f"net{i:02d}.h5") for i, p in enumerate(nets)]
    Xtr, *_ = load_dataset(runs["data"])
    want = figures.plot_margin_histograms(nets, tmp_path / "a.png", {"bas4": Xtr})
    got = figures.plot_margin_histograms(copies, tmp_path / "b.png", {"bas4": Xtr})
    pd.testing.assert_frame_equal(got, want)
    sols = sorted((r / f"solve/{d}").glob("*.h5"))
    traces = figures.plot_energy_traces([shutil.copy(p, flat / f"sol{i:02d}.h5") for i, p in enumerate(sols)],
                                        tmp_path / "e.png")
    titles = {figures.qubo_title(t["dataset"], t["topology"], t["margin"], t["exp"]) for t in traces}
    assert titles == {"bas4/h2 λ=0", "bas4/h2 λ=0.05", "bas4/h2 λ=0 +dropout tiny", "bas4/h2 λ=0.05 +dropout tiny"}
    assert {(t["solver"], t["seed"]) for t in traces} == {(s, k) for s in ("sa", "portfolio") for k in (0, 1)}


def test_aggregate_refuses_a_metrics_file_without_identity(tmp_path, capsys):
    p = tmp_path / "qubo_m0.05_sa_s0.json"  # a workflow-like name is not read as identity
    p.write_text(json.dumps({"train_accuracy": 1.0, "test_accuracy": 0.5}))
    assert main(["aggregate", str(p), "--out", str(tmp_path / "m.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lacks identity field(s) experiment, dataset, topology, method, seed" in err[0]
    assert not (tmp_path / "m.csv").exists()
