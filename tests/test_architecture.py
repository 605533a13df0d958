"""The floors of ARCHITECTURE.md are enforced: import-linter's contracts (pyproject.toml,
[tool.importlinter]) hold for the tree, and they fail on an upward import or a new cycle.

Each run is a subprocess (`importlinter.cli.lint_imports`) on a given source root, so that a
modified copy of the package in a temporary folder is analysed instead of the installed one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("importlinter")


def lint(root: Path) -> subprocess.CompletedProcess:
    """Run every contract of root/pyproject.toml on root/qconv; returncode 0 when all are kept."""
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))")
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)


def copy_tree(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "qconv", tmp_path / "qconv", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def add_import(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n{line}  # deliberately wrong (tests/test_architecture.py)\n")


def test_contracts_hold():
    r = lint(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout


def test_upward_import_breaks_the_floors(tmp_path):
    root = copy_tree(tmp_path)
    add_import(root / "qconv" / "ir.py", "from . import passes")  # ir (floor 3) reaching up to passes
    r = lint(root)
    assert r.returncode != 0
    assert "floors: imports only point down BROKEN" in r.stdout
    assert "qconv.ir -> qconv.passes" in r.stdout


def test_simulator_reaching_into_passes_breaks(tmp_path):
    root = copy_tree(tmp_path)
    add_import(root / "qconv" / "sim" / "activation.py", "from ..analysis import activations")
    r = lint(root)
    assert r.returncode != 0
    assert "the simulator imports only ir, ops, fixed, numeric and errors BROKEN" in r.stdout


def test_cycle_inside_a_package_breaks(tmp_path):
    root = copy_tree(tmp_path)  # build_tables imports fuse_requantizer; the way back makes a cycle
    add_import(root / "qconv" / "passes" / "fuse_requantizer.py", "from . import build_tables")
    r = lint(root)
    assert r.returncode != 0
    assert "no cycles between the modules of a package BROKEN" in r.stdout
