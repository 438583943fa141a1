"""Packaging habits: light `import qbnn`, the estimator at the top level, license, citation, dependency floors."""
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _python(code, cwd=None):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    res = subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def test_import_qbnn_is_light_and_the_estimator_is_at_top_level():
    out = _python(
        "import sys, qbnn\n"
        "print(sorted(m for m in ('torch', 'sklearn', 'pandas', 'matplotlib') if m in sys.modules))\n"
        "from qbnn import QuboBNNClassifier\n"
        "import qbnn.estimator\n"
        "assert QuboBNNClassifier is qbnn.estimator.QuboBNNClassifier and 'QuboBNNClassifier' in dir(qbnn)\n"
        "print('torch' in sys.modules)\n"
    )
    assert out.split("\n")[:2] == ["[]", "False"]


def test_unknown_attribute_still_raises():
    _python("import qbnn\ntry:\n    qbnn.NoSuchThing\nexcept AttributeError as e:\n    assert 'NoSuchThing' in str(e)\n"
            "else:\n    raise SystemExit(1)\n")


def test_logistic_regression_baseline_runs_without_torch(tmp_path):
    # only the STE and MLP baselines need torch; a logreg job must not pay its import
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump({"datasets": {"bas4": {
        "source": "bars_and_stripes", "size": 4, "train_size": 16, "test_size": 12, "seed": 0}}}))
    topo = ROOT / "config/topologies/h2.yaml"
    _python(
        "import importlib.abc, sys\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ModuleNotFoundError('torch blocked', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from qbnn.cli import main\n"
        f"assert main(['binarise', '--config', 'cfg.yaml', '--dataset', 'bas4', '--out', 'd.h5']) == 0\n"
        f"assert main(['baseline', '--data', 'd.h5', '--network', {str(topo)!r}, '--method', 'logreg',"
        " '--seed', '0', '--out', 'b.json']) == 0\n",
        cwd=tmp_path,
    )
    assert (tmp_path / "b.json").stat().st_size > 0


def test_license_and_citation():
    import tomllib

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["license"] == "MIT" and (ROOT / "LICENSE").read_text().startswith("MIT License")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["license"] == "MIT" and cff["version"] == meta["version"]
    refs = {r["authors"][0]["family-names"]: r for r in cff["references"]}
    assert refs["Villumsen"]["authors"][1]["family-names"] == "Sugita" and refs["Villumsen"]["year"] == 2026
    assert refs["Kurtz"]["authors"][1]["family-names"] == "Bah" and refs["Kurtz"]["year"] == 2021
    assert "Mixed-Integer" in refs["Kurtz"]["title"] and "Binary Neural Networks" in refs["Villumsen"]["title"]


def test_scikit_learn_floor_covers_what_the_estimator_imports():
    # qbnn.estimator uses sklearn.utils.validation.validate_data and __sklearn_tags__, both new in 1.6
    import tomllib

    from packaging.requirements import Requirement

    deps = {Requirement(d).name: Requirement(d) for d in
            tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    spec = deps["scikit-learn"].specifier
    assert "validate_data" in (ROOT / "src/qbnn/estimator.py").read_text()
    assert not spec.contains("1.5.2") and spec.contains("1.6.0")
