"""scripts/bench_train.py's 3DPoV row on a tiny input: steps/s = 1 / step s, sorting share consistent."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_train.py"


def test_bench_train_prints_a_3dpov_row(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("CORRVIZ_CACHE", str(tmp_path))
    spec = importlib.util.spec_from_file_location("bench_train", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--setting", "test_dinov2_tiny:56", "--points", "48", "--views", "6", "--steps", "1",
                     "--lora-blocks", "2", "--matmul", "128", "--pov-setting", "test_dinov2_tiny:56",
                     "--pov-batch", "2", "--pov-points", "8"]) == 0
    lines = capsys.readouterr().out.splitlines()
    k = next(i for i, line in enumerate(lines) if line.startswith("3DPoV:"))
    assert "sort %" in lines[k + 1]
    row = lines[k + 3].split()
    assert row[:4] == ["3dpov", "test_dinov2_tiny", "56", "random-init"]
    step_s, steps_per_s, sort_s, share = map(float, row[4:8])
    assert 0 < sort_s < step_s
    assert abs(steps_per_s - 1 / step_s) < 0.02 * max(1.0, 1 / step_s)
    assert abs(share - 100 * sort_s / step_s) < 0.2 + 100 * 0.0005 / step_s
