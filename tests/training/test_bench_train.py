"""scripts/bench_train.py on a tiny input: the table has the measured columns with sane values."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_train.py"


def test_bench_train_prints_its_table(capsys):
    spec = importlib.util.spec_from_file_location("bench_train", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--setting", "test_dinov2_tiny:56", "--points", "48", "--views", "6", "--steps", "1",
                     "--lora-blocks", "2", "--matmul", "128"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "matmul 128^2" in lines[0] and "ratio" in lines[1] and "GFLOP/s" in lines[1]
    row = lines[3].split()
    assert row[0] == "test_dinov2_tiny" and row[1] == "56"
    step_s, steps_per_s, bare_s, ratio, gflop = map(float, (row[5], row[6], row[7], row[8], row[9]))
    assert step_s > 0 and abs(steps_per_s - 1 / step_s) < 0.01 * steps_per_s + 0.01
    assert bare_s > 0 and abs(ratio - step_s / bare_s) < 0.01 * ratio + 0.01
    assert gflop >= 0 and int(row[3]) > 0 and int(row[4]) > int(row[3])
    assert float(row[12]) > 0  # CPU seconds of a step
