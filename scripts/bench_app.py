"""App benchmarks, one table: cold start, and click-to-display latency at a 60x60 grid per machine condition.

``xvfb-run -a python scripts/bench_app.py [--conditions cold_start,idle,training] [--runs 3] [--clicks 30]``.

Each *condition* is a function ``(args) -> list[Row]`` registered in :data:`CONDITIONS`; the table
prints one row per measured quantity with its median, p90, p99 and target. Targets (issue 15):
cold start to the first window < 3 s; click-to-display at 60x60 < 40 ms median on an idle machine
(< 100 ms while a training run is going: the ``training`` condition adds that row and the
event-loop latency p99 < 100 ms). Cold start is measured from spawning a fresh Python process to
the painted window (the app prints its milestones); click latency from the click handler to the end
of the repaint that shows the matches, with the features already extracted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

GRID_RESOLUTION = 480  # dense_sift's 8 px cells: a 60x60 grid


@dataclass
class Row:
    """One measured quantity: its samples (seconds) and its target (a text, '' for none)."""

    condition: str
    name: str
    samples: list[float]
    unit: str = "ms"
    target: str = ""

    def stats(self) -> tuple[float, float, float, float]:
        v = np.asarray(self.samples, float) * (1000.0 if self.unit == "ms" else 1.0)
        return float(np.median(v)), float(np.percentile(v, 90)), float(np.percentile(v, 99)), float(v.max())


def cold_start(args: argparse.Namespace) -> list[Row]:
    """Seconds from spawning the app to its first painted window, its backbone list, and the end of the
    weight probes (which run in a worker after the list is shown)."""
    env = dict(os.environ, CORRVIZ_PRINT_STARTUP="list", CORRVIZ_CONFIG_DIR=tempfile.mkdtemp(prefix="corrviz_bench_"))
    marks_all: dict[str, list[float]] = {"window": [], "list": [], "probed": []}
    for _ in range(args.runs):
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
        for k, v in marks.items():
            marks_all[k].append(v)
    return [Row("cold", "cold start to first window", marks_all["window"], "s", "< 3 s"),
            Row("cold", "cold start to backbone list", marks_all["list"], "s"),
            Row("cold", "cold start to weights probed", marks_all["probed"], "s")]


def open_bench_app(resolution: int = GRID_RESOLUTION):
    """A shown app on the demo pair with dense_sift features at ``resolution`` (60x60 at 480 px)."""
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
    if c.session.features is None:
        raise RuntimeError("the demo pair's features did not arrive within 120 s")
    return app, c


def click_latency(app, c, clicks: int, seed: int = 0) -> list[float]:
    """Seconds from a click in image 1 to the repainted view showing its matches, ``clicks`` times."""
    rng = np.random.default_rng(seed)
    w, h = c.session.images[0].size
    times = []
    for k in range(clicks):
        if k % 3 == 0:
            c.session.clear_points()
            app.processEvents()
        before = c.session.matches
        x, y = float(rng.uniform(0.1, 0.9) * w), float(rng.uniform(0.1, 0.9) * h)
        t0 = time.perf_counter()
        c.pair.click_point(0, x, y)
        while c.session.matches is before or c.session.matches is None:
            app.processEvents()
        c.window.pair_view.viewport().repaint()
        times.append(time.perf_counter() - t0)
    return times


def close_bench_app(c) -> None:
    c.shutdown()
    c.window.close()


def idle(args: argparse.Namespace) -> list[Row]:
    """Click-to-display with nothing else running in the app (the machine's load is printed beside it)."""
    app, c = open_bench_app()
    try:
        gh, gw = c.session.features.maps[0].grid_shape
        times = click_latency(app, c, args.clicks)
    finally:
        close_bench_app(c)
    return [Row("idle", f"click-to-match display at {gh}x{gw} grids", times, "ms", "median < 40 ms")]


# A small MEF run on the random-init test ViT (no weights needed), on 1 thread: the child process keeps one
# core busy for as long as the condition lasts (it is cancelled at the end).
BENCH_RUN = {"model.backbone": "test_dinov2_tiny", "model.pretrained": False, "model.resolution": 112,
             "model.lora_blocks": 2, "data.objects": ["box", "chair", "car"], "data.seeds": 1, "data.n_views": 12,
             "data.render_resolution": 112, "data.points_per_view": 96, "eval.objects": ["mug"],
             "eval.n_views": 12, "eval.resolution": 112, "eval.n_pairs": 2, "eval.n_points": 20, "eval.max_rotation_deg": 90.0,
             "data.max_rotation_deg": 120.0,
             "train.steps": 100000, "train.log_every": 5, "train.eval_every": 0, "train.eval_at_start": False,
             "train.save_last_every": 50, "train.threads": 1}


def wait_for(app, cond: Callable[[], bool], seconds: float, what: str) -> None:
    t_end = time.perf_counter() + seconds
    while not cond():
        if time.perf_counter() > t_end:
            raise RuntimeError(f"{what} did not happen within {seconds:.0f} s")
        app.processEvents()
        time.sleep(0.005)


def event_loop_latency(app, seconds: float, interval_ms: int = 10) -> list[float]:
    """Lateness (s) of a ``interval_ms`` timer over ``seconds`` of the real Qt event loop: the delay a user's
    input would wait before the GUI thread handles it."""
    from PyQt6.QtCore import QEventLoop, QTimer

    late: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        late.append(max(0.0, now - last[0] - interval_ms / 1000.0))
        last[0] = now

    timer = QTimer()
    timer.setInterval(interval_ms)
    timer.timeout.connect(tick)
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    timer.start()
    loop.exec()
    timer.stop()
    return late


def training(args: argparse.Namespace) -> list[Row]:
    """Event-loop latency and click-to-display while a training run started from the Training panel goes."""
    app, c = open_bench_app()
    try:
        c.training.set_runs_folder(tempfile.mkdtemp(prefix="corrviz_bench_runs_"))
        c.window.tabs.setCurrentWidget(c.window.training_panel)
        wait_for(app, lambda: c.training.catalog is not None, 120, "the training methods list")
        c.training.select_method("mef")
        for key, value in BENCH_RUN.items():
            if not c.training.set_value(key, value):
                raise RuntimeError(f"the Training panel refused {key}={value}")
        c.training.start()
        panel = c.window.training_panel
        try:
            wait_for(app, lambda: c.training.process is not None and panel.loss_points() >= 2, 300,
                     "the run's first steps")
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; the panel says: {panel.message.text()}") from None
        c.window.tabs.setCurrentIndex(0)
        gh, gw = c.session.features.maps[0].grid_shape
        lat = event_loop_latency(app, args.loop_seconds)
        times = click_latency(app, c, args.clicks)
        steps = panel.loss_points()
        c.training.cancel()
        wait_for(app, lambda: c.training.process is None, 120, "the cancelled run's exit")
    finally:
        close_bench_app(c)
    print(f"(training condition: the run logged {steps} loss points while it was measured)")
    return [Row("training", f"event-loop latency ({args.loop_seconds:.0f} s, 10 ms timer)", lat, "ms", "p99 < 100 ms"),
            Row("training", f"click-to-match display at {gh}x{gw} grids", times, "ms", "median < 100 ms")]


CONDITIONS: dict[str, Callable[[argparse.Namespace], list[Row]]] = {"cold_start": cold_start, "idle": idle,
                                                                    "training": training}


def format_table(rows: list[Row]) -> str:
    head = f"{'condition':<10} {'measure':<42} {'median':>9} {'p90':>9} {'p99':>9} {'max':>9} {'n':>4}  target"
    lines = [head, "-" * len(head)]
    for r in rows:
        med, p90, p99, mx = r.stats()
        u = r.unit
        lines.append(f"{r.condition:<10} {r.name:<42} {med:>7.2f}{u:>2} {p90:>7.2f}{u:>2} {p99:>7.2f}{u:>2} "
                     f"{mx:>7.2f}{u:>2} {len(r.samples):>4}  {r.target}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conditions", default=",".join(CONDITIONS),
                    help=f"comma-separated, of: {', '.join(CONDITIONS)} (default: all)")
    ap.add_argument("--runs", type=int, default=3, help="cold starts to time")
    ap.add_argument("--clicks", type=int, default=30, help="clicks to time per condition")
    ap.add_argument("--loop-seconds", type=float, default=10.0, help="seconds of event-loop latency (training)")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.conditions.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONDITIONS]
    if unknown or not names:
        ap.error(f"unknown condition(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(CONDITIONS)}")
    rows: list[Row] = []
    for name in names:
        rows += CONDITIONS[name](args)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(format_table(rows))
    print(f"(load average {load:.1f} on {os.cpu_count()} cores when the table was printed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
