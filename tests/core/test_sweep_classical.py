"""``scripts/sweep_classical.py`` on a tiny input: one PF-WILLOW class to choose on, one held out."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "sweep_classical.py"


@pytest.fixture(scope="module")
def sweep():
    spec = importlib.util.spec_from_file_location("sweep_classical", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_tiny_sweep_prints_and_writes_the_tables(sweep, shared_data, tmp_path, capsys):
    out_md = tmp_path / "sweep.md"
    argv = ["--data", str(shared_data / "PF-WILLOW"), "--backbones", "dense_sift", "--sift-supports", "0.25",
            "--sift-norms", "rootsift", "--choose", "car(S)", "--holdout", "winebottle(woC)", "--every", "30",
            "--resolution", "112", "--mv-objects", "0", "--cache-dir", str(tmp_path / "cache"), "--write", str(out_md)]
    assert sweep.main(argv) == 0
    text = capsys.readouterr().out
    rows = [line for line in text.splitlines() if line.startswith("| dense_sift |")]
    assert len(rows) == 4  # previous + one candidate, then both on the held-out class
    # Every row carries real percentages; the held-out rows have PCK at 0.05 / 0.1 / 0.15, increasing.
    held = [[float(v) for v in re.findall(r"\| (\d+\.\d) ", r + " ")] for r in rows[2:]]
    assert all(len(h) == 3 and h[0] <= h[1] <= h[2] for h in held), held
    assert "previous" in rows[0] and "0.25 (28 px)" in rows[1]
    assert out_md.read_text().startswith("# Support and normalisation") and "--every 30" in out_md.read_text()


@pytest.mark.parametrize(("extra", "message"), [
    (["--choose", "car(S)", "--holdout", "car(S)"], "both chosen on and held out"),
    (["--sift-supports", "0.25,2"], "fractions of the canvas side"),
    (["--backbones", "vit"], "choose from"),
])
def test_bad_arguments_are_named(sweep, shared_data, capsys, extra, message):
    with pytest.raises(SystemExit) as err:
        sweep.main(["--data", str(shared_data / "PF-WILLOW"), "--mv-objects", "0", *extra])
    assert message in str(err.value) + capsys.readouterr().err
