"""scripts/bench_core.py runs end to end (quick mode) and prints a number for every row."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_core.py"


@pytest.mark.slow
def test_bench_core_quick(capsys):
    spec = importlib.util.spec_from_file_location("script_bench_core", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--quick"]) == 0  # 0 only when every click-to-match target is met
    out = capsys.readouterr().out
    rates = {m.group(1).strip(): float(m.group(2)) for m in re.finditer(r"^\s+(\S.*?)\s+([\d.]+) images/s$", out, re.M)}
    assert {"dinov2_vits14 (random init) @448", "dense_sift stride 8 @448 (default, 3 scales)",
            "daisy stride 8 @448 (default, 3 scales)"} <= set(rates)
    assert all(r > 0 for r in rates.values())
    assert len(re.findall(r"grid: +[\d.]+ ms +target < \d+ ms +OK", out)) == len(bench.TARGETS_MS)
