"""Config validation of the workflow: the schema (names, paths, duplicates, solver_settings keys) and the
parse-time checks of workflow/rules/config_checks.smk (references, margins, empty experiments, duplicate
YAML keys). Each bad kind must be refused with a message naming the key, before any job runs."""
import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

snakemake_utils = pytest.importorskip("snakemake.utils")
from snakemake.exceptions import WorkflowError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "config/schema/config.schema.yaml")
SNAKEMAKE = shutil.which("snakemake") or str(Path(sys.executable).with_name("snakemake"))


def _checks():
    """The functions of config_checks.smk (plain Python), with WORKFLOW_ROOT as the Snakefile sets it."""
    ns = {"WORKFLOW_ROOT": ROOT}
    src = (ROOT / "workflow/rules/config_checks.smk").read_text()
    exec(compile(src, "config_checks.smk", "exec"), ns)
    return ns


CHECKS = _checks()


def _base():
    return yaml.safe_load((ROOT / "config/test.yaml").read_text())


def _validate(cfg):
    snakemake_utils.validate(copy.deepcopy(cfg), SCHEMA)


def _refused_by_schema(cfg, *words):
    with pytest.raises(WorkflowError) as exc:
        _validate(cfg)
    for w in words:
        assert w in str(exc.value), (w, str(exc.value)[-1500:])


@pytest.fixture(autouse=True)
def _in_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # topology paths of the shipped configs are relative to the repository


def test_base_config_passes_schema_and_checks():
    cfg = _base()
    _validate(cfg)
    CHECKS["check_config"](cfg)


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "config").glob("*.yaml")))
def test_every_shipped_config_passes_the_parse_time_checks(name):
    cfg = yaml.safe_load((ROOT / "config" / name).read_text())
    _validate(cfg)
    CHECKS["check_config"](cfg)
    CHECKS["check_config_files_unique_keys"]([str(ROOT / "config" / name)])


HOSTILE_NAMES = ["$(touch X)", "../../etc", "a b", "a/b", "`id`", "x;rm", "", "-rf", "é", "a" * 65]


@pytest.mark.parametrize("bad", HOSTILE_NAMES)
@pytest.mark.parametrize("table", ["datasets", "topologies", "experiments"])
def test_hostile_names_are_refused_by_the_schema(table, bad):
    cfg = _base()
    old = next(iter(cfg[table]))
    cfg[table][bad] = cfg[table].pop(old)
    _refused_by_schema(cfg, table)


@pytest.mark.parametrize("key", ["dataset", "topology"])
@pytest.mark.parametrize("bad", ["$(touch X)", "../x", "a b"])
def test_hostile_references_are_refused_by_the_schema(key, bad):
    cfg = _base()
    cfg["experiments"]["tiny"][key] = bad
    _refused_by_schema(cfg, key)


def test_experiment_names_cannot_contain_the_qname_separator():
    cfg = _base()
    cfg["experiments"]["my-exp"] = cfg["experiments"].pop("tiny")  # m0.0_dropout-my-exp-s0 would not parse
    _refused_by_schema(cfg, "my-exp")


@pytest.mark.parametrize(
    "path", ["/etc/passwd.yaml", "../outside.yaml", "config/../../x.yaml", "a b.yaml", "$(id).yaml", "x.txt"]
)
def test_topology_paths_stay_relative_and_inside(path):
    cfg = _base()
    cfg["topologies"]["h2"] = path
    _refused_by_schema(cfg, "topologies")


@pytest.mark.parametrize(
    "field,value",
    [("seeds", [0, 0]), ("solvers", ["sa", "sa"]), ("margins", [0.05, 0.05]), ("margins", [0, 0.0]),
     ("baselines", ["greedy", "greedy"]), ("mip", ["local", "local"])],
)
def test_duplicate_list_entries_are_refused(field, value):
    cfg = _base()
    cfg["experiments"]["tiny"][field] = value
    _refused_by_schema(cfg, field)


@pytest.mark.parametrize("bad", [{"ste_pt": {"steps": 10}}, {"SA": {"steps": 10}}, {"sa": {"step": 10}}])
def test_misspelt_solver_settings_are_refused(bad):
    cfg = _base()
    cfg["solver_settings"] = bad
    _refused_by_schema(cfg, "solver_settings")


def _refused_by_checks(cfg, *words):
    _validate(cfg)  # schema-valid, so only the parse-time checks can catch it
    with pytest.raises(WorkflowError) as exc:
        CHECKS["check_config"](cfg)
    for w in words:
        assert w in str(exc.value), (w, str(exc.value))


@pytest.mark.parametrize("key,table", [("dataset", "datasets"), ("topology", "topologies")])
def test_undefined_references_name_the_key(key, table):
    cfg = _base()
    cfg["experiments"]["tiny"][key] = "nowhere"
    _refused_by_checks(cfg, f"experiments.tiny.{key}", "nowhere", table)


def test_experiment_with_nothing_to_run_is_refused():
    cfg = _base()
    exp = cfg["experiments"]["tiny"]
    for k in ("solvers", "baselines", "mip", "dropout"):
        exp.pop(k)
    _refused_by_checks(cfg, "experiments.tiny", "nothing to run")


def test_dropout_without_solvers_is_refused():
    cfg = _base()
    cfg["experiments"]["tiny"]["solvers"] = []
    _refused_by_checks(cfg, "experiments.tiny.dropout")


@pytest.mark.parametrize("margin", [1e-5, 1e-7, 1e20])
def test_margins_without_a_plain_file_name_are_refused(margin):
    cfg = _base()
    cfg["experiments"]["tiny"]["margins"] = [0.0, margin]
    _refused_by_checks(cfg, "experiments.tiny.margins")


@pytest.mark.parametrize("key,value", [("train_sise", 10), ("noise_level", 0.1), ("balance", "yes")])
def test_misspelt_or_bad_dataset_settings_name_the_dataset(key, value):
    cfg = _base()
    cfg["datasets"]["bas4"][key] = value
    _refused_by_checks(cfg, "datasets.bas4", key)


def test_missing_topology_file_is_refused():
    cfg = _base()
    cfg["topologies"]["h2"] = "config/topologies/missing.yaml"
    _refused_by_checks(cfg, "topologies.h2", "missing.yaml")


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.integers(0, 10**6), st.floats(0.0001, 1e6, allow_nan=False, allow_infinity=False)))
def test_margin_names_are_canonical(m):
    # every accepted margin gets one decimal name that parses back to the same float and that the
    # workflow's margin wildcard ([0-9]+.[0-9]+) matches; 0 and 0.0 share a name
    import re

    name = CHECKS["margin_name"](m)
    if "e" in name:
        return  # refused by _check_margins (tested above)
    assert re.fullmatch(r"[0-9]+\.[0-9]+", name) and float(name) == float(m)
    assert CHECKS["margin_name"](float(m)) == name


def test_duplicate_yaml_keys_are_refused(tmp_path):
    text = (ROOT / "config/test.yaml").read_text()
    dup = text.replace("experiments:\n", "experiments:\n  tiny:\n    dataset: bas4\n    topology: h2\n", 1)
    p = tmp_path / "dup.yaml"
    p.write_text(dup)
    with pytest.raises(WorkflowError) as exc:
        CHECKS["check_config_files_unique_keys"]([str(p)])
    assert "duplicate key 'tiny'" in str(exc.value) and "dup.yaml" in str(exc.value)
    CHECKS["check_config_files_unique_keys"]([str(ROOT / "config/test.yaml")])  # the clean file passes


# ---------------------------------------------------------------- through Snakemake, before any job
def _workdir(tmp_path):
    for item in ("Snakefile", "workflow", "config", "envs"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / item)
    return tmp_path


@pytest.mark.slow
@pytest.mark.parametrize(
    "edit,words",
    [
        (lambda t: t.replace("bas4:", "$(touch PWNED):", 1), ["datasets"]),
        (lambda t: t.replace("experiments:\n", "experiments:\n  tiny:\n    dataset: bas4\n    topology: h2\n", 1),
         ["duplicate key 'tiny'"]),
        (lambda t: t.replace("    topology: h2\n", "    topology: h9\n", 1), ["experiments.tiny.topology", "h9"]),
    ],
    ids=["shell-name", "duplicate-key", "undefined-topology"],
)
def test_snakemake_refuses_bad_configs_before_any_job(tmp_path, edit, words):
    wd = _workdir(tmp_path)
    (wd / "config/bad.yaml").write_text(edit((ROOT / "config/test.yaml").read_text()))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    res = subprocess.run([SNAKEMAKE, "--cores", "1", "--configfile", "config/bad.yaml"], cwd=wd, env=env,
                         capture_output=True, text=True)
    assert res.returncode != 0
    for w in words:
        assert w in res.stderr, res.stderr[-2000:]
    assert not (wd / "results").exists() and not (wd / "PWNED").exists()


def test_every_shell_interpolation_is_quoted():
    """Config values reach the shell only through {...:q}; the unquoted fields are integers the workflow
    computes itself (threads, granted memory, interpreter size)."""
    import re

    numeric = {"threads", "resources.mem_mb", "params.interpreter_mb", "params.memory_is_granted"}
    fields = []
    for smk in sorted((ROOT / "workflow/rules").glob("*.smk")):
        for block in re.findall(r"(?ms)^    shell:\n(.*?)(?=^\S|^    \w+:|\Z)", smk.read_text()):
            fields += [(smk.name, f) for f in re.findall(r"(?<!\{)\{([^{}]+)\}(?!\})", block)]
    assert len(fields) > 80
    bad = [(name, f) for name, f in fields if not f.endswith(":q") and f not in numeric]
    assert not bad, bad
