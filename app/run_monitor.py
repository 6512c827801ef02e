"""Follow a training run from its folder: tail ``metrics.jsonl``, rate and ETA, and the list of past runs.

No Qt here: the training controller polls a :class:`MetricsTail` from a timer and hands the
:class:`RunSeries` to the panel's plots; the tests drive it with hand-written metrics files.

A run folder is the one :mod:`corrviz.training.run` writes (``run.json``, ``config.yaml``,
``README.md`` with one line per start / resume / end, ``metrics.jsonl``, ``checkpoints/last``).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_END = re.compile(r"^(Finished|Cancelled) .* at step (\d+)")


class MetricsTail:
    """Reads the complete lines appended to a ``metrics.jsonl`` since the last :meth:`poll`.

    A half-written last line is kept for the next poll. When the file is replaced (a resume drops
    the entries logged after its checkpoint and rewrites the file) or shrinks, the tail starts
    again from the top and :attr:`was_reset` is set, so the plots can be cleared first.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._offset = 0
        self._inode: int | None = None
        self._partial = b""
        self.was_reset = False
        self.bad_lines = 0

    def poll(self) -> list[dict[str, Any]]:
        self.was_reset = False
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return []
        if (self._inode is not None and st.st_ino != self._inode) or st.st_size < self._offset:
            self._offset, self._partial, self.was_reset = 0, b"", True
        self._inode = st.st_ino
        if st.st_size == self._offset:
            return []
        with open(self.path, "rb") as fh:
            fh.seek(self._offset)
            chunk = fh.read()
        self._offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()  # b"" when the chunk ended with a newline
        rows = []
        for line in lines:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                self.bad_lines += 1
                continue
            if isinstance(row, dict):
                rows.append(row)
        return rows


@dataclass
class RunSeries:
    """What the panel plots: train loss per logged step, each evaluation metric per step, the last rate."""

    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    evals: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)
    rate: float = float("nan")  # steps per second of the running process (from its last train record)
    last_step: int = 0
    last_time: float | None = None

    def clear(self) -> None:
        self.steps.clear()
        self.loss.clear()
        self.evals.clear()
        self.rate, self.last_step, self.last_time = float("nan"), 0, None

    def add(self, rows: list[dict[str, Any]]) -> int:
        """Add metrics records; returns how many new train points there are."""
        new = 0
        for r in rows:
            step = int(r.get("step", 0))
            if r.get("kind") == "train" and "loss" in r:
                self.steps.append(step)
                self.loss.append(float(r["loss"]))
                if "steps_per_s" in r:
                    self.rate = float(r["steps_per_s"])
                new += 1
            elif r.get("kind") == "eval":
                for k, v in r.items():
                    if k in ("step", "kind", "time") or not isinstance(v, (int, float)):
                        continue
                    xs, ys = self.evals.setdefault(k, ([], []))
                    xs.append(step)
                    ys.append(float(v))
            self.last_step = max(self.last_step, step)
            if "time" in r:
                self.last_time = float(r["time"])
        return new

    def eta_seconds(self, total_steps: int) -> float:
        """Seconds to ``total_steps`` at the current rate (NaN before the rate is known)."""
        if not (self.rate > 0) or total_steps <= 0:
            return float("nan")
        return max(0, total_steps - self.last_step) / self.rate


def format_duration(seconds: float) -> str:
    """``75`` -> ``1m15s``; ``3725`` -> ``1h02m``; NaN -> ``?``."""
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def progress_text(series: RunSeries, total_steps: int) -> str:
    """``step 40/200 · loss 0.412 · 3.10 step/s · ETA 51s`` for the panel's status line."""
    parts = [f"step {series.last_step}/{total_steps}"]
    if series.loss:
        parts.append(f"loss {series.loss[-1]:.4f}")
    if series.rate > 0:
        parts.append(f"{series.rate:.2f} step/s")
        parts.append(f"ETA {format_duration(series.eta_seconds(total_steps))}")
    return " · ".join(parts)


@dataclass
class RunInfo:
    """One run folder as the past-runs list shows it."""

    folder: Path
    method: str
    status: str  # finished | cancelled | running or stopped (no end line yet)
    step: int  # step of the last checkpoint (0 when there is none)
    total_steps: int
    created: str
    command: str
    first_metrics: dict[str, float]  # the step-0 ("before") evaluation, when the run made one
    final_metrics: dict[str, float]  # the last evaluation
    checkpoint: Path | None  # checkpoints/last/model.safetensors

    @property
    def name(self) -> str:
        return self.folder.name

    def config_text(self) -> str:
        p = self.folder / "config.yaml"
        return p.read_text() if p.is_file() else "(no config.yaml)"

    def summary(self) -> str:
        metrics = ", ".join(f"{k} {v:.3g}" for k, v in self.final_metrics.items()) or "no evaluation"
        return f"{self.name}  [{self.method}, {self.status}, step {self.step}/{self.total_steps}]  {metrics}"


def _total_steps(folder: Path) -> int:
    import yaml  # PyYAML (omegaconf's parser): no torch import, unlike corrviz.training

    try:
        data = yaml.safe_load((folder / "config.yaml").read_text())
        return int(data.get("train", {}).get("steps", 0))
    except (OSError, yaml.YAMLError, AttributeError, TypeError, ValueError):
        return 0


def run_status(folder: str | os.PathLike) -> tuple[str, int | None]:
    """``("finished" | "cancelled", step)`` from the run's README end line, else ``("running or stopped", None)``.

    A resume adds a new start line after an end line, so only an end line after the last start counts.
    """
    p = Path(folder) / "README.md"
    lines = [ln for ln in (p.read_text().splitlines() if p.is_file() else []) if ln.strip()]
    for line in reversed(lines):
        m = _END.match(line)
        if m:
            return m.group(1).lower(), int(m.group(2))
        if line.startswith(("Started", "Resumed")):
            break
    return "running or stopped", None


def checkpoint_step(folder: Path) -> tuple[Path | None, int]:
    last = folder / "checkpoints" / "last"
    if not last.exists():
        return None, 0
    m = re.match(r"step_(\d+)$", last.resolve().name)
    return last.resolve() / "model.safetensors", int(m.group(1)) if m else 0


def read_run_info(folder: str | os.PathLike) -> RunInfo | None:
    """The run in ``folder``; None when it is not a corrviz-train run folder (no readable run.json)."""
    folder = Path(folder)
    try:
        run = json.loads((folder / "run.json").read_text())
    except (OSError, ValueError):
        return None
    status, _ = run_status(folder)
    ck, step = checkpoint_step(folder)
    evals = [r for r in MetricsTail(folder / "metrics.jsonl").poll() if r.get("kind") == "eval"]

    def metrics(r: dict) -> dict[str, float]:
        return {k: float(v) for k, v in r.items() if k not in ("step", "kind", "time") and isinstance(v, (int, float))}

    first = metrics(evals[0]) if evals and int(evals[0].get("step", -1)) == 0 else {}
    return RunInfo(folder, str(run.get("method", "?")), status, step, _total_steps(folder), str(run.get("created", "")),
                   str(run.get("command", "")), first, metrics(evals[-1]) if evals else {}, ck)


def list_runs(out_dir: str | os.PathLike) -> list[RunInfo]:
    """The run folders directly under ``out_dir``, newest first (by creation stamp, then name)."""
    root = Path(out_dir)
    if not root.is_dir():
        return []
    runs = [info for d in root.iterdir() if d.is_dir() and (info := read_run_info(d)) is not None]
    return sorted(runs, key=lambda r: (r.created, r.name), reverse=True)
