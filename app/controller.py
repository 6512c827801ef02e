"""The main controller: it builds the small controllers over the one session model and wires the window.

Views emit what the user asked for; a controller updates the :class:`~corrviz.core.session.Session`
or starts a job in a worker (:class:`~corrviz.app.workers.TaskRunner`); session signals (per field)
redraw the views. Each responsibility is its own controller, given an
:class:`~corrviz.app.context.AppContext` and its view behind a narrow interface:

======================  =====================================================  ==========================
``pair``                features, matches, query points (2-D view)              :mod:`.controller_pair`
``checkpoints``         weights, finetuned checkpoints, sphere mapper           :mod:`.controller_checkpoints`
``video``               video, its features, point tracks                       :mod:`.controller_video`
``scene``               3-D view: point clouds, sphere maps, tracks, meshes     :mod:`.controller_scene`
``eval``                Evaluation tab; evaluated pairs worst first             :mod:`.controller_eval`
``figure``              layers, figure and match export                         :mod:`.controller_figure`
``pose``, ``training``, ``compare``, ``labels``   Pose, Training, Compare tabs; DIY-SC label stores
======================  =====================================================  ==========================

This class keeps only what is the window's: the backbone registry and weight probes, opening inputs,
session files, recent files, layout, progress and shutdown.
"""

from __future__ import annotations

import os
import sys
import traceback
from dataclasses import replace
from pathlib import Path

from PyQt6.QtCore import QByteArray, QObject
from PyQt6.QtWidgets import QApplication

from corrviz.core.errors import CorrvizError
from corrviz.core.feature_spec import (
    FIRST_START_BACKBONE,  # needs no weights: used until the probe has chosen
)
from corrviz.core.session import (
    ExtractionOptions,
    Session,
    load_images,
)
from corrviz.core.settings import Settings

from .annotations import PairAnnotations
from .context import AppContext, Dialogs, start_folder
from .controller_checkpoints import CheckpointController
from .controller_eval import EvalController
from .controller_figure import FigureController
from .controller_labels import LabelBrowser
from .controller_pair import PairController
from .controller_pose import PoseContext, PoseController
from .controller_scene import MESH_SUFFIXES, SceneController
from .controller_training import attach_training
from .controller_video import VideoController
from .demo import demo_images
from .main_window import TAB_2D, TAB_3D, TAB_EVAL, TAB_VIDEO, MainWindow
from .registry_info import available_devices, backbone_entries, probe_weights
from .render_state import timing_text
from .session_io import is_session_file, load_session, save_session
from .workers import TaskRunner

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".gif")
LONG_CHANNELS = ("load", "extract", "sphere", "video", "video_features", "track", "mesh", "pose")


def _startup_mark(what: str, finished: bool = False) -> None:
    """``CORRVIZ_PRINT_STARTUP=list`` (scripts/bench_app.py): print startup milestones, quit after the last."""
    if os.environ.get("CORRVIZ_PRINT_STARTUP") == "list":
        print(what, flush=True)
        if finished:
            QApplication.instance().quit()


class Controller(QObject):
    def __init__(self, window: MainWindow | None = None, settings: Settings | None = None,
                 max_threads: int = 2) -> None:
        super().__init__()
        self.session = Session()
        self.window = w = window or MainWindow()
        self.runner = TaskRunner(self, max_threads=max_threads)
        self.settings = settings or Settings.load()  # the one settings object (settings.json)
        self.ctx = AppContext(self.session, self.runner, self.settings, self.report_error, w.show_status,
                              w.show_error, Dialogs(w), show_tab=self.show_tab)
        # Last used, else the first of DINOv2, ViT-Tiny, dense_sift whose weights are found: decided in the
        # registry worker (finding weights imports torch), so the window does not wait for it.
        saved = self.settings.backbone or ""
        self.ctx.catalog.default_pending = not saved
        self.session.options = ExtractionOptions(backbone=saved or FIRST_START_BACKBONE)
        self._wire()
        ctx, s = self.ctx, self.session
        self.checkpoints = CheckpointController(ctx, w.options, probe_weights=self.probe_weights)
        self.pair = PairController(ctx, w.pair_view, w.options, weights_file_for=self.checkpoints.weights_file_for,
                                   backbone_changing=self.checkpoints.drop_sphere_for_backbone)
        w.sigHoverToggled.connect(self.pair.set_hover)
        self.video = VideoController(ctx, w.video_view)
        self.scene = SceneController(ctx, self._make_view3d, click_point=self.pair.click_point)
        self.annotations = PairAnnotations(s, w.pair_view, ctx)
        self.eval = EvalController(ctx, w.eval_panel, self.annotations)
        self.figure = FigureController(ctx, w)
        self.pose = PoseController(PoseContext(s, self.runner, self.report_error, w.show_status), w.pose_view)
        self.training, self.compare = attach_training(self, ctx)  # Training and Compare tabs
        self.labels = LabelBrowser(ctx, self.annotations)  # a DIY-SC pseudo-label store on its image pairs
        w.sigLabelPair.connect(self.labels.step)
        self._restore_layout()
        self.window.set_recent(self._recent())

    @property
    def affine(self):  # noqa: ANN201 - the demo pair's known transform, while the demo pair is shown
        return self.ctx.affine

    # -- wiring -------------------------------------------------------------------------------------
    def _wire(self) -> None:
        w, s, p = self.window, self.session, self.window.options
        w.sigOpenFiles.connect(self.open_paths)
        w.sigOpenDialog.connect(self.ask_open)
        w.sigOpenDemo.connect(self.open_demo)
        w.sigSaveSession.connect(self.ask_save_session)
        w.sigExportFigure.connect(lambda: self.figure.ask_export_figure())
        w.sigExportMatches.connect(lambda: self.figure.ask_export_matches())
        w.sigCancel.connect(self.cancel_jobs)
        w.sigClosing.connect(self.shutdown)
        w.sigUndo.connect(s.undo)
        w.sigRedo.connect(s.redo)
        w.sigDeletePoint.connect(s.delete_point)
        w.sigDeselect.connect(lambda: s.select(-1))
        w.tabs.currentChanged.connect(self._on_tab)
        s.sigImagesChanged.connect(self._on_images)
        s.sigOptionsChanged.connect(self._on_options)
        s.sigTimingsChanged.connect(lambda t: w.show_timings(timing_text(t)))
        self.runner.sigJobProgress.connect(self._on_job_progress)
        self.runner.sigBusyChanged.connect(self._on_busy)
        p.set_overlay(s.overlay_opacity, s.foreground_only)
        p.set_method(s.method)

    def show_tab(self, name: str) -> None:
        """Bring a view to the front: "2d", "3d" (created on first use), "video", "eval", "compare"."""
        w = self.window
        if name == "3d":
            w.tabs.setCurrentWidget(self.scene.ensure_view())
            return
        index = {"2d": TAB_2D, "video": TAB_VIDEO, "eval": TAB_EVAL}.get(name)
        if index is not None:
            w.tabs.setCurrentIndex(index)
        elif name == "compare":
            w.tabs.setCurrentWidget(w.compare_view)

    def _make_view3d(self):  # noqa: ANN202
        import importlib.util

        if importlib.util.find_spec("triton") is not None:
            # Triton bundles LLVM; imported after Mesa's llvmpipe (software GL, e.g. Xvfb) it segfaults,
            # and timm imports it (torchvision -> torch._dynamo) on the first ViT. Load it before GL.
            import triton  # noqa: F401
        from .widgets.view3d import View3D

        view = View3D()
        self.window.set_view3d(view)
        return view

    def _on_tab(self, index: int) -> None:
        if index == TAB_3D and self.scene.view is None:
            self.scene.ensure_view()

    def _on_images(self) -> None:
        s = self.session
        names = ", ".join(im.name for im in s.images[:4]) + (" …" if len(s.images) > 4 else "")
        self.window.setWindowTitle(f"corrviz — {names}" if names else "corrviz")

    def start(self) -> None:
        """Work that loads torch, in workers once the window is up: the backbone list, then the weight probes."""
        pending = self.ctx.catalog.default_pending

        def job(_p):
            from corrviz.core.backbones import default_backbone

            return backbone_entries(), available_devices(), default_backbone()[0] if pending else None

        self.runner.submit("registry", job, on_result=self._on_registry, on_error=self.report_error)

    def set_start_backbone(self, name: str) -> None:
        """The backbone to start with (``corrviz --backbone``): no first-start choice is made then."""
        self.ctx.catalog.default_pending = False
        self.session.options = replace(self.session.options, backbone=name)

    def _on_registry(self, result, _seconds: float) -> None:
        entries, devices, default = result
        catalog = self.ctx.catalog
        catalog.entries.clear()
        catalog.entries.update({e.name: e for e in entries})
        self._networks = [e.name for e in entries if e.available is None]
        panel = self.window.options
        panel.set_backbones(entries)
        panel.set_devices(devices)
        catalog.loaded = True
        if catalog.default_pending and default:
            catalog.default_pending = False
            self.session.set_options(replace(self.session.options, backbone=default))
        self._show_options(self.session.options)
        self.eval.fill_benchmarks()
        if self.session.features is None and not self.runner.busy("extract"):
            self.pair.start_extraction()
        _startup_mark("backbone list shown")
        self.probe_weights()

    def probe_weights(self) -> None:
        """Look for every network's weights in a worker; each answer relabels its picker entry."""
        names, files = list(getattr(self, "_networks", [])), dict(self.settings.weights_files)
        self.runner.submit("probe", lambda p: probe_weights(names, files, p.partial), on_partial=self._on_probed,
                           on_result=self._on_probes_done, on_error=self.report_error)

    def _on_probed(self, probed: tuple[str, bool, str]) -> None:
        name, ok, detail = probed
        entries = self.ctx.catalog.entries
        was = entries[name].available if name in entries else None
        self.window.options.set_weights_state(name, ok, detail)
        o = self.session.options
        if o.backbone == name and ok and was is False and self.session.features is None:
            self.pair.start_extraction()  # weights have just become available for the current backbone

    def _on_probes_done(self, _result, _seconds: float) -> None:
        self.window.options.set_backbones(list(self.ctx.catalog.entries.values()))  # sorted again: no-weights entries last
        self._show_options(self.session.options)
        _startup_mark("weights probed", finished=True)

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
        folder, d = start_folder(self.settings), self.ctx.dialogs
        if kind == "images":
            paths = d.open_files("Open images", folder, "Images (" + " ".join(f"*{s}" for s in IMAGE_SUFFIXES) + ")")
        elif kind == "folder":
            paths = [d.folder("Open a folder of images", folder)]
        elif kind == "video":
            paths = [d.open_file("Open video", folder, "Videos (" + " ".join(f"*{s}" for s in VIDEO_SUFFIXES) + ")")]
        elif kind == "mesh":
            paths = [d.open_file("Open mesh", folder, "Meshes (" + " ".join(f"*{s}" for s in MESH_SUFFIXES) + ")")]
        else:
            paths = [d.open_file("Open session", folder, "corrviz sessions (*.json)")]
        paths = [p for p in paths if p]
        if paths:
            self.settings.update(last_folder=str(Path(paths[0]).parent))
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
                self.video.open_video(p)
            elif suffix in MESH_SUFFIXES:
                self.scene.open_mesh(p)
            elif is_session_file(p):
                self.open_session(p)
            elif suffix == ".safetensors":
                from .controller_labels import is_label_store

                if is_label_store(p):
                    self.labels.open(p)
                else:  # a corrviz checkpoint (explained when it is not one)
                    self.checkpoints.set_checkpoint(p)
            else:
                images.append(p)
        if images:
            self.open_images(images)

    def open_images(self, paths: list[str]) -> None:
        self.window.show_status(f"Loading {len(paths)} image(s)…")

        def done(images, _s: float) -> None:
            self.ctx.affine = None
            self.session.set_images(images)
            self._add_recent(paths)
            self.window.tabs.setCurrentIndex(TAB_2D)

        self.runner.submit("load", lambda _p: load_images(paths), on_result=done,
                           on_error=lambda e: self.report_error(e, "Cannot open image"))

    def open_demo(self) -> None:
        images, affine = demo_images()
        self.ctx.affine = affine
        self.session.set_images(images, demo=True)

    def _show_options(self, o: ExtractionOptions) -> None:
        self.window.options.set_values(o)
        ck = "none (plain backbone)" if not o.checkpoint else Path(o.checkpoint).name
        self.window.options.set_checkpoint_info(ck)
        self.window.options.set_foreground_supported(self.pair.foreground_supported(o), o.backbone)

    @property
    def _registry_loaded(self) -> bool:
        return self.ctx.catalog.loaded

    def _on_options(self, o: ExtractionOptions) -> None:
        if o.backbone != self.settings.backbone:
            self.settings.update(backbone=o.backbone)
        if self._registry_loaded:
            self._show_options(o)

    # -- sessions -----------------------------------------------------------------------------------
    def ask_save_session(self) -> None:
        p = self.ctx.dialogs.save_file("Save session", str(Path(start_folder(self.settings)) / "session.corrviz.json"),
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
        self.checkpoints.drop_sphere_for_backbone(options.backbone)
        s.set_options(options)
        s.set_sphere_alpha(rec.sphere_alpha)
        if rec.sphere_checkpoint:
            self.checkpoints.set_sphere_checkpoint(rec.sphere_checkpoint)
        self.pair.pick_method(rec.method)
        points = rec.query_points()

        def with_images(images, _sec: float) -> None:
            s.set_images(images, demo=rec.demo)
            s.set_points([p for p in points if p.image < len(images)], undoable=False)

        if rec.demo:
            images, self.ctx.affine = demo_images()
            with_images(images, 0.0)
        elif rec.images:
            self.runner.submit("load", lambda _p: load_images(rec.images), on_result=with_images,
                               on_error=lambda e: self.report_error(e, "Cannot open session images"))
        if rec.video:
            self.video.open_video(rec.video, rec.video_step)
        if rec.mesh:
            self.scene.open_mesh(rec.mesh)

    # -- settings and shutdown ----------------------------------------------------------------------
    def _recent(self) -> list[str]:
        return [str(v) for v in self.settings.recent_files if v]

    def _add_recent(self, paths: list[str]) -> None:
        entry = "\n".join(str(Path(p).resolve()) for p in paths)
        recent = [entry] + [r for r in self._recent() if r != entry]
        self.settings.update(recent_files=recent[:10])
        self.window.set_recent(recent[:10])

    def _restore_layout(self) -> None:
        s = self.settings
        if s.window_geometry:
            self.window.restoreGeometry(QByteArray.fromBase64(s.window_geometry.encode()))
        if s.window_state:
            self.window.restoreState(QByteArray.fromBase64(s.window_state.encode()))

    def shutdown(self) -> None:
        self.settings.update(window_geometry=bytes(self.window.saveGeometry().toBase64()).decode(),
                             window_state=bytes(self.window.saveState().toBase64()).decode())
        self.training.shutdown()  # a running training run is cancelled cleanly (its last checkpoint is kept)
        self.runner.shutdown()
        self.scene.close()
