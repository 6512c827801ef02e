"""scripts/bench_train.py on a tiny input: the table has the measured columns with consistent values."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_train.py"


def _ratio_ok(ratio: float, num: float, den: float, half: float = 0.0005) -> bool:
    """``ratio`` (2 decimals) is num / den where both were printed with 3 decimals."""
    lo = max(0.0, num - half) / (den + half)
    hi = (num + half) / max(den - half, 1e-9)
    return lo - 0.006 <= ratio <= hi + 0.006


def test_bench_train_prints_its_table(capsys):
    spec = importlib.util.spec_from_file_location("bench_train", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--setting", "test_dinov2_tiny:56", "--points", "48", "--views", "6", "--steps", "1",
                     "--lora-blocks", "2", "--matmul", "128"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "matmul 128^2" in lines[0] and "ratio" in lines[1] and "GFLOP/s" in lines[1]
    row = lines[3].split()
    assert row[0] == "test_dinov2_tiny" and row[1] == "56" and row[2] == "random-init"
    assert int(row[3]) > 0 and int(row[4]) > int(row[3])  # queries, candidates
    step_s, steps_per_s, bare_s, ratio, gflop = map(float, row[5:10])
    assert step_s > 0 and bare_s > 0 and gflop >= 0
    assert _ratio_ok(steps_per_s, 1.0, step_s) and _ratio_ok(ratio, step_s, bare_s)
    step_cpu, bare_cpu, cpu_ratio = map(float, row[12:15])
    assert step_cpu > 0 and bare_cpu > 0 and _ratio_ok(cpu_ratio, step_cpu, bare_cpu)
