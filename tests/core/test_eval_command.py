"""``corrviz-eval`` end to end on PF-WILLOW, and the two evaluation scripts on tiny inputs."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest

from corrviz.core.commands.eval import main

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"  # ../shared beside the checkout
WILLOW = SHARED_DATA / "PF-WILLOW"
SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"

pytestmark = pytest.mark.skipif(not WILLOW.is_dir(), reason="shared data not available")


def test_command_end_to_end_on_pfwillow_with_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRVIZ_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "results"
    rc = main(["pfwillow", "--data", str(WILLOW), "--backbone", "dense_sift", "--resolution", "224",
               "--matcher", "nn", "--limit", "15", "--out", str(out), "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "15 of 15 evaluated" in text and "PCK@0.1" in text and "per-image" in text and "macro" in text
    stem = "pfwillow_dense_sift_224_nn"
    data = json.loads((out / f"{stem}.json").read_text())
    assert data["protocol"]["subset_size"] == 15 and data["protocol"]["limit"] == 15
    assert data["protocol"]["resolution"] == 224 and data["protocol"]["matcher"]["method"] == "nn"
    for suffix in (".csv", "_categories.png", "_categories.svg", "_pck_vs_alpha.png", "_pck_vs_alpha.svg"):
        assert (out / f"{stem}{suffix}").is_file(), suffix
    assert any((tmp_path / "cache" / "features" / "dense_sift").rglob("*.safetensors"))
    # same features, another matcher: nothing extracted
    rc = main(["pfwillow", "--data", str(WILLOW), "--backbone", "dense_sift", "--resolution", "224",
               "--matcher", "soft-argmax", "--limit", "15", "--out", str(out), "--quiet", "--no-plots"])
    assert rc == 0
    assert "features extracted 0" in capsys.readouterr().out
    again = json.loads((out / "pfwillow_dense_sift_224_soft-argmax.json").read_text())
    assert again["stats"]["extractions"] == 0


def test_command_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pfwillow", "--data", str(tmp_path / "missing"), "--backbone", "dense_sift",
                 "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["nosuchbench", "--data", str(WILLOW), "--backbone", "dense_sift", "--out", str(tmp_path)]) == 2
    assert "unknown benchmark" in capsys.readouterr().err
    assert main(["pfwillow", "--data", str(WILLOW)]) == 2
    assert main(["pfwillow", "--data", str(WILLOW), "--backbone", "dinov2_vitb14", "--limit", "1",
                 "--out", str(tmp_path)]) == 2  # no weights on this machine: one clear line
    assert "error:" in capsys.readouterr().err


def _run_script(name: str, args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", [name, *args])
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(str(SCRIPTS / name), run_name="__main__")
    assert exc.value.code == 0


def test_bench_eval_script_prints_pairs_per_second(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _run_script("bench_eval.py", ["--data", str(WILLOW), "--resolution", "160", "--limit", "12",
                                  "--nocache-limit", "3", "--cache-dir", str(tmp_path)], monkeypatch)
    text = capsys.readouterr().out
    assert "pairs/s" in text and "no cache" in text and "warm" in text
    warm = next(line for line in text.splitlines() if line.startswith("disk cache, warm"))
    assert warm.split()[-1] == "0"  # no extraction on the warm run


def test_results_table_script_on_a_tiny_subset(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRVIZ_CACHE", str(tmp_path / "cache"))
    doc = tmp_path / "results.md"
    _run_script("results_table.py", ["--data", str(SHARED_DATA), "--out", str(tmp_path / "out"), "--limit", "2",
                                     "--backbone", "dense_sift:160", "--benchmark", "pfwillow",
                                     "--benchmark", "spair", "--write", str(doc)], monkeypatch)
    text = doc.read_text()
    assert "### PF-WILLOW" in text and "### SPair-71k" in text and "corrviz-eval pfwillow" in text
    assert "| dense_sift (weight-free) | 160 |" in text and "55.6" in text
