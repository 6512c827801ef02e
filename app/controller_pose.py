"""The Pose mode's controller: the view's requests -> a core pose query in a worker -> a drawing.

It meets the session (the current feature options and the open mesh), the runner and the
:class:`~corrviz.app.pose_view.PoseView` (or anything with its narrow interface: tests pass a mock).
The query runs in the ``pose`` channel of the runner (a newer request cancels the older one), never
on the GUI thread; bad input is a message in the view, never a traceback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from corrviz.core.errors import CorrvizError

from .pose_view import PoseDrawing, PoseViewValues

if TYPE_CHECKING:  # pragma: no cover  (core.pose imports torch: not at window start)
    from corrviz.core.pose.interactive import PoseQuery, PoseQueryResult

CHANNEL = "pose"


class PoseViewLike(Protocol):  # what the controller needs of the view
    sigEstimate: Any
    sigBrowse: Any
    sigCancel: Any

    def source_text(self) -> str: ...
    def set_source(self, path: str) -> None: ...
    def set_query_image(self, path: str) -> None: ...
    def set_running(self, running: bool) -> None: ...
    def show_message(self, text: str, error: bool = False) -> None: ...
    def show_drawing(self, d: PoseDrawing) -> None: ...


@dataclass
class PoseContext:
    """What the pose controller uses of the app (the fields of the app context of the redesign)."""

    session: Any
    runner: Any
    report_error: Callable[[BaseException, str], None]
    show_status: Callable[[str], None]


def pose_query(v: PoseViewValues) -> PoseQuery:
    """The core request of the view's values (a pure function)."""
    from corrviz.core.pose.interactive import PoseQuery

    return PoseQuery(source=v.source, query=v.query_image if v.query_kind == "image" else None,
                     azimuth_deg=v.azimuth_deg, elevation_deg=v.elevation_deg, distance=v.distance,
                     matcher=v.matcher, n_references=v.n_references, threshold_px=v.threshold_px,
                     render_resolution=v.render_resolution, appearance=v.appearance)


def pose_drawing(r: PoseQueryResult) -> PoseDrawing:
    """What the view draws for a result (a pure function)."""
    text = r.summary()
    if r.estimate.found and r.reference_rgb is None:
        text += "; no reference matches to draw (oracle: exact surface points)"
    elif r.estimate.found:
        text += f"; lines: {len(r.inlier_query_xy)} inliers to {r.reference_name}"
    if r.ground_truth is None:
        text += "; green (ground truth) is shown only for a rendered query"
    return PoseDrawing(r.query_rgb, r.reference_rgb, r.truth_outline, r.estimate_outline, r.inlier_query_xy,
                       r.inlier_reference_xy, text, r.estimate.found)


def feature_spec(options: Any) -> Any:
    """The evaluation's extractor spec of the session's feature options."""
    from corrviz.core.evaluate import ExtractorSpec

    if isinstance(options, ExtractorSpec):
        return options
    o = options
    return ExtractorSpec(o.backbone, o.resolution, o.canvas, o.layer, o.facet, o.checkpoint, device=o.device)


class PoseController:
    def __init__(self, ctx: PoseContext, view: PoseViewLike,
                 pick_path: Callable[[str], str | None] | None = None) -> None:
        self.ctx = ctx
        self.view = view
        self.pick_path = pick_path or _dialog_path
        self._stores: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.last_result: PoseQueryResult | None = None
        view.sigEstimate.connect(self.estimate)
        view.sigBrowse.connect(self.browse)
        view.sigCancel.connect(self.cancel)
        sig = getattr(ctx.session, "sigMeshChanged", None)
        if sig is not None:
            sig.connect(self._on_mesh)

    def _on_mesh(self, *_a: Any) -> None:
        path = getattr(self.ctx.session, "mesh_path", None)
        if path and not self.view.source_text():
            self.view.set_source(str(path))

    def browse(self, kind: str) -> None:
        path = self.pick_path(kind)
        if not path:
            return
        if kind == "image":
            self.view.set_query_image(path)
        else:
            self.view.set_source(path)

    def _store(self, spec: Any) -> Any:
        """One feature store per feature setting, kept across queries (the model loads once)."""
        import json

        from corrviz.core.evaluate import FeatureStore, build_extractor

        key = json.dumps(spec.to_dict(), sort_keys=True, default=str)
        with self._lock:
            if key not in self._stores:
                self._stores[key] = FeatureStore(build_extractor(spec))
            return self._stores[key]

    def estimate(self, values: PoseViewValues) -> bool:
        """Start the pose query; False (and a message) when the input is bad."""
        q = pose_query(values)
        try:
            q.check()
        except CorrvizError as exc:
            self.view.show_message(str(exc), error=True)
            self.ctx.show_status(f"Pose: {exc}")
            return False
        spec = feature_spec(self.ctx.session.options)
        self.view.set_running(True)
        self.view.show_message(f"Estimating the pose of {Path(q.query).name if q.query else 'a rendered view'} "
                               f"against {Path(q.source).name} with {spec.backbone}…")

        def job(progress):
            store = self._store(spec) if q.matcher == "features" else None
            return run(q, store, progress)

        self.ctx.runner.submit(CHANNEL, job, on_result=self._on_result, on_error=self._on_error,
                               on_cancelled=self._on_cancelled)
        return True

    def cancel(self) -> None:
        if self.ctx.runner.cancel(CHANNEL):
            self.view.show_message("Cancelled.")
        self.view.set_running(False)

    def _on_result(self, result: PoseQueryResult, seconds: float) -> None:
        self.last_result = result
        self.view.set_running(False)
        self.view.show_drawing(pose_drawing(result))
        self.ctx.show_status(f"Pose: {result.summary()} ({seconds:.1f} s)")

    def _on_error(self, exc: BaseException) -> None:
        self.view.set_running(False)
        self.view.show_message(f"{type(exc).__name__}: {exc}" if not isinstance(exc, CorrvizError) else str(exc),
                               error=True)
        self.ctx.report_error(exc, "Pose estimation failed")

    def _on_cancelled(self) -> None:
        self.view.set_running(False)


def run(q: PoseQuery, store: Any, progress: Any) -> PoseQueryResult:
    from corrviz.core.pose.interactive import run_pose_query

    return run_pose_query(q, store, progress)


def _dialog_path(kind: str) -> str | None:
    from PyQt6.QtWidgets import QFileDialog

    from corrviz.core.evaluate.multiview import MESH_SUFFIXES

    if kind == "folder":
        return QFileDialog.getExistingDirectory(None, "Reference folder (poses.json)") or None
    if kind == "mesh":
        pattern = "Meshes (" + " ".join(f"*{s}" for s in MESH_SUFFIXES) + ")"
        return QFileDialog.getOpenFileName(None, "Mesh", "", pattern)[0] or None
    return QFileDialog.getOpenFileName(None, "Query image", "", "Images (*.png *.jpg *.jpeg *.bmp *.tif *.webp)")[0] \
        or None


__all__ = ["PoseContext", "PoseController", "feature_spec", "pose_drawing", "pose_query"]
