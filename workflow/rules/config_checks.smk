# Checks of the config that JSON schema cannot express, run at parse time (before any job) right after the
# schema check in the Snakefile. Each failure names the config key. Plain Python (no rules), so
# tests/test_config_checks.py runs it directly; WORKFLOW_ROOT comes from the Snakefile.
import math
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.io import local


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML loader that refuses a mapping with a repeated key (PyYAML keeps the last one silently,
    so a second experiment of the same name would replace the first)."""


def _construct_unique_mapping(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise WorkflowError(
                f"config file {node.start_mark.name}: duplicate key {key!r} (line {key_node.start_mark.line + 1}; "
                f"first at line {seen[key] + 1})"
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def check_config_files_unique_keys(paths):
    for path in paths:
        with open(path) as f:
            yaml.load(f, Loader=_UniqueKeyLoader)


def resolve_config_path(path):
    """A relative path from the config: under the working directory if it is there, else under the workflow's
    directory (WORKFLOW_ROOT, set in the Snakefile), so a host workflow that uses this one as a module finds the
    shipped files; None when in neither. ``local()`` keeps a module's ``prefix`` off the path."""
    for base in (Path.cwd(), WORKFLOW_ROOT):
        candidate = (base / path).resolve()
        if candidate.is_file() and candidate.is_relative_to(base.resolve()):
            return local(path) if base == Path.cwd() else str(candidate)
    return None


def margin_name(margin):
    """The margin as it appears in file names (``m{name}``): Python's shortest float repr, so 0 and 0.0
    name the same QUBO and 0.05 stays ``0.05``."""
    return repr(float(margin))


def _check_margins(name, margins):
    names = [margin_name(m) for m in margins]
    for m, text in zip(margins, names):
        if not math.isfinite(float(m)) or "e" in text:
            raise WorkflowError(
                f"experiments.{name}.margins: {m!r} has no plain decimal file name ({text}); "
                "use a value in [0.0001, 1e15] or 0"
            )
    dup = sorted({t for t in names if names.count(t) > 1})
    if dup:
        raise WorkflowError(f"experiments.{name}.margins: {', '.join(dup)} given more than once")


def _check_topology_path(name, path):
    """A topology path resolves inside the working directory or the workflow's directory."""
    found = resolve_config_path(path)
    if found is None:
        raise WorkflowError(
            f"topologies.{name}: file {path!r} found neither in the working directory ({Path.cwd()}) "
            f"nor in the workflow directory ({WORKFLOW_ROOT})"
        )


def _check_datasets(cfg):
    """Each dataset's settings as `qbnn binarise` will check them (keys per source, seed), named by dataset;
    skipped when qbnn is not importable here (Snakemake in its own env: the binarise job checks them)."""
    try:
        from qbnn.data.binarise import validate_config
        from qbnn.errors import QbnnError
    except ImportError:
        return
    for name, settings in cfg["datasets"].items():
        try:
            validate_config(dict(settings))
        except QbnnError as exc:
            raise WorkflowError(f"datasets.{name}: {exc}") from None


def check_config(cfg):
    """Cross-references and run lists of the (schema-valid) config."""
    _check_datasets(cfg)
    for name, exp in cfg["experiments"].items():
        for key, table in (("dataset", "datasets"), ("topology", "topologies")):
            if exp[key] not in cfg[table]:
                raise WorkflowError(
                    f"experiments.{name}.{key}: {exp[key]!r} is not defined under {table} "
                    f"(defined: {', '.join(sorted(cfg[table]))})"
                )
        if not (exp.get("solvers") or exp.get("baselines") or exp.get("mip") or exp.get("train")):
            raise WorkflowError(f"experiments.{name}: nothing to run (no solvers, baselines or mip)")
        if exp.get("dropout") and not exp.get("solvers"):
            raise WorkflowError(f"experiments.{name}.dropout: needs at least one entry in solvers")
        _check_margins(name, exp.get("margins", [0.0]))
    for name, path in cfg["topologies"].items():
        _check_topology_path(name, path)
    for solver, settings in cfg.get("solver_settings", {}).items():
        if settings.get("sampler_args") and not solver.startswith("dimod:"):
            raise WorkflowError(f"solver_settings.{solver}.sampler_args: only dimod:MODULE.CLASS solvers take sampler_args")
