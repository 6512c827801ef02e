"""The compare controller: two feature settings (backbone and checkpoint) on the same image pair.

Side A and side B each have feature options (the session's options type); their features are
extracted in workers (one channel per side, so changing one side never recomputes the other)
and every clicked source point is matched by both (nearest neighbour, the same matcher on both
sides), off the GUI thread, newest request first. ``open_before_after(run)`` sets A = the base
backbone and B = the run's checkpoint at the tap and resolution it was trained for, takes the
2-D view's pair and points (or the demo pair), and plots the evaluation the run performed.

When the pair has a known source -> target affine (the demo pair), each side's summary gives the
error of its matches in pixels, so "is it better?" has a number next to the picture.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from corrviz.core.errors import CorrvizError

from .render_state import point_rgb
from .run_monitor import MetricsTail, RunInfo, RunSeries

DEFAULT_GRID = 3  # query points on a fresh pair: a 3 x 3 grid over the middle of the source image


def default_points(width: int, height: int, n: int = DEFAULT_GRID) -> list[tuple[float, float]]:
    fr = np.linspace(0.3, 0.7, n)
    return [(float(x * width), float(y * height)) for y in fr for x in fr]


def affine_errors(points: np.ndarray, predicted: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Pixel distance of each predicted target point from where the (2, 3) affine maps its source point."""
    pts = np.asarray(points, float).reshape(-1, 2)
    gt = pts @ np.asarray(affine, float)[:, :2].T + np.asarray(affine, float)[:, 2]
    return np.linalg.norm(np.asarray(predicted, float).reshape(-1, 2) - gt, axis=1)


def side_summary(scores: np.ndarray, errors: np.ndarray | None, image_side: int) -> str:
    """``mean error 6.1 px · PCK@0.05 8/9 · mean similarity 0.71`` (errors only with ground truth)."""
    parts = []
    if errors is not None and len(errors):
        thr = 0.05 * image_side
        parts.append(f"mean error {float(np.mean(errors)):.1f} px")
        parts.append(f"PCK@0.05 {int(np.sum(errors <= thr))}/{len(errors)}")
    if len(scores):
        parts.append(f"mean similarity {float(np.mean(scores)):.3f}")
    return " · ".join(parts) or "no points"


def describe(options: Any) -> str:
    ck = getattr(options, "checkpoint", None)
    res = getattr(options, "resolution", None)
    return (f"{options.backbone}" + (f" @ {res}px" if res else "")
            + (f" + {Path(ck).parent.name}/{Path(ck).name}" if ck else " (base)"))


class CompareController:
    """Compare view <-> two sides' features and matches (see the module docstring)."""

    def __init__(self, ctx: Any, view: Any, demo: Any = None) -> None:
        self.ctx, self.view = ctx, view
        self.demo = demo  # () -> (images, affine); the app's demo pair
        self.images: list[Any] = []
        self.affine: np.ndarray | None = None
        self.points: list[tuple[float, float]] = []
        self.sides: list[Any] = [None, None]
        self.maps: list[list | None] = [None, None]
        self.matches: list[Any] = [None, None]
        self.run: RunInfo | None = None
        view.sigSourceClicked.connect(self.add_point)
        view.sigClearPoints.connect(self.clear_points)
        view.sigSideBackbone.connect(self.set_side_backbone)
        view.sigSideCheckpointClear.connect(lambda side: self.set_side_checkpoint(side, None))
        view.sigUseSessionPair.connect(self.use_session_pair)

    # -- what is compared ---------------------------------------------------------------------------
    def open_pair(self, images: list[Any], points: list[tuple[float, float]] | None = None,
                  affine: np.ndarray | None = None) -> None:
        if len(images) < 2:
            self.view.set_message("the comparison needs two images: open a pair in the 2D view first", ok=False)
            return
        self.images, self.affine = list(images[:2]), affine
        for side in (0, 1):
            if self.sides[side] is None:  # first use: both sides start as the session's options
                self.sides[side] = self.ctx.session.options
                self.view.set_side(side, self.sides[side].backbone, describe(self.sides[side]))
        w, h = self.images[0].size
        self.points = list(points) if points else default_points(w, h)
        self.view.set_images(self.images[0].rgb, self.images[1].rgb)
        self._show_points()
        self.maps = [None, None]
        for side in (0, 1):
            if self.sides[side] is not None:
                self._extract(side)

    def use_session_pair(self) -> None:
        s = self.ctx.session
        pts = [(p.x, p.y) for p in s.points if p.image == 0]
        images, affine = list(s.images), getattr(self.ctx, "affine", None)
        if len(images) < 2 and self.demo is not None:
            images, affine = self.demo()
        self.open_pair(images, pts, affine if getattr(s, "demo", False) or len(s.images) < 2 else None)

    def set_sides(self, a: Any, b: Any) -> None:
        self.sides = [a, b]
        for side in (0, 1):
            self.view.set_side(side, self.sides[side].backbone, describe(self.sides[side]))
            self.maps[side] = None
            if self.images:
                self._extract(side)

    def set_side_backbone(self, side: int, backbone: str) -> None:
        cur = self.sides[side]
        if cur is None or cur.backbone == backbone:
            return
        self.set_side(side, replace(cur, backbone=backbone, checkpoint=None, resolution=None, layer=None,
                                    facet=None))

    def set_side_checkpoint(self, side: int, path: str | None) -> bool:
        """A checkpoint on one side, at the backbone, tap and resolution it was trained for."""
        cur = self.sides[side]
        if cur is None:
            return False
        if path is None:
            self.set_side(side, replace(cur, checkpoint=None))
            return True
        from corrviz.core.checkpoint import read_checkpoint_metadata

        try:
            meta = read_checkpoint_metadata(path)
        except CorrvizError as exc:
            self.view.set_message(str(exc), ok=False)
            return False
        self.set_side(side, checkpoint_options(cur, str(path), meta))
        return True

    def set_side(self, side: int, options: Any) -> None:
        self.sides[side] = options
        self.view.set_side(side, options.backbone, describe(options))
        self.maps[side] = None
        self.matches[side] = None
        self.view.set_matches(side, None, None, [])
        if self.images:
            self._extract(side)

    def open_before_after(self, run: RunInfo, base_options: Any) -> None:
        """A = the run's base backbone, B = its last checkpoint; the session's pair; the run's evaluation."""
        from corrviz.core.checkpoint import read_checkpoint_metadata

        try:
            meta = read_checkpoint_metadata(run.checkpoint)
        except CorrvizError as exc:
            self.view.set_message(str(exc), ok=False)
            return
        after = checkpoint_options(base_options, str(run.checkpoint), meta)
        self.run = run
        series = RunSeries()
        series.add(MetricsTail(run.folder / "metrics.jsonl").poll())
        self.view.set_eval(series, eval_title(run))
        if not self.images:
            self.use_session_pair()
        self.set_sides(replace(after, checkpoint=None), after)
        self.view.set_message(f"before / after {run.name}: A = {describe(self.sides[0])}, "
                              f"B = {describe(self.sides[1])}. Click the source image to add points.", ok=True)

    # -- points -------------------------------------------------------------------------------------
    def add_point(self, x: float, y: float) -> None:
        self.points.append((float(x), float(y)))
        self._show_points()
        for side in (0, 1):
            self._match(side)

    def clear_points(self) -> None:
        self.points = []
        self._show_points()
        for side in (0, 1):
            self.matches[side] = None
            self.view.set_matches(side, None, None, [])
            self.view.set_summary(side, "")

    def _colors(self) -> list[tuple[int, int, int]]:
        return [point_rgb(k) for k in range(len(self.points))]

    def _show_points(self) -> None:
        self.view.set_points(np.array(self.points, float).reshape(-1, 2), self._colors())

    # -- work ---------------------------------------------------------------------------------------
    def _extract(self, side: int) -> None:
        from corrviz.core.session import extract_maps

        options, rgbs = self.sides[side], [im.rgb for im in self.images]
        self.view.set_summary(side, "extracting features…")

        def done(maps: list, _sec: float) -> None:
            if self.sides[side] == options:
                self.maps[side] = maps
                self._match(side)

        def failed(exc: Exception) -> None:
            self.view.set_summary(side, "features failed")
            self.ctx.report_error(exc, f"Compare side {'AB'[side]}")

        self.ctx.runner.submit(f"compare_extract_{side}", lambda p: extract_maps(rgbs, options, p), on_result=done,
                               on_error=failed)

    def _match(self, side: int) -> None:
        maps = self.maps[side]
        if maps is None or not self.points:
            return
        from corrviz.core.matching import match_points

        pts = np.array(self.points, float)
        affine, side_px = self.affine, max(self.images[1].size)

        def job(_p):  # noqa: ANN001
            m = match_points(maps[0], maps[1], pts, "nn")
            errors = affine_errors(pts, m.trg_xy, affine) if affine is not None else None
            return m, errors

        def done(result, _sec: float) -> None:
            m, errors = result
            if self.maps[side] is not maps or len(m.trg_xy) != len(self.points):
                return  # features or points changed meanwhile: a newer request follows
            self.matches[side] = m
            self.view.set_matches(side, m.trg_xy, m.valid, self._colors())
            self.view.set_summary(side, side_summary(m.score, errors, side_px))

        self.ctx.runner.submit(f"compare_match_{side}", job, on_result=done,
                               on_error=lambda e: self.ctx.report_error(e, "Compare matches"))


def checkpoint_options(options: Any, path: str, meta: dict) -> Any:
    """``options`` moved to the checkpoint's backbone, tap and resolution, with the checkpoint."""
    feature = meta.get("feature") or {}
    return replace(options, backbone=str(meta.get("backbone", options.backbone)),
                   resolution=feature.get("resolution", options.resolution),
                   layer=feature.get("layer", options.layer), facet=feature.get("facet", options.facet),
                   checkpoint=path)


def eval_title(run: RunInfo) -> str:
    def fmt(m: dict[str, float]) -> str:
        return ", ".join(f"{k} {v:.3g}" for k, v in m.items())

    if run.first_metrics and run.final_metrics:
        return f"{run.name}: before {fmt(run.first_metrics)} → after (step {run.step}) {fmt(run.final_metrics)}"
    if run.final_metrics:
        return f"{run.name}: evaluation at step {run.step}: {fmt(run.final_metrics)}"
    return f"{run.name}: the run made no evaluation"
