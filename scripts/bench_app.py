"""App benchmarks: cold start to first window and backbone list, and click-to-match display latency at a 60x60 grid.

``xvfb-run -a python scripts/bench_app.py [--runs 3] [--clicks 30]``. Targets: cold start < 3 s,
click-to-match display < 100 ms. Cold start is measured from spawning a fresh Python process to
the moment the shown window has been painted (the app prints it); click latency from the click
handler to the end of the repaint that shows the matches, with features already cached.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def cold_start(runs: int) -> list[tuple[float, float, float]]:
    """Seconds from spawning the app to its first painted window, its backbone list, and the end of the
    weight probes (which run in a worker after the list is shown)."""
    env = dict(os.environ, CORRVIZ_PRINT_STARTUP="list", CORRVIZ_CONFIG_DIR=tempfile.mkdtemp(prefix="corrviz_bench_"))
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "corrviz.app", "--no-demo"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        marks = {}
        for line in proc.stdout:
            for key, text in (("window", "first window"), ("list", "backbone list shown"),
                              ("probed", "weights probed")):
                if line.startswith(text):
                    marks[key] = time.perf_counter() - t0
            if "probed" in marks:
                break
        proc.wait(timeout=60)
        if len(marks) != 3:
            raise RuntimeError(f"the app did not report its startup milestones (got {sorted(marks)})")
        out.append((marks["window"], marks["list"], marks["probed"]))
    return out


def click_latency(clicks: int, resolution: int = 480) -> tuple[list[float], tuple[int, int]]:
    os.environ.setdefault("CORRVIZ_CONFIG_DIR", tempfile.mkdtemp(prefix="corrviz_bench_"))
    from dataclasses import replace

    from corrviz.app.main import create_app

    app, c = create_app()
    c.window.resize(1400, 860)
    c.window.show()
    c.set_start_backbone("dense_sift")
    c.session.options = replace(c.session.options, resolution=resolution)
    c.open_demo()
    t_end = time.perf_counter() + 120
    while c.session.features is None and time.perf_counter() < t_end:
        app.processEvents()
        time.sleep(0.005)
    grid = c.session.features.maps[0].grid_shape
    rng = np.random.default_rng(0)
    w, h = c.session.images[0].size
    times = []
    for k in range(clicks):
        if k % 3 == 0:
            c.session.clear_points()
            app.processEvents()
        before = c.session.matches
        x, y = float(rng.uniform(0.1, 0.9) * w), float(rng.uniform(0.1, 0.9) * h)
        t0 = time.perf_counter()
        c.click_point(0, x, y)
        while c.session.matches is before or c.session.matches is None:
            app.processEvents()
        c.window.pair_view.viewport().repaint()
        times.append(time.perf_counter() - t0)
    c.shutdown()
    c.window.close()
    return times, grid


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="cold starts to time")
    ap.add_argument("--clicks", type=int, default=30, help="clicks to time")
    args = ap.parse_args(argv)
    starts = np.array(cold_start(args.runs))
    for k, what in enumerate(("first window", "backbone list", "weights probed")):
        col = starts[:, k]
        print(f"cold start to {what}: median {np.median(col):.2f} s (runs: {', '.join(f'{v:.2f}' for v in col)}"
              f"{'; target < 3 s' if k == 0 else ''})")
    times, grid = click_latency(args.clicks)
    ms = np.array(times) * 1000
    print(f"click-to-match display at {grid[0]}x{grid[1]} grids: median {np.median(ms):.1f} ms, "
          f"p90 {np.percentile(ms, 90):.1f} ms, max {ms.max():.1f} ms over {len(ms)} clicks (target < 100 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
