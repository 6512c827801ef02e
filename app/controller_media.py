"""The controller's video, mesh and 3-D parts (a mixin of :class:`corrviz.app.controller.Controller`).

The VisPy view is created the first time the 3-D tab is shown, so the app's cold start does not
pay for an OpenGL context; whatever the session holds is pushed to it then.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from corrviz.core.errors import Cancelled, CorrvizError, MeshError
from corrviz.core.session import extract_maps
from corrviz.core.session_3d import load_mesh_arrays, sphere_points

from .render_state import highlight_cells

MESH_SUFFIXES = (".obj", ".ply", ".stl", ".off", ".glb", ".gltf", ".npz")
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


class MediaMixin:
    """Video, tracking, mesh and the 3-D view. Uses ``self.session``, ``self.window``, ``self.runner``."""

    def _init_media(self) -> None:
        s, vv = self.session, self.window.video_view
        self.view3d = None
        self._occlusion = (vv.occlusion_rule(), float(vv.threshold.value()))
        vv.sigFrameRequested.connect(s.set_frame)
        vv.sigPointClicked.connect(self.track_point)
        vv.sigStepChanged.connect(self._on_step)
        vv.sigOcclusionChanged.connect(self._on_occlusion)
        vv.sigClearTracks.connect(self.clear_tracks)
        s.sigVideoChanged.connect(self._on_video)
        s.sigFrameChanged.connect(self._on_frame)
        s.sigTrackChanged.connect(self._on_track)
        s.sigMeshChanged.connect(self._on_mesh)
        s.sigOptionsChanged.connect(self._on_media_options)
        self._mesh_shown: str | None = None  # path of the mesh the 3-D camera was last framed on

    # -- 3-D view -----------------------------------------------------------------------------------
    def ensure_view3d(self):
        if self.view3d is None:
            import importlib.util

            if importlib.util.find_spec("triton") is not None:
                # Triton bundles LLVM; imported after Mesa's llvmpipe (software GL, e.g. Xvfb) it segfaults,
                # and timm imports it (torchvision -> torch._dynamo) on the first ViT. Load it before GL.
                import triton  # noqa: F401
            from .widgets.view3d import View3D

            self.view3d = View3D()
            self.window.set_view3d(self.view3d)
            self.view3d.sigPointPicked.connect(self._on_pick3d)
            self._update_3d_points()
            self._on_track()
            self._on_mesh()
        return self.view3d

    def _on_tab(self, index: int) -> None:
        from .main_window import TAB_3D

        if index == TAB_3D and self.view3d is None:
            self.ensure_view3d()

    def _update_3d_points(self) -> None:
        if self.view3d is None:
            return
        f = self.session.features
        if f is None:
            self.view3d.set_point_clouds(None, None, None)
        else:
            self.view3d.set_point_clouds(f.points3d, f.colors3d, f.cells3d, [im.name for im in self.session.images])
        self._update_3d_sphere()
        self._update_3d_highlight()

    def _update_3d_sphere(self) -> None:
        """Real sphere points (sphere mapper) coloured like the joint PCA, or the labelled placeholder."""
        s, f = self.session, self.session.features
        if s.sphere_checkpoint is None or f is None:
            self.view3d.set_sphere_points(None, None, None)
            return
        maps = s.sphere_maps
        if maps is None:
            self.view3d.set_sphere_points(None, None, None, "Extracting sphere maps…")
            return
        if [m.grid_shape for m in maps] != [m.grid_shape for m in f.maps]:
            self.view3d.set_sphere_points(None, None, None, "Sphere maps and features are on different grids; "
                                          "the placeholder is shown.")
            return
        from corrviz.core.sph import mapper_label  # imports torch: not at window start

        note = (f"{mapper_label(s.sphere_checkpoint)}: sphere points of {sum(len(c) for c in f.cells3d)} cells, "
                "coloured by the joint PCA of the features.")
        self.view3d.set_sphere_points(sphere_points(maps, f.cells3d), f.colors3d, f.cells3d, note)

    def _update_3d_highlight(self) -> None:
        if self.view3d is not None:
            self.view3d.set_highlight(*highlight_cells(self.session))

    def _on_pick3d(self, image: int, row: int, col: int) -> None:
        f = self.session.features
        if f is None or image >= len(f.maps):
            return
        x, y = f.maps[image].transform.cell_to_image(np.array([row, col], float))
        self.click_point(image, float(x), float(y))
        self.window.show_status(f"Picked cell ({row}, {col}) of image {image + 1} in 3-D")

    # -- video --------------------------------------------------------------------------------------
    def open_video(self, path: str, step: int | None = None) -> None:
        vv = self.window.video_view
        step = int(step or vv.step.value())

        def done(frames, sec: float) -> None:
            self.session.set_video(path, frames, step)
            self.session.record_timing("video_read", sec)
            self.window.tabs.setCurrentWidget(vv)
            self.extract_video_features()

        self.window.show_status(f"Reading {Path(path).name} (every {step} frames)…")
        from corrviz.core.tracking import read_video  # torch: not imported before the first window

        self.runner.submit("video", lambda p: read_video(path, step, progress=p), on_result=done,
                           on_error=lambda e: self.report_error(e, "Cannot open video"),
                           on_cancelled=lambda: self.window.show_status("Video loading cancelled"))

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
            self.window.video_view.status.setText(
                f"{len(maps)} frames ready ({what}). Click points on a frame to track them.")
            self.retrack()  # tracks kept from other features are recomputed with these

        self.window.video_view.status.setText(f"Extracting {what} features of {len(frames)} frames…")
        self.runner.submit("video_features", lambda p: extract_maps(frames, options, p), on_result=done,
                           on_error=lambda e: self.report_error(e, "Video feature extraction failed"),
                           on_cancelled=lambda: self.window.video_view.status.setText("Video features cancelled"))

    def _on_video(self) -> None:
        s = self.session
        n = len(s.video) if s.video is not None else 0
        self.window.video_view.set_video(n, s.video.indices if s.video is not None else [], s.video_step)
        self._on_frame(s.frame)

    def _on_frame(self, index: int) -> None:
        s = self.session
        rgb = s.video.frames[index] if s.video is not None and index < len(s.video) else None
        self.window.video_view.set_frame(index, rgb)

    def _on_step(self, step: int) -> None:
        if self.session.video_path:
            self.open_video(self.session.video_path, step)

    def _on_occlusion(self, rule: str, value: float) -> None:
        self._occlusion = (rule, float(value))
        if self.track_queries():
            self.retrack()

    def track_queries(self) -> list[tuple[int, float, float]]:
        """The query points (frame, x, y) of the tracks kept in the session, oldest first."""
        return list(self.session.track_query or [])

    def track_point(self, x: float, y: float, frame: int | None = None) -> None:
        """Add a track from (x, y) of ``frame`` (default: the frame shown); the others are kept."""
        s = self.session
        if s.video_maps is None:
            self.window.video_view.status.setText("Video features are not ready yet; wait for the extraction.")
            return
        frame = s.frame if frame is None else int(frame)
        self.retrack(self.track_queries() + [(frame, float(x), float(y))])

    def clear_tracks(self) -> None:
        self.runner.cancel("track")
        self.session.set_track(None, None)
        self.window.video_view.status.setText("Tracks cleared. Click points on a frame to track them.")

    def retrack(self, queries: list[tuple[int, float, float]] | None = None) -> None:
        """(Re)compute every track with the current features and occlusion rule."""
        s = self.session
        queries = self.track_queries() if queries is None else queries
        if s.video_maps is None or not queries:
            return
        from corrviz.core.tracking import track_query_points  # torch: not imported before the first window

        maps, (rule, value) = list(s.video_maps), self._occlusion

        def done(track, sec: float) -> None:
            s.set_track(track, queries)
            s.record_timing("track", sec)

        self.runner.submit("track", lambda p: track_query_points(maps, queries, rule, value, progress=p),
                           on_result=done, on_error=lambda e: self.report_error(e, "Tracking failed"))

    def _on_track(self) -> None:
        from .widgets.video_view import OCCLUSION_UI, TrackLayer

        s, t = self.session, self.session.track
        vv = self.window.video_view
        if t is None:
            vv.set_tracks([])
            if self.view3d is not None:
                self.view3d.set_tracks(None)
            return
        frames, qxy = t.point_query_frames(), t.query_xy if t.query_xy is not None else np.zeros((t.num_points, 2))
        conf = t.confidence if t.confidence is not None else np.clip(t.score, 0, 1)
        colors = [track_color(k) for k in range(t.num_points)]
        vv.set_tracks([TrackLayer(t.xy[:, k], t.visible[:, k], conf[:, k], int(frames[k]),
                                  (float(qxy[k, 0]), float(qxy[k, 1])), colors[k]) for k in range(t.num_points)],
                      track_summary(t, OCCLUSION_UI[t.rule][0], features_label(s.options)))
        if self.view3d is not None and s.video is not None:
            self.view3d.set_tracks([t.curve(k) for k in range(t.num_points)], colors, s.video.size)

    def _on_media_options(self, options) -> None:
        self.extract_video_features()
        m = self.session.mesh
        if m is not None and self.session.mesh_path and m.options != options:
            self.recolor_mesh()

    # -- mesh ---------------------------------------------------------------------------------------
    def open_mesh(self, path: str, show: bool = True) -> None:
        """Load a mesh and colour it by the current backbone's features (off the GUI thread).

        ``show``: switch to the 3-D mesh view when done (False when only recolouring).
        """
        def done(arrays, _sec: float) -> None:
            self.session.set_mesh(path, arrays)
            if show:
                view = self.ensure_view3d()
                self.window.tabs.setCurrentWidget(view)
                view.set_mode("mesh")

        options = self.session.options

        def job(progress):
            try:
                return load_mesh_arrays(path, options, progress=progress)
            except (MeshError, Cancelled):
                raise
            except CorrvizError as exc:  # features unavailable (e.g. no weights): show the plain mesh
                arrays = load_mesh_arrays(path)
                arrays.note, arrays.options = f"No {options.backbone} feature colours: {exc}", options
                return arrays

        self.runner.submit("mesh", job, on_result=done,
                           on_error=lambda e: self.report_error(e, "Cannot open mesh"))

    def recolor_mesh(self) -> None:
        """The options changed: drop the old colours at once (they belong to other features) and recompute."""
        s, m = self.session, self.session.mesh
        grey = replace(m, vertex_colors=None, options=None,
                       note=f"Computing vertex colours from {s.options.backbone} features…")
        s.set_mesh(s.mesh_path, grey)
        self.open_mesh(s.mesh_path, show=False)

    def _on_mesh(self) -> None:
        if self.view3d is None:
            return
        m, path = self.session.mesh, self.session.mesh_path
        if m is None:
            self.view3d.set_mesh(None, None)
        else:
            new = path != self._mesh_shown  # a recolouring keeps the user's camera and up axis
            self.view3d.set_mesh(m.vertices, m.faces, m.vertex_colors, m.note, up=m.up if new else None,
                                 reset_camera=new)
        self._mesh_shown = path if m is not None else None

    def _close_media(self) -> None:
        if self.view3d is not None:
            self.view3d.close_canvas()
