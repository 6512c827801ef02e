"""Packaging: the wheel's only top-level package is ``corrviz``; the import contracts hold."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_has_single_top_level_package(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info", "build",
                                                              "dist", ".pytest_cache", ".ruff_cache"))
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
                          str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("corrviz-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"corrviz"}
    for sub in ("core", "app", "training", "resources"):
        assert any(n.startswith(f"corrviz/{sub}/") for n in names), sub
    assert "corrviz/resources/demo/source.png" in names
    assert "corrviz/core/backbones/vit.py" in names
    assert not any(n.startswith(("corrviz/__init__.py", "tests/", "scripts/")) for n in names)


def test_import_contracts():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is part of the dev extra"
    out = subprocess.run([lint, "--config", str(ROOT / "pyproject.toml")], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken" in out.stdout


def test_core_imports_no_gui_at_runtime():
    code = ("import sys, corrviz.core.features, corrviz.core.matching, corrviz.core.pca, corrviz.core.figures, "
            "corrviz.core.commands.match; bad = [m for m in ('PyQt6', 'pyqtgraph', 'vispy') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
