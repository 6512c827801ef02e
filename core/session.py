"""The session model the app shows: inputs, backbone + options, query points, matches and results.

One evented object (psygnal signals, no Qt) holds everything the user sees; the app's controller
subscribes to its ``sig*`` signals and the views never talk to each other. The jobs the app runs
off the GUI thread are plain functions here (:func:`extract_features`, :func:`compute_matches`,
:func:`compute_dense`; the 3-D ones are in :mod:`corrviz.core.session_3d`) that turn a small request
into a result; they take a :class:`~corrviz.core.progress.Progress` where they are long (cancel).

Heavy libraries (torch through :mod:`corrviz.core.features`) are imported lazily so that the app's
window can appear before they load.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from psygnal import Signal

from .errors import InputMismatchError
from .session_types import (  # re-exported: the session's records are importable from here
    COLOR_SLOTS,
    EvalRun,
    ExtractionOptions,
    FeatureResult,
    ImageInput,
    MatchResult,
    PointMatch,
    QueryPoint,
)

if TYPE_CHECKING:  # pragma: no cover
    from .features import FeatureMap
    from .matching import Matches
    from .progress import Progress
    from .tracking import Track, VideoFrames

MIN_IMAGE_SIDE = 16
MATCH_METHODS = ("nn", "mnn", "soft-argmax", "combined")
UNDO_DEPTH = 100
__all__ = ["COLOR_SLOTS", "EvalRun", "ExtractionOptions", "FeatureResult", "ImageInput", "MatchRequest",
           "MatchResult", "PointMatch", "QueryPoint", "Session", "compute_dense", "compute_grid_dense", "compute_matches",
           "extract_features", "extract_maps", "load_images", "pca_result", "raster_on_image"]


class Session:
    """Evented state of one corrviz workbench session. Every setter emits the matching ``sig*``."""

    sigImagesChanged = Signal()
    sigOptionsChanged = Signal(object)  # ExtractionOptions
    sigFeaturesChanged = Signal()  # features (or their PCA) were set or cleared
    sigPointsChanged = Signal()
    sigMethodChanged = Signal(str)
    sigMatchesChanged = Signal()
    sigDenseChanged = Signal()
    sigSelectionChanged = Signal(int)
    sigOverlayChanged = Signal()  # opacity / foreground-only / heatmap visibility
    sigVideoChanged = Signal()
    sigFrameChanged = Signal(int)
    sigTrackChanged = Signal()  # also emitted when the video's features change
    sigMeshChanged = Signal()
    sigTimingsChanged = Signal(dict)
    sigSphereChanged = Signal()  # sphere-mapper checkpoint, its maps or alpha
    sigEvaluationChanged = Signal()  # a run started, got an outcome, or ended

    def __init__(self) -> None:
        self.images: list[ImageInput] = []
        self.options = ExtractionOptions()
        self.features: FeatureResult | None = None
        self.points: list[QueryPoint] = []
        self.method = "soft-argmax"
        self.matches: MatchResult | None = None
        self.dense_enabled = False
        self.dense: Matches | None = None
        self.selected = -1
        self.overlay_opacity = 0.5
        self.foreground_only = False
        self.video_path: str | None = None
        self.video_step = 5
        self.video: VideoFrames | None = None
        self.video_maps: list[FeatureMap] | None = None
        self.frame = 0
        self.track: Track | None = None
        self.track_query: list[tuple[int, float, float]] | None = None  # (frame, x, y) of each track
        self.mesh_path: str | None = None
        self.mesh: Any = None
        self.timings: dict[str, float] = {}
        self.is_demo = False
        self.sphere_checkpoint: str | None = None
        self.sphere_maps: list[FeatureMap] | None = None
        self.sphere_alpha = 0.2
        self.evaluation: EvalRun | None = None
        self._undo: list[tuple[tuple[QueryPoint, ...], int]] = []  # (points, selected) before each edit
        self._redo: list[tuple[tuple[QueryPoint, ...], int]] = []

    # -- inputs ------------------------------------------------------------------------------------
    def set_images(self, images: list[ImageInput], demo: bool = False) -> None:
        for im in images:
            check_image(im)
        self.images = list(images)
        self.is_demo = demo
        self.features, self.points, self.matches, self.dense, self.selected = None, [], None, None, -1
        self.sphere_maps = None
        self._undo.clear()
        self._redo.clear()
        for sig in (self.sigImagesChanged, self.sigFeaturesChanged, self.sigPointsChanged, self.sigMatchesChanged,
                    self.sigDenseChanged, self.sigSphereChanged):
            sig.emit()

    def set_options(self, options: ExtractionOptions, same_features: bool = False) -> None:
        """New extraction options. ``same_features``: the change cannot alter the features (e.g. the
        layer of a weight-free backbone), so features, matches and sphere maps are kept."""
        if options == self.options:
            return
        self.options = options
        if same_features:
            self.sigOptionsChanged.emit(options)
            return
        self.features, self.matches, self.dense, self.sphere_maps = None, None, None, None
        self.sigOptionsChanged.emit(options)
        self.sigSphereChanged.emit()
        self.sigFeaturesChanged.emit()
        self.sigMatchesChanged.emit()
        self.sigDenseChanged.emit()

    def set_features(self, result: FeatureResult | None) -> None:
        self.features = result
        self.sigFeaturesChanged.emit()

    def clear_results(self) -> None:
        """Drop everything computed from the features (a failed extraction): the points stay."""
        self.features, self.matches, self.dense, self.sphere_maps = None, None, None, None
        for sig in (self.sigFeaturesChanged, self.sigMatchesChanged, self.sigDenseChanged, self.sigSphereChanged):
            sig.emit()

    # -- query points (every edit can be undone) and matches ----------------------------------------
    def add_point(self, image: int, x: float, y: float) -> int:
        if not 0 <= image < len(self.images):
            raise InputMismatchError(f"no image {image}; {len(self.images)} loaded")
        w, h = self.images[image].size
        x, y = float(np.clip(x, 0, w - 1e-3)), float(np.clip(y, 0, h - 1e-3))
        used = {p.color for p in self.points}
        color = next((c for c in range(COLOR_SLOTS) if c not in used), len(self.points))
        self._remember()
        self.points.append(QueryPoint(image, x, y, color))
        self.selected = len(self.points) - 1
        self.sigPointsChanged.emit()
        self.sigSelectionChanged.emit(self.selected)
        return self.selected

    def set_points(self, points: list[QueryPoint], undoable: bool = True) -> None:
        if undoable:
            self._remember()
        self._apply_points(tuple(points), len(points) - 1)

    def clear_points(self) -> None:
        if self.points:
            self.set_points([])

    def delete_point(self, index: int | None = None) -> bool:
        """Delete a query point (default: the selected one); False if there is none to delete."""
        index = self.selected if index is None else index
        if not 0 <= index < len(self.points):
            return False
        self._remember()
        self._apply_points(tuple(p for k, p in enumerate(self.points) if k != index), -1)
        return True

    def point_near(self, image: int, x: float, y: float, radius: float) -> int:
        """Index of the query point of ``image`` nearest to (x, y) within ``radius`` pixels, else -1."""
        best, best_d = -1, float(radius)
        for k, p in enumerate(self.points):
            d = float(np.hypot(p.x - x, p.y - y))
            if p.image == image and d <= best_d:
                best, best_d = k, d
        return best

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo(self) -> bool:
        """Put the points back as they were before the last edit; False if there is nothing to undo."""
        return self._swap_history(self._undo, self._redo)

    def redo(self) -> bool:
        return self._swap_history(self._redo, self._undo)

    def _swap_history(self, source: list, target: list) -> bool:
        """Restore the newest state of ``source``, keeping the current one on ``target``."""
        if not source:
            return False
        target.append((tuple(self.points), self.selected))
        self._apply_points(*source.pop())
        return True

    def _remember(self) -> None:
        self._undo.append((tuple(self.points), self.selected))
        del self._undo[:-UNDO_DEPTH]
        self._redo.clear()

    def _apply_points(self, points: tuple[QueryPoint, ...], selected: int) -> None:
        self.points = list(points)
        self.selected = selected if 0 <= selected < len(self.points) else -1
        self.matches = None
        self.sigPointsChanged.emit()
        self.sigSelectionChanged.emit(self.selected)
        self.sigMatchesChanged.emit()

    def select(self, index: int) -> None:
        index = index if 0 <= index < len(self.points) else -1
        if index != self.selected:
            self.selected = index
            self.sigSelectionChanged.emit(index)

    def set_method(self, method: str) -> None:
        if method not in MATCH_METHODS:
            raise ValueError(f"unknown matcher {method!r}; choose one of {', '.join(MATCH_METHODS)}")
        if method == "combined" and self.sphere_checkpoint is None:
            raise InputMismatchError("the combined matcher needs a sphere-mapper checkpoint; load one first")
        if method != self.method:
            self.method = method
            self.sigMethodChanged.emit(method)

    def set_matches(self, result: MatchResult | None) -> None:
        self.matches = result
        self.sigMatchesChanged.emit()

    def set_dense_enabled(self, on: bool) -> None:
        self.dense_enabled = bool(on)
        if not on:
            self.dense = None
        self.sigDenseChanged.emit()

    def set_dense(self, matches: Matches | None) -> None:
        self.dense = matches
        self.sigDenseChanged.emit()

    def set_overlay(self, opacity: float | None = None, foreground_only: bool | None = None) -> None:
        if opacity is not None:
            self.overlay_opacity = float(np.clip(opacity, 0.0, 1.0))
        if foreground_only is not None:
            self.foreground_only = bool(foreground_only)
        self.sigOverlayChanged.emit()

    # -- video and mesh -----------------------------------------------------------------------------
    def set_video(self, path: str | None, frames: VideoFrames | None, step: int) -> None:
        self.video_path, self.video, self.video_step = path, frames, int(step)
        self.video_maps = None
        self.frame, self.track, self.track_query = 0, None, None
        self.sigVideoChanged.emit()
        self.sigTrackChanged.emit()
        self.sigFrameChanged.emit(0)

    def set_video_features(self, maps: list[FeatureMap] | None) -> None:
        self.video_maps = maps
        self.track = None
        self.sigTrackChanged.emit()

    def set_frame(self, index: int) -> None:
        n = len(self.video.frames) if self.video is not None else 0
        index = int(np.clip(index, 0, max(n - 1, 0)))
        if index != self.frame:
            self.frame = index
            self.sigFrameChanged.emit(index)

    def set_track(self, track: Track | None, query: list[tuple[int, float, float]] | None = None) -> None:
        self.track = track
        self.track_query = query
        self.sigTrackChanged.emit()

    def set_mesh(self, path: str | None, mesh: Any) -> None:
        self.mesh_path, self.mesh = path, mesh
        self.sigMeshChanged.emit()

    # -- sphere mapper and evaluation ---------------------------------------------------------------
    def set_sphere_checkpoint(self, path: str | None) -> None:
        """Use a sphere-mapper checkpoint (or none: the combined matcher falls back to soft-argmax)."""
        self.sphere_checkpoint, self.sphere_maps = (str(path) if path else None), None
        if path is None and self.method == "combined":
            self.set_method("soft-argmax")
        self.sigSphereChanged.emit()

    def set_sphere_maps(self, maps: list[FeatureMap] | None) -> None:
        self.sphere_maps = maps
        self.sigSphereChanged.emit()

    def set_sphere_alpha(self, alpha: float) -> None:
        alpha = float(np.clip(alpha, 0.0, 1.0))
        if alpha != self.sphere_alpha:
            self.sphere_alpha = alpha
            self.sigSphereChanged.emit()

    def start_evaluation(self, run: EvalRun) -> None:
        self.evaluation = run
        self.sigEvaluationChanged.emit()

    def add_eval_outcome(self, outcome: Any, score: tuple[str, float, float]) -> None:
        if self.evaluation is not None:
            self.evaluation.outcomes.append(outcome)
            self.evaluation.scores.append(score)
            self.sigEvaluationChanged.emit()

    def finish_evaluation(self, state: str, result: Any = None, message: str = "") -> None:
        if self.evaluation is not None:
            self.evaluation.state, self.evaluation.result, self.evaluation.message = state, result, message
            self.sigEvaluationChanged.emit()

    def record_timing(self, name: str, seconds: float) -> None:
        self.timings[name] = float(seconds)
        self.sigTimingsChanged.emit(dict(self.timings))


# ------------------------------------------------------------------------------------------------
# Jobs: pure functions from a request to a result (run off the GUI thread by the app).
# ------------------------------------------------------------------------------------------------
def check_image(image: ImageInput) -> None:
    w, h = image.size
    if image.rgb.ndim != 3 or image.rgb.shape[2] != 3 or image.rgb.dtype != np.uint8:
        raise InputMismatchError(f"{image.name}: expected an RGB uint8 image, got {image.rgb.dtype} {image.rgb.shape}")
    if min(w, h) < MIN_IMAGE_SIDE:
        raise InputMismatchError(
            f"{image.name}: image is too small ({w}x{h} pixels); corrviz needs at least "
            f"{MIN_IMAGE_SIDE} pixels on each side to compute features")


def load_images(paths: list[str]) -> list[ImageInput]:
    """Load image files (clear :class:`ImageLoadError` / size errors naming the file)."""
    from pathlib import Path

    from .io import load_image

    out = []
    for p in paths:
        im = ImageInput(Path(p).name, load_image(p), str(p))
        check_image(im)
        out.append(im)
    return out


def extract_maps(images: list[np.ndarray], options: ExtractionOptions,
                 progress: Progress | None = None) -> list[FeatureMap]:
    """Feature maps of RGB images, one image per step so a cancel stops between images."""
    from .features import shared_extractor

    extractor = shared_extractor(options.backbone, options.feature_options(batch_size=1), options.checkpoint,
                                 options.weights)
    return extractor.extract_many(list(images), progress=progress)


def extract_features(images: list[ImageInput], options: ExtractionOptions, foreground_only: bool = False,
                     progress: Progress | None = None) -> FeatureResult:
    """Extract features of every image plus their joint PCA (cell colours and 3-D points)."""
    t0 = time.perf_counter()
    maps = extract_maps([im.rgb for im in images], options, progress)
    result = pca_result(maps, foreground_only)
    result.seconds = time.perf_counter() - t0
    return result


def pca_result(maps: list[FeatureMap], foreground_only: bool = False) -> FeatureResult:
    """Joint-PCA colours per cell and 3-D PCA points of feature maps."""
    from .pca import fit_joint_pca, joint_pca_rgb

    source = ""
    if foreground_only and all(fm.mask is None for fm in maps):
        masks = pca_foreground(maps)
        maps = [dataclasses.replace(fm, mask=m, _unit=fm._unit) for fm, m in zip(maps, masks, strict=True)]
        source = PCA_FOREGROUND
    elif foreground_only:
        source = "the given masks"
    pca = fit_joint_pca(maps, 3, foreground_only)
    rgbs = joint_pca_rgb(maps, foreground_only=foreground_only, pca=pca)
    points, cells, colors = [], [], []
    for rgb, fm in zip(rgbs, maps, strict=True):
        keep = fm.foreground() if foreground_only else fm.transform.content_mask()
        rc = np.argwhere(keep)
        proj = pca.project(fm.unit().double().numpy()[keep.ravel()])
        points.append(proj.astype(np.float32))
        cells.append(rc)
        colors.append(rgb[keep].astype(np.float32))
    return FeatureResult(maps, [np.asarray(rgb, np.float32) for rgb in rgbs], points, cells, colors,
                         foreground_only=foreground_only,
                         mask_source=source)


PCA_FOREGROUND = "each image's first PCA component > 0 (DINOv2-style), oriented so the borders are background"


def pca_foreground(maps: list[FeatureMap]) -> list[np.ndarray]:
    """Foreground cells of each map without a mask: its unit features' first principal component,
    thresholded at zero (as in the DINOv2 paper's PCA figures), the sign chosen so that the cells along
    the image borders are mostly background. Per image: a joint component would separate the images."""
    out = []
    for fm in maps:
        c = fm.transform.content_mask()
        f = fm.unit().double().numpy()[c.ravel()]
        f = f - f.mean(axis=0)
        _, vecs = np.linalg.eigh(f.T @ f)
        score = np.zeros(fm.grid_shape)
        score[c] = f @ vecs[:, -1]
        rows, cols = np.nonzero(c)
        edge = np.zeros_like(c)
        edge[rows.min(), :] = edge[rows.max(), :] = edge[:, cols.min()] = edge[:, cols.max()] = True
        sign = -1.0 if np.mean(score[edge & c] > 0) > 0.5 else 1.0
        out.append((sign * score > 0) & c)
    return out


def raster_on_image(values: np.ndarray, fm: FeatureMap, max_side: int = 256) -> np.ndarray:
    """Resample a grid-shaped map (gh, gw) onto the image (nearest cell), at most ``max_side`` px."""
    cells = fm.transform.image_to_cell(image_lattice(fm.transform, max_side))
    return np.asarray(values)[cells[..., 0], cells[..., 1]]


@dataclass(frozen=True)
class MatchRequest:
    """Everything needed to match the query points (built on the GUI thread, run off it)."""

    maps: tuple
    points: tuple[QueryPoint, ...]
    method: str = "soft-argmax"
    heatmap_point: int = -1
    radius: int = 7
    beta: float = 0.02
    sphere: tuple | None = None  # per-image sphere FeatureMaps, for the combined matcher
    heatmap_side: int = 256
    alpha: float = 0.2  # weight of the sphere similarity in the combined matcher
    # a grid-matcher (VGGT-SC) checkpoint: (backbone, weights, checkpoint, resolution[, device]); matches are read from its
    # dense flow of the RGB ``images`` and the heatmap is the target's confidence (not a similarity)
    grid: tuple | None = None
    images: tuple = ()


_FLOWS: OrderedDict = OrderedDict()  # (grid, id(src), id(trg)) -> (src, trg, flow), the last few pairs
_FLOWS_LOCK = threading.Lock()


def grid_model(backbone: str, weights: str | None, checkpoint: str, device: str = "cpu"):  # noqa: ANN201
    """The grid-matcher model of a checkpoint: the very model the app's feature extractor already holds for
    (backbone, checkpoint, weights) (:func:`corrviz.core.features.shared_extractor`), not a second copy."""
    from .features import FeatureOptions, shared_extractor
    from .grid_matcher import find_grid_matcher

    model = shared_extractor(backbone, FeatureOptions(device=device), checkpoint, weights).backbone
    if find_grid_matcher(model) is None:
        raise InputMismatchError(f"{checkpoint}: not a grid-matcher checkpoint")
    return model


def pair_flow(grid: tuple, src: np.ndarray, trg: np.ndarray):  # noqa: ANN201
    """Dense flow of a pair from a grid-matcher checkpoint, kept for the last few pairs.

    Keyed on the image arrays' identity (the session's images are never modified in place); the cache
    holds the arrays, so an id cannot be reused while its entry lives. A click costs no hashing of pixels.
    """
    from .grid_matcher import predict_flow

    key = (grid, id(src), id(trg))
    with _FLOWS_LOCK:
        hit = _FLOWS.get(key)
        if hit is not None and hit[0] is src and hit[1] is trg:
            _FLOWS.move_to_end(key)
            return hit[2]
    flow = predict_flow(grid_model(grid[0], grid[1], grid[2], grid[4] if len(grid) > 4 else "cpu"), src, trg, grid[3])
    with _FLOWS_LOCK:
        _FLOWS[key] = (src, trg, flow)
        while len(_FLOWS) > 8:
            _FLOWS.popitem(last=False)
    return flow


def image_lattice(transform, max_side: int = 256) -> np.ndarray:  # noqa: ANN001
    """Image-pixel centres (h, w, 2) of a raster of the image at most ``max_side`` px on its longer side."""
    t = transform
    scale = min(1.0, max_side / max(t.image_w, t.image_h))
    w, h = max(1, round(t.image_w * scale)), max(1, round(t.image_h * scale))
    gx, gy = np.meshgrid((np.arange(w) + 0.5) / scale, (np.arange(h) + 0.5) / scale)
    return np.stack([gx, gy], axis=-1)


def confidence_on_image(conf: np.ndarray, transform, max_side: int = 256) -> np.ndarray:  # noqa: ANN001
    """A canvas-pixel confidence map (Hc, Wc) resampled onto the image (nearest), at most ``max_side`` px."""
    c = transform.image_to_canvas(image_lattice(transform, max_side))
    cols = np.clip(np.floor(c[..., 0]).astype(int), 0, conf.shape[1] - 1)
    rows = np.clip(np.floor(c[..., 1]).astype(int), 0, conf.shape[0] - 1)
    return np.asarray(conf, dtype=np.float32)[rows, cols]


def compute_matches(req: MatchRequest) -> MatchResult:
    """Match every query point into every other image; heatmaps for ``req.heatmap_point``.

    :func:`corrviz.core.matching.match_points` does all the work: per (source image, target image) one
    batched similarity gives the matches, their confidences and the selected point's heatmap (the
    similarity the matcher used: cosine of the features, or the combined one with a sphere mapper)."""
    from .matching import match_points

    t0 = time.perf_counter()
    method = req.method
    if method == "combined" and req.sphere is None:
        raise InputMismatchError("the combined matcher needs a sphere-mapper checkpoint; none is loaded")
    if req.grid is not None:
        return grid_matches(req, t0)
    result = MatchResult(method, heatmap_point=req.heatmap_point)
    maps = list(req.maps)
    for src in sorted({p.image for p in req.points}):
        idx = [i for i, p in enumerate(req.points) if p.image == src]
        xy = np.array([[req.points[i].x, req.points[i].y] for i in idx], dtype=np.float64)
        heat_row = idx.index(req.heatmap_point) if req.heatmap_point in idx else -1
        for trg in range(len(maps)):
            if trg == src:
                continue
            sphere = (req.sphere[src], req.sphere[trg]) if req.sphere is not None else None
            m = match_points(maps[src], maps[trg], xy, method=method, radius=req.radius, beta=req.beta,
                             sphere=sphere, alpha=req.alpha, keep_similarity=heat_row >= 0)
            for k, q in enumerate(idx):
                result.matches.append(PointMatch(q, trg, (float(m.trg_xy[k, 0]), float(m.trg_xy[k, 1])),
                                                 float(m.score[k]), bool(m.valid[k]),
                                                 None if m.confidence is None else float(m.confidence[k])))
            if heat_row >= 0:
                # absolute similarity; NaN (drawn transparent) on cells that touch the padding
                sim = m.similarity[heat_row].numpy().astype(np.float32)
                sim = np.where(maps[trg].transform.inner_cell_mask(), sim, np.nan)
                result.heatmaps[trg] = raster_on_image(sim, maps[trg], req.heatmap_side)
    result.seconds = time.perf_counter() - t0
    return result


def grid_matches(req: MatchRequest, t0: float) -> MatchResult:
    """Matches read from a grid matcher's flow; the heatmap of every target is its confidence map."""
    from .grid_matcher import flow_matches

    result = MatchResult("grid", heatmap_point=req.heatmap_point)
    images = list(req.images)
    for src in sorted({p.image for p in req.points}):
        idx = [i for i, p in enumerate(req.points) if p.image == src]
        xy = np.array([[req.points[i].x, req.points[i].y] for i in idx], dtype=np.float64)
        for trg in range(len(images)):
            if trg == src:
                continue
            flow = pair_flow(req.grid, images[src], images[trg])
            m = flow_matches(flow, xy, (images[trg].shape[1], images[trg].shape[0]))
            for k, q in enumerate(idx):
                result.matches.append(PointMatch(q, trg, (float(m.trg_xy[k, 0]), float(m.trg_xy[k, 1])),
                                                 float(m.score[k]), bool(m.valid[k]), float(m.confidence[k])))
            if req.heatmap_point in idx:  # the confidence overlay: how sure the matcher is of each target pixel
                result.heatmaps[trg] = confidence_on_image(flow.conf_ts, flow.transform_t, req.heatmap_side)
    result.seconds = time.perf_counter() - t0
    return result


def compute_grid_dense(grid: tuple, image_s: np.ndarray, image_t: np.ndarray, src: FeatureMap, step: int = 2,
                       max_lines: int = 400) -> Matches:
    """Dense lines of a grid-matcher (VGGT-SC) checkpoint: every ``step``-th source cell centre (cells clear of
    the padding) read from its flow; of those landing inside the target, the ``max_lines`` most confident.
    ``score`` and ``confidence`` are the matcher's confidence."""
    from .grid_matcher import flow_matches
    from .matching import Matches

    gh, gw = src.grid_shape
    rc = np.stack(np.meshgrid(np.arange(0, gh, step), np.arange(0, gw, step), indexing="ij"), -1).reshape(-1, 2)
    rc = rc[src.transform.inner_cell_mask()[rc[:, 0], rc[:, 1]]]
    xy = src.transform.cell_to_image(rc.astype(np.float64))
    flow = pair_flow(grid, image_s, image_t)
    m = flow_matches(flow, xy, (image_t.shape[1], image_t.shape[0]))
    idx = np.flatnonzero(m.valid)
    idx = idx[np.argsort(-m.confidence[idx], kind="stable")[:max_lines]]
    return Matches(m.src_xy[idx], m.trg_xy[idx], m.score[idx], m.valid[idx], "grid", confidence=m.confidence[idx])


def compute_dense(src: FeatureMap, trg: FeatureMap, step: int = 2, max_lines: int = 400) -> Matches:
    """Mutual-NN matches on the grid, thinned to every ``step``-th cell and at most ``max_lines``."""
    from .matching import Matches, dense_matches

    m = dense_matches(src, trg, mutual=True)
    rc = src.transform.image_to_cell(m.src_xy)
    keep = m.valid & (rc[:, 0] % step == 0) & (rc[:, 1] % step == 0)
    idx = np.flatnonzero(keep)
    if len(idx) > max_lines:
        idx = idx[np.linspace(0, len(idx) - 1, max_lines).round().astype(int)]
    return Matches(m.src_xy[idx], m.trg_xy[idx], m.score[idx], m.valid[idx], m.method)
