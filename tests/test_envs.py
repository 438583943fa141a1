"""The conda environments of the workflow (envs/*.yaml), checked without conda (not installable here).

* the files are location-independent (no local paths, no editable installs) and pinned;
* the pins satisfy pyproject.toml's declared ranges;
* every rule names an existing env, and each rule's qbnn commands run with every package that its env
  lacks blocked from import (so a small env really suffices for its rules).
"""
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ENVS = {p.name: yaml.safe_load(p.read_text()) for p in sorted((ROOT / "envs").glob("*.yaml"))}
# conda / pip package name -> import name
IMPORT_NAME = {"numpy": "numpy", "scipy": "scipy", "h5py": "h5py", "pyyaml": "yaml", "psutil": "psutil",
               "pandas": "pandas", "matplotlib-base": "matplotlib", "scikit-learn": "sklearn",
               "highspy": "highspy", "tqdm": "tqdm", "torch": "torch"}


def _packages(env):
    """{name: version} of an env file's conda and pip entries."""
    out = {}
    for dep in env["dependencies"]:
        items = dep["pip"] if isinstance(dep, dict) else [dep]
        for item in items:
            m = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:==?([0-9][A-Za-z0-9.+]*))?", item)
            assert m, f"unpinned or unparsable entry {item!r}"
            out[m.group(1).lower()] = m.group(2)
    return out


def test_env_files_are_pinned_and_location_independent():
    assert set(ENVS) == {"qbnn.yaml", "qbnn-core.yaml", "qbnn-analysis.yaml"}
    for name, env in ENVS.items():
        text = (ROOT / "envs" / name).read_text()
        assert "-e " not in text and "../" not in text and "file:" not in text and "git+" not in text, name
        for pkg, version in _packages(env).items():
            assert version is not None or pkg == "pip", f"{name}: {pkg} is not pinned"
        assert "conda-forge" in env["channels"]


def test_only_the_full_env_has_torch():
    for name, env in ENVS.items():
        assert ("torch" in _packages(env)) == (name == "qbnn.yaml"), name


def test_pins_satisfy_pyproject_ranges():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    from packaging.requirements import Requirement

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    ranges = {Requirement(d).name.lower(): Requirement(d).specifier for d in deps}
    full = _packages(ENVS["qbnn.yaml"])
    for pkg, spec in ranges.items():
        conda_name = {"matplotlib": "matplotlib-base"}.get(pkg, pkg)
        assert conda_name in full, f"envs/qbnn.yaml lacks {pkg}"
        assert spec.contains(full[conda_name]), f"{pkg}=={full[conda_name]} outside pyproject's {spec}"


def _rule_envs():
    """rule name -> env file name, from the rule files."""
    out = {}
    for smk in (ROOT / "workflow/rules").glob("*.smk"):
        for m in re.finditer(r"(?ms)^rule (\w+):.*?(?=^rule |\Z)", smk.read_text()):
            env = re.search(r'conda:\s*\n\s*"\.\./\.\./envs/([\w.-]+)"', m.group(0))
            out[m.group(1)] = env.group(1) if env else None
    return out


def test_every_shell_rule_names_an_existing_env():
    envs = _rule_envs()
    assert len(envs) >= 14
    for rule, env in envs.items():
        if rule == "dataset_settings":  # a run: block inside Snakemake itself
            continue
        assert env in ENVS, (rule, env)


BLOCKER = """
import importlib.abc, sys
BLOCKED = set({blocked!r})

class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"{{name}} is not in this rule's conda env", name=name)
        return None

sys.meta_path.insert(0, _Block())
from qbnn.cli import main
for argv in {commands!r}:
    rc = main(argv)
    assert rc == 0, (argv, rc)
"""


def _run_blocked(env_name, commands, cwd):
    """Run qbnn commands in one process where the packages missing from ``env_name`` cannot be imported."""
    allowed = {IMPORT_NAME[p] for p in _packages(ENVS[env_name]) if p in IMPORT_NAME}
    blocked = sorted(set(IMPORT_NAME.values()) - allowed)
    code = textwrap.dedent(BLOCKER.format(blocked=blocked, commands=commands))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    res = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"{env_name}: {res.stderr[-3000:]}"


@pytest.mark.slow
def test_each_rule_runs_with_only_its_env(tmp_path):
    """The commands of the core and analysis rules, on a tiny problem, with the other packages blocked."""
    envs = _rule_envs()
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump({"datasets": {"bas4": {
        "source": "bars_and_stripes", "size": 4, "train_size": 16, "test_size": 12, "seed": 0}}}))
    topo = str(ROOT / "config/topologies/h2.yaml")
    assert envs["binarise"] == "qbnn-analysis.yaml"
    _run_blocked("qbnn-analysis.yaml", [
        ["binarise", "--config", "cfg.yaml", "--dataset", "bas4", "--out", "d.h5", "--grid", "g.png"]], tmp_path)
    assert envs["compile_qubo"] == "qbnn-core.yaml"
    _run_blocked("qbnn-core.yaml", [["compile", "--data", "d.h5", "--network", topo, "--margin", "0.0",
                                     "--out", "q.h5"]], tmp_path)
    assert envs["solve"] == envs["dropout_subnetwork"] == "qbnn.yaml"
    _run_blocked("qbnn.yaml", [
        ["solve", "q.h5", "--solver", "sa", "--replicas", "4", "--steps", "50", "--seed", "0", "--out", "s.h5"],
        *[["dropout-subnetwork", "--data", "d.h5", "--network", topo, "--round", "0", "--k", str(k), "--p", "0.5",
           "--unit", "neuron", "--time-limit", "none", "--margin", "0.0", "--seed", "0", "--out", f"sub{k}.h5"]
          for k in (0, 1)]], tmp_path)
    assert {envs[r] for r in ("decode", "evaluate", "dropout_penalties", "compile_qubo_dropout")} == {"qbnn-core.yaml"}
    _run_blocked("qbnn-core.yaml", [
        ["decode", "q.h5", "--sample", "s.h5", "--out", "n.h5"],
        ["evaluate", "n.h5", "--data", "d.h5", "--out", "e.json", "--identity",
         "experiment=e,dataset=bas4,topology=h2,method=qubo_sa,seed=0"],
        ["dropout-penalties", "--data", "d.h5", "--network", topo, "--round", "0", "--beta", "1.0", "--p", "0.5",
         "--unit", "neuron", "--margin", "0.0", "--seed", "0", "--subnetworks", "sub0.h5", "sub1.h5",
         "--out", "pen.h5"],
        ["compile", "--data", "d.h5", "--network", topo, "--margin", "0.0", "--weight-penalties", "pen.h5",
         "--out", "qd.h5"]], tmp_path)
    assert {envs[r] for r in ("train_mip", "aggregate", "experiment_summary", "figures")} == {"qbnn-analysis.yaml"}
    _run_blocked("qbnn-analysis.yaml", [
        ["train-mip", "--data", "d.h5", "--network", topo, "--method", "local", "--time-limit", "2", "--seed", "0",
         "--identity", "experiment=e,dataset=bas4,topology=h2", "--out", "m.h5", "--metrics", "m.json"],
        ["aggregate", "e.json", "m.json", "--out", "a.csv", "--summary", "s.csv", "--figure", "a.png",
         "--margin-figure", "mg.png"],
        ["figures", "--solutions", "s.h5", "--energy-out", "en.png"],
        ["figures", "--networks", "n.h5", "--data", "d.h5", "--weights-out", "w.png"]], tmp_path)
    assert (tmp_path / "a.csv").stat().st_size > 0 and (tmp_path / "w.png").stat().st_size > 0
