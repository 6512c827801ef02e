"""The controller: the one place where the session model and the views meet.

Views emit what the user asked for; the controller updates the :class:`~corrviz.core.session.Session`
or starts a job in a worker (:class:`~corrviz.app.workers.TaskRunner`); session signals redraw
the views. Video, mesh and 3-D handling live in :mod:`corrviz.app.controller_media`, the checkpoint
pickers (finetuned features, sphere mapper) in :mod:`corrviz.app.controller_checkpoints` and the
benchmark evaluation panel in :mod:`corrviz.app.controller_eval` (mixins of the same controller).
"""

from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path

from PyQt6.QtCore import QObject, QSettings, QTimer
from PyQt6.QtWidgets import QFileDialog

from corrviz.core.errors import CorrvizError
from corrviz.core.session import (
    ExtractionOptions,
    MatchRequest,
    Session,
    compute_dense,
    compute_matches,
    extract_features,
    load_images,
    pca_result,
)
from corrviz.core.settings import config_dir

from .controller_checkpoints import CheckpointMixin
from .controller_eval import EvalMixin
from .controller_figure import FigureMixin
from .controller_media import MESH_SUFFIXES, MediaMixin
from .demo import demo_images
from .main_window import TAB_2D, MainWindow
from .registry_info import available_devices, backbone_entries
from .render_state import dense_lines, match_drawing, timing_text
from .session_io import is_session_file, load_session, save_session
from .widgets.options_panel import PanelValues
from .workers import TaskRunner

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".gif")
LONG_CHANNELS = ("load", "extract", "sphere", "video", "video_features", "track", "mesh")


class Controller(MediaMixin, CheckpointMixin, EvalMixin, FigureMixin, QObject):
    def __init__(self, window: MainWindow | None = None, settings: QSettings | None = None,
                 max_threads: int = 2) -> None:
        super().__init__()
        self.session = Session()
        self.window = window or MainWindow()
        self.runner = TaskRunner(self, max_threads=max_threads)
        self.settings = settings or QSettings(str(config_dir() / "app.ini"), QSettings.Format.IniFormat)
        self.affine = None  # known demo transform, when the demo pair is shown
        self._click_t: float | None = None
        self._registry_loaded = False
        from corrviz.core.backbones import default_backbone

        # last used, else the first of DINOv2, ViT-Tiny, dense_sift whose weights are found
        backbone = str(self.settings.value("backbone", "") or default_backbone()[0])
        self.session.options = ExtractionOptions(backbone=backbone)
        self._wire()
        self._init_media()
        self._init_checkpoints()
        self._init_eval()
        self._init_figure()
        self._restore_layout()
        self.window.set_recent(self._recent())

    # -- wiring -------------------------------------------------------------------------------------
    def _wire(self) -> None:
        w, s, p = self.window, self.session, self.window.options
        w.sigOpenFiles.connect(self.open_paths)
        w.sigOpenDialog.connect(self.ask_open)
        w.sigOpenDemo.connect(self.open_demo)
        w.sigSaveSession.connect(self.ask_save_session)
        w.sigExportFigure.connect(self.ask_export_figure)
        w.sigExportMatches.connect(self.ask_export_matches)
        w.sigCancel.connect(self.cancel_jobs)
        w.sigClosing.connect(self.shutdown)
        w.pair_view.sigPointClicked.connect(self.click_point)
        w.tabs.currentChanged.connect(self._on_tab)
        p.sigOptionsEdited.connect(self._on_options_edited)
        p.sigMethodChanged.connect(self.pick_method)
        p.sigOpacityChanged.connect(lambda v: s.set_overlay(opacity=v))
        p.sigForegroundOnlyChanged.connect(lambda on: s.set_overlay(foreground_only=on))
        p.sigDenseToggled.connect(s.set_dense_enabled)
        p.sigClearPoints.connect(s.clear_points)
        s.sigImagesChanged.connect(self._on_images)
        s.sigOptionsChanged.connect(self._on_options)
        s.sigFeaturesChanged.connect(self._on_features)
        s.sigPointsChanged.connect(self._on_points)
        s.sigSelectionChanged.connect(self._on_selection)
        s.sigMethodChanged.connect(self._on_method)
        s.sigMatchesChanged.connect(self._on_matches)
        s.sigDenseChanged.connect(self._on_dense)
        s.sigOverlayChanged.connect(self._on_overlay)
        s.sigTimingsChanged.connect(lambda t: w.show_timings(timing_text(t)))
        self.runner.sigJobProgress.connect(self._on_job_progress)
        self.runner.sigBusyChanged.connect(self._on_busy)
        p.set_overlay(s.overlay_opacity, s.foreground_only)
        p.set_method(s.method)

    def start(self) -> None:
        """Work that may load torch: the backbone list (in a worker) once the window is up."""
        self.runner.submit("registry", lambda _p: (backbone_entries(), available_devices()),
                           on_result=self._on_registry, on_error=self.report_error)

    def _on_registry(self, result, _seconds: float) -> None:
        entries, devices = result
        panel = self.window.options
        panel.set_backbones(entries)
        panel.set_devices(devices)
        self._registry_loaded = True
        self._show_options(self.session.options)
        self.fill_benchmarks()

    # -- errors and status --------------------------------------------------------------------------
    def report_error(self, exc: BaseException, title: str = "corrviz") -> None:
        if isinstance(exc, CorrvizError):
            self.window.show_error(title if title != "corrviz" else type(exc).__name__, str(exc))
        else:
            details = getattr(exc, "__corrviz_traceback__", "") or "".join(traceback.format_exception(exc))
            print(details, file=sys.stderr)
            self.window.show_error("Unexpected error", f"{type(exc).__name__}: {exc}\n(details in the terminal)")

    def _on_job_progress(self, channel: str, done: int, total: int, message: str) -> None:
        if channel in LONG_CHANNELS:
            self.window.show_progress(done, total, message)

    def _on_busy(self, channel: str, busy: bool) -> None:
        if busy and channel in LONG_CHANNELS:
            self.window.show_progress(0, 0, {"extract": "extracting features", "load": "loading",
                                             "sphere": "extracting sphere maps"}.get(channel, channel))
        if not any(self.runner.busy(c) for c in LONG_CHANNELS):
            self.window.hide_progress()

    def cancel_jobs(self) -> None:
        cancelled = [c for c in LONG_CHANNELS if self.runner.cancel(c)]
        self.window.hide_progress()
        if cancelled:
            self.window.show_status(f"Cancelled: {', '.join(cancelled)}")

    # -- opening inputs -----------------------------------------------------------------------------
    def ask_open(self, kind: str) -> None:
        folder = str(self.settings.value("last_folder", str(Path.home())))
        w = self.window
        if kind == "images":
            paths, _ = QFileDialog.getOpenFileNames(w, "Open images", folder,
                                                    "Images (" + " ".join(f"*{s}" for s in IMAGE_SUFFIXES) + ")")
        elif kind == "folder":
            d = QFileDialog.getExistingDirectory(w, "Open a folder of images", folder)
            paths = [d] if d else []
        elif kind == "video":
            p, _ = QFileDialog.getOpenFileName(w, "Open video", folder,
                                               "Videos (" + " ".join(f"*{s}" for s in VIDEO_SUFFIXES) + ")")
            paths = [p] if p else []
        elif kind == "mesh":
            p, _ = QFileDialog.getOpenFileName(w, "Open mesh", folder,
                                               "Meshes (" + " ".join(f"*{s}" for s in MESH_SUFFIXES) + ")")
            paths = [p] if p else []
        else:
            p, _ = QFileDialog.getOpenFileName(w, "Open session", folder, "corrviz sessions (*.json)")
            paths = [p] if p else []
        if paths:
            self.settings.setValue("last_folder", str(Path(paths[0]).parent))
            self.open_paths(paths)

    def open_paths(self, paths: list[str]) -> None:
        """Open files as the user gave them: images, a folder, a video, a mesh or a session file."""
        paths = [str(p) for p in paths if str(p)]
        images: list[str] = []
        for p in paths:
            suffix = Path(p).suffix.lower()
            if Path(p).is_dir():
                found = sorted(str(f) for f in Path(p).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
                if not found:
                    self.window.show_error("No images", f"{p}: the folder has no image files")
                images += found
            elif suffix in VIDEO_SUFFIXES:
                self.open_video(p)
            elif suffix in MESH_SUFFIXES:
                self.open_mesh(p)
            elif is_session_file(p):
                self.open_session(p)
            else:
                images.append(p)
        if images:
            self.open_images(images)

    def open_images(self, paths: list[str]) -> None:
        self.window.show_status(f"Loading {len(paths)} image(s)…")

        def done(images, _s: float) -> None:
            self.affine = None
            self.session.set_images(images)
            self._add_recent(paths)
            self.window.tabs.setCurrentIndex(TAB_2D)

        self.runner.submit("load", lambda _p: load_images(paths), on_result=done,
                           on_error=lambda e: self.report_error(e, "Cannot open image"))

    def open_demo(self) -> None:
        images, affine = demo_images()
        self.affine = affine
        self.session.set_images(images, demo=True)

    # -- features -----------------------------------------------------------------------------------
    def _on_options_edited(self, v: PanelValues) -> None:
        old = self.session.options
        checkpoint = old.checkpoint if v.backbone == old.backbone else None
        self.drop_sphere_for_backbone(v.backbone)
        self.session.set_options(ExtractionOptions(v.backbone, v.resolution, v.canvas, v.layer, v.facet, v.device,
                                                   checkpoint))

    def _show_options(self, o: ExtractionOptions) -> None:
        self.window.options.set_values(PanelValues(o.backbone, o.resolution, o.canvas, o.layer, o.facet, o.device))
        ck = "none (plain backbone)" if not o.checkpoint else Path(o.checkpoint).name
        self.window.options.set_checkpoint_info(ck)

    def _on_options(self, o: ExtractionOptions) -> None:
        self.settings.setValue("backbone", o.backbone)
        if self._registry_loaded:
            self._show_options(o)
        self.start_extraction()

    def _on_images(self) -> None:
        s = self.session
        self.window.pair_view.set_images([im.rgb for im in s.images], [im.name for im in s.images])
        names = ", ".join(im.name for im in s.images[:4]) + (" …" if len(s.images) > 4 else "")
        self.window.setWindowTitle(f"corrviz — {names}" if names else "corrviz")
        self.start_extraction()

    def start_extraction(self) -> None:
        s = self.session
        if not s.images:
            return
        images, options, fg = list(s.images), s.options, s.foreground_only
        self.window.show_status(f"Extracting {options.backbone} features of {len(images)} image(s)…")
        self.runner.submit("extract", lambda p: extract_features(images, options, fg, p),
                           on_result=self._on_extracted,
                           on_error=lambda e: self.report_error(e, "Feature extraction failed"),
                           on_cancelled=lambda: self.window.show_status("Extraction cancelled"))

    def _on_extracted(self, result, seconds: float) -> None:
        self.session.set_features(result)
        self.session.record_timing("extract", result.seconds or seconds)
        gh, gw = result.maps[0].grid_shape
        self.window.show_status(f"{self.session.options.backbone}: features ready ({gh}x{gw} grid). "
                                "Click a point in any image to match it.")

    def _on_features(self) -> None:
        f = self.session.features
        self.window.pair_view.set_overlays(None if f is None else f.overlays)
        self.window.pair_view.set_overlay_opacity(self.session.overlay_opacity)
        self._update_3d_points()
        if f is not None:
            self.request_matches()
            if self.session.dense_enabled:
                self.request_dense()

    def _on_overlay(self) -> None:
        s = self.session
        self.window.options.set_overlay(s.overlay_opacity, s.foreground_only)
        self.window.pair_view.set_overlay_opacity(s.overlay_opacity)
        f = s.features
        if f is not None and f.foreground_only != s.foreground_only:
            maps, fg = f.maps, s.foreground_only

            def done(res, sec: float) -> None:
                res.seconds = f.seconds
                s.set_features(res)
                s.record_timing("pca", sec)

            self.runner.submit("pca", lambda _p: pca_result(maps, fg), on_result=done, on_error=self.report_error)

    # -- points and matching ------------------------------------------------------------------------
    def click_point(self, image: int, x: float, y: float) -> None:
        self._click_t = time.perf_counter()
        self.session.add_point(image, x, y)

    def _on_points(self) -> None:
        self._draw_matches()
        self.request_matches()

    def _on_selection(self, _index: int) -> None:
        self._draw_matches()
        self._update_3d_highlight()
        m = self.session.matches
        if m is not None and m.heatmap_point != self.session.selected:
            self.request_matches()

    def pick_method(self, method: str) -> None:
        try:
            self.session.set_method(method)
        except CorrvizError as exc:
            self.window.options.set_method(self.session.method)
            self.report_error(exc, "Matcher not available")

    def _on_method(self, method: str) -> None:
        self.window.options.set_method(method)
        self.request_matches()

    def request_matches(self) -> None:
        s = self.session
        if not s.points:
            self.runner.cancel("match")
            s.set_matches(None)
            return
        if s.features is None:
            self.window.show_status("Features are not ready yet; the points will be matched when they are.")
            return
        if len(s.images) < 2:
            self.window.show_status("Open a second image to see matches.")
            return
        sphere = None
        if s.method == "combined":
            if s.sphere_maps is None:
                self.window.show_status("Sphere maps are not ready yet; the points will be matched when they are.")
                return
            sphere = tuple(s.sphere_maps)
        req = MatchRequest(tuple(s.features.maps), tuple(s.points), s.method, s.selected, sphere=sphere,
                           alpha=s.sphere_alpha)
        self.runner.submit("match", lambda _p: compute_matches(req), on_result=self._on_matched,
                           on_error=lambda e: self.report_error(e, "Matching failed"))

    def _on_matched(self, result, _seconds: float) -> None:
        self.session.set_matches(result)
        self.session.record_timing("match", result.seconds)

    def _on_matches(self) -> None:
        self._draw_matches()
        self._update_3d_highlight()
        if self._click_t is not None and self.session.matches is not None:
            t0, self._click_t = self._click_t, None
            QTimer.singleShot(0, lambda: self.session.record_timing("display", time.perf_counter() - t0))

    def _draw_matches(self) -> None:
        d = match_drawing(self.session)
        view = self.window.pair_view
        view.set_points(d.points)
        view.set_targets(d.targets)
        view.set_lines(d.lines)
        view.set_heatmaps(d.heatmaps)

    def request_dense(self) -> None:
        s = self.session
        if s.features is None or len(s.images) < 2 or not s.dense_enabled:
            return
        src, trg = s.features.maps[0], s.features.maps[1]

        def done(m, sec: float) -> None:
            s.set_dense(m)
            s.record_timing("dense", sec)

        self.runner.submit("dense", lambda _p: compute_dense(src, trg), on_result=done, on_error=self.report_error)

    def _on_dense(self) -> None:
        s = self.session
        if s.dense_enabled and s.dense is None:
            self.request_dense()
        self.window.options.set_dense(s.dense_enabled)
        self.window.pair_view.set_dense(dense_lines(s))

    # -- sessions -----------------------------------------------------------------------------------
    def ask_save_session(self) -> None:
        folder = str(self.settings.value("last_folder", str(Path.home())))
        p, _ = QFileDialog.getSaveFileName(self.window, "Save session", str(Path(folder) / "session.corrviz.json"),
                                           "corrviz sessions (*.json)")
        if p:
            save_session(p, self.session)
            self.window.show_status(f"Session saved to {p}")

    def open_session(self, path: str) -> None:
        try:
            rec = load_session(path)
            options = rec.extraction_options()
        except (CorrvizError, TypeError, ValueError) as exc:
            self.report_error(exc if isinstance(exc, CorrvizError) else CorrvizError(str(exc)), "Cannot open session")
            return
        s = self.session
        s.set_overlay(rec.overlay_opacity, rec.foreground_only)
        s.set_dense_enabled(rec.dense)
        self.drop_sphere_for_backbone(options.backbone)
        s.set_options(options)
        s.set_sphere_alpha(rec.sphere_alpha)
        if rec.sphere_checkpoint:
            self.set_sphere_checkpoint(rec.sphere_checkpoint)
        self.pick_method(rec.method)
        points = rec.query_points()

        def with_images(images, _sec: float) -> None:
            s.set_images(images, demo=rec.demo)
            s.set_points([p for p in points if p.image < len(images)])

        if rec.demo:
            images, self.affine = demo_images()
            with_images(images, 0.0)
        elif rec.images:
            self.runner.submit("load", lambda _p: load_images(rec.images), on_result=with_images,
                               on_error=lambda e: self.report_error(e, "Cannot open session images"))
        if rec.video:
            self.open_video(rec.video, rec.video_step)
        if rec.mesh:
            self.open_mesh(rec.mesh)

    # -- settings and shutdown ----------------------------------------------------------------------
    def _recent(self) -> list[str]:
        value = self.settings.value("recent", [])
        return [str(v) for v in (value if isinstance(value, list) else [value]) if v]

    def _add_recent(self, paths: list[str]) -> None:
        entry = "\n".join(str(Path(p).resolve()) for p in paths)
        recent = [entry] + [r for r in self._recent() if r != entry]
        self.settings.setValue("recent", recent[:10])
        self.window.set_recent(recent[:10])

    def _restore_layout(self) -> None:
        geom = self.settings.value("geometry")
        state = self.settings.value("window_state")
        if geom is not None:
            self.window.restoreGeometry(geom)
        if state is not None:
            self.window.restoreState(state)

    def shutdown(self) -> None:
        self.settings.setValue("geometry", self.window.saveGeometry())
        self.settings.setValue("window_state", self.window.saveState())
        self.settings.sync()
        self.runner.shutdown()
        self._close_media()
