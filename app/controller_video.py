"""The video controller: reading a video, its features and point tracks, over the session.

Its view is the video view (:class:`VideoViewLike`, or a mock). Tracks drawn in 3-D are the scene
controller's (it listens to the same session signal).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from corrviz.core.session import extract_maps

from .context import AppContext

TRACK_COLORS = ((255, 200, 0), (0, 200, 255), (255, 90, 170), (120, 230, 90), (190, 140, 255), (255, 140, 40))


def track_color(k: int) -> tuple[int, int, int]:
    return TRACK_COLORS[k % len(TRACK_COLORS)]


def track_summary(t, rule_label: str, features: str = "") -> str:
    """One status line: how many tracks, through how many frames, and how many frames each hides
    (and, when given, which features tracked them)."""
    hidden = (~t.visible).sum(axis=0)
    per = ", ".join(f"#{k + 1}: {int(h)}" for k, h in enumerate(hidden))
    by = f" ({features})" if features else ""
    return (f"{t.num_points} track(s) through {t.num_frames} frames in {t.seconds * 1000:.0f} ms{by}; "
            f"frames flagged occluded ({rule_label}): {per}.")


def features_label(options) -> str:  # noqa: ANN001
    """The backbone, plus the finetuned checkpoint (e.g. a 3DPoV run's) when one is loaded."""
    return options.backbone + (f" + {Path(options.checkpoint).name}" if options.checkpoint else "")


class VideoViewLike(Protocol):
    """What the video controller needs of :class:`corrviz.app.widgets.video_view.VideoView`."""

    sigFrameRequested: Any  # frame index
    sigPointClicked: Any  # (x, y) on the frame shown
    sigStepChanged: Any
    sigOcclusionChanged: Any  # (rule, threshold)
    sigClearTracks: Any

    def occlusion_setting(self) -> tuple[str, float]: ...
    def step_value(self) -> int: ...
    def show_message(self, text: str) -> None: ...
    def set_video(self, n_frames: int, indices: list[int], step: int) -> None: ...
    def set_frame(self, index: int, rgb: np.ndarray | None) -> None: ...
    def set_tracks(self, tracks: list, text: str = "") -> None: ...


class VideoController:
    def __init__(self, ctx: AppContext, view: VideoViewLike) -> None:
        self.ctx, self.session, self.runner, self.view = ctx, ctx.session, ctx.runner, view
        s = self.session
        self._occlusion = view.occlusion_setting()
        self._queued: list[tuple[int, float, float]] | None = None  # queries of the tracking job in flight
        view.sigFrameRequested.connect(s.set_frame)
        view.sigPointClicked.connect(self.track_point)
        view.sigStepChanged.connect(self._on_step)
        view.sigOcclusionChanged.connect(self._on_occlusion)
        view.sigClearTracks.connect(self.clear_tracks)
        s.sigVideoChanged.connect(self._on_video)
        s.sigFrameChanged.connect(self._on_frame)
        s.sigTrackChanged.connect(self._on_track)
        s.sigOptionsChanged.connect(lambda _o: self.extract_video_features())

    def open_video(self, path: str, step: int | None = None) -> None:
        step = int(step or self.view.step_value())

        def done(frames, sec: float) -> None:
            self.session.set_video(path, frames, step)
            self.session.record_timing("video_read", sec)
            self.ctx.show_tab("video")
            self.extract_video_features()

        self.ctx.show_status(f"Reading {Path(path).name} (every {step} frames)…")
        from corrviz.core.tracking import read_video  # torch: not imported before the first window

        self.runner.submit("video", lambda p: read_video(path, step, progress=p), on_result=done,
                           on_error=lambda e: self.ctx.report_error(e, "Cannot open video"),
                           on_cancelled=lambda: self.ctx.show_status("Video loading cancelled"))

    def extract_video_features(self) -> None:
        s = self.session
        if s.video is None:
            return
        frames, options = list(s.video.frames), s.options
        # a finetuned checkpoint (e.g. 3DPoV's) tracks with its own features: say which
        what = features_label(options)

        def done(maps, sec: float) -> None:
            s.set_video_features(maps)
            s.record_timing("video", sec)
            self.view.show_message(f"{len(maps)} frames ready ({what}). Click points on a frame to track them.")
            self.retrack()  # tracks kept from other features are recomputed with these

        self.view.show_message(f"Extracting {what} features of {len(frames)} frames…")
        self.runner.submit("video_features", lambda p: extract_maps(frames, options, p), on_result=done,
                           on_error=lambda e: self.ctx.report_error(e, "Video feature extraction failed"),
                           on_cancelled=lambda: self.view.show_message("Video features cancelled"))

    def _on_video(self) -> None:
        s = self.session
        self._queued = None
        n = len(s.video) if s.video is not None else 0
        self.view.set_video(n, s.video.indices if s.video is not None else [], s.video_step)
        self._on_frame(s.frame)

    def _on_frame(self, index: int) -> None:
        s = self.session
        rgb = s.video.frames[index] if s.video is not None and index < len(s.video) else None
        self.view.set_frame(index, rgb)

    def _on_step(self, step: int) -> None:
        if self.session.video_path:
            self.open_video(self.session.video_path, step)

    def _on_occlusion(self, rule: str, value: float) -> None:
        self._occlusion = (rule, float(value))
        if self.track_queries():
            self.retrack()

    def track_queries(self) -> list[tuple[int, float, float]]:
        """The query points (frame, x, y) of the tracks, oldest first: those of the tracking job still running
        (so that a second click before the first track arrives keeps both), else those in the session."""
        if self._queued is not None:
            return list(self._queued)
        return list(self.session.track_query or [])

    def track_point(self, x: float, y: float, frame: int | None = None) -> None:
        """Add a track from (x, y) of ``frame`` (default: the frame shown); the others are kept."""
        s = self.session
        if s.video_maps is None:
            self.view.show_message("Video features are not ready yet; wait for the extraction.")
            return
        frame = s.frame if frame is None else int(frame)
        self.retrack(self.track_queries() + [(frame, float(x), float(y))])

    def clear_tracks(self) -> None:
        self.runner.cancel("track")
        self._queued = None
        self.session.set_track(None, None)
        self.view.show_message("Tracks cleared. Click points on a frame to track them.")

    def retrack(self, queries: list[tuple[int, float, float]] | None = None) -> None:
        """(Re)compute every track with the current features and occlusion rule."""
        s = self.session
        queries = self.track_queries() if queries is None else queries
        if s.video_maps is None or not queries:
            return
        from corrviz.core.tracking import track_query_points  # torch: not imported before the first window

        maps, (rule, value) = list(s.video_maps), self._occlusion
        self._queued = list(queries)

        def done(track, sec: float) -> None:
            if self._queued == queries:
                self._queued = None
            s.set_track(track, queries)
            s.record_timing("track", sec)

        def failed(exc: BaseException) -> None:
            self._queued = None
            self.ctx.report_error(exc, "Tracking failed")

        self.runner.submit("track", lambda p: track_query_points(maps, queries, rule, value, progress=p),
                           on_result=done, on_error=failed, on_cancelled=self._forget_queued)

    def _forget_queued(self) -> None:
        self._queued = None

    def _on_track(self) -> None:
        from .widgets.video_view import OCCLUSION_UI, TrackLayer

        s, t = self.session, self.session.track
        if t is None:
            self.view.set_tracks([])
            return
        frames, qxy = t.point_query_frames(), t.query_xy if t.query_xy is not None else np.zeros((t.num_points, 2))
        conf = t.confidence if t.confidence is not None else np.clip(t.score, 0, 1)
        self.view.set_tracks([TrackLayer(t.xy[:, k], t.visible[:, k], conf[:, k], int(frames[k]),
                                         (float(qxy[k, 0]), float(qxy[k, 1])), track_color(k))
                              for k in range(t.num_points)],
                             track_summary(t, OCCLUSION_UI[t.rule][0], features_label(s.options)))
