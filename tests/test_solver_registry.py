"""qbnn.solver_registry is the one list of solvers: CLI choices, dispatch tables, config schema, workflow
defaults, dropout-subnetwork defaults and the docs table all agree with it."""
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from qbnn import solver_registry as registry
from qbnn.errors import QbnnError

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "config/schema/config.schema.yaml").read_text())
EXPERIMENT = SCHEMA["properties"]["experiments"]["additionalProperties"]["properties"]


def _help_choices(command: str) -> list[str]:
    """The ``{a,b,...}`` choices `qbnn COMMAND --help` prints for --solver."""
    out = subprocess.run([sys.executable, "-m", "qbnn", command, "--help"], capture_output=True, text=True,
                         check=True, env={"COLUMNS": "400", "PATH": "", "PYTHONPATH": str(ROOT / "src")}).stdout
    m = re.search(r"--solver \{([^}]*)\}", out)
    assert m, out
    return m.group(1).split(",")


def test_solve_help_lists_the_registry():
    assert _help_choices("solve") == ["auto", *registry.names()]


def test_maxcut_help_lists_the_generic_solvers():
    assert _help_choices("maxcut") == [*registry.names("ising"), "exhaustive"]


def test_dispatch_tables_come_from_the_registry():
    from qbnn.bnn_solving import STRATEGIES
    from qbnn.solvers import SOLVERS

    assert list(STRATEGIES) == list(registry.names("bnn"))
    ising = {n for s in registry.SOLVERS.values() if s.kind == "ising" for n in (s.name, *s.aliases)}
    assert set(SOLVERS) == ising
    for spec in registry.SOLVERS.values():  # every entry point imports
        assert callable(spec.load()), spec.name


def test_schema_solver_names_match_the_registry():
    enum, dimod = EXPERIMENT["solvers"]["items"]["anyOf"]
    assert enum["enum"] == list(registry.workflow_names())
    assert dimod["pattern"] == registry.DIMOD_PATTERN
    # solver_settings keys are checked against the same list
    assert SCHEMA["properties"]["solver_settings"]["propertyNames"]["$ref"].endswith("/solvers/items")


def test_dropout_subnetwork_settings_are_config_with_the_registry_defaults():
    from qbnn.dropout import make_solve_fn

    dropout = EXPERIMENT["dropout"]["properties"]
    assert dropout["solver"]["enum"] == list(registry.names("bnn"))
    assert {k: dropout[k]["default"] for k in ("solver", "replicas", "steps")} == registry.SUBNETWORK_DEFAULTS
    sig = inspect.signature(make_solve_fn).parameters
    assert {"solver": sig["strategy"].default, "replicas": sig["replicas"].default,
            "steps": sig["steps"].default} == registry.SUBNETWORK_DEFAULTS


def test_docs_table_is_the_registry_table():
    assert registry.markdown_table() in (ROOT / "docs/solvers.md").read_text()


def test_workflow_reads_defaults_from_the_registry_without_qbnn_installed(tmp_path):
    """common.smk's fallback: in a Python without qbnn on its path, _solver_registry() loads the registry
    file beside the workflow and gives the defaults."""
    smk = (ROOT / "workflow/rules/common.smk").read_text()
    assert "SOLVER_REGISTRY.workflow_defaults(solver)" in smk and "SOLVER_DEFAULTS" not in smk
    fallback = smk[smk.index("def _solver_registry():"):smk.index("SOLVER_REGISTRY = _solver_registry()")]
    script = tmp_path / "probe.py"
    script.write_text("import sys\nfrom pathlib import Path\n"
                      f"WORKFLOW_ROOT = Path({str(ROOT)!r})\n" + fallback +
                      "r = _solver_registry()\nimport json\n"
                      "print(json.dumps([r.workflow_defaults('sa'), 'qbnn' in sys.modules]))\n")
    out = subprocess.run([sys.executable, "-S", "-I", str(script)], capture_output=True, text=True, check=True).stdout
    defaults, imported_qbnn = json.loads(out)
    assert defaults == {"replicas": 64, "steps": 1000, "time_limit": None, "threads": 1} and not imported_qbnn


def test_lookup():
    assert registry.get("bsb") is registry.SOLVERS["sb"]
    assert registry.get("dimod:dimod.ExactSolver").kind == "external"
    assert registry.resolve_auto(True) == "ste-pt" and registry.resolve_auto(False) == "sa"
    for bad in ("nope", "dimod:", "dimod:ExactSolver", "dimod:a..b", "SA"):
        with pytest.raises(QbnnError):
            registry.get(bad)
    assert registry.defaults("exact") == {"replicas": None, "steps": None, "time_limit": None}


def _config_checks():
    ns = {"WORKFLOW_ROOT": ROOT}
    exec(compile((ROOT / "workflow/rules/config_checks.smk").read_text(), "config_checks.smk", "exec"), ns)
    return ns


@pytest.mark.parametrize("solver, settings, ok", [
    ("dimod:dwave.samplers.SimulatedAnnealingSampler", {"replicas": 4, "sampler_args": {"num_sweeps": 10}}, True),
    ("dimod:dimod.ExactSolver", {}, True),
    ("dimod:ExactSolver", {}, False),  # no module part
    ("dimod:a b.C", {}, False),
    ("sa", {"sampler_args": {"x": 1}}, False),  # sampler_args only for dimod solvers (config_checks)
    ("exact", {}, False),  # not offered to the workflow (workflow=False)
])
def test_config_accepts_dimod_solvers(monkeypatch, solver, settings, ok):
    snakemake_utils = pytest.importorskip("snakemake.utils")
    from snakemake.exceptions import WorkflowError

    monkeypatch.chdir(ROOT)
    cfg = yaml.safe_load((ROOT / "config/test.yaml").read_text())
    cfg["experiments"]["tiny"]["solvers"] = [solver]
    cfg["solver_settings"] = {solver: settings}
    try:
        snakemake_utils.validate(cfg, str(ROOT / "config/schema/config.schema.yaml"))
        _config_checks()["check_config"](cfg)
    except WorkflowError:
        assert not ok
    else:
        assert ok
        assert cfg["experiments"]["tiny"]["dropout"]["solver"] == "portfolio"  # schema default filled in
