"""One pose query, as the app's Pose mode runs it: onboard a mesh (or a reference folder), estimate
the pose of one query image and give what is drawn over it (no Qt here; the app runs
:func:`run_pose_query` in a worker).

* source: a mesh file (reference views rendered on one orbit with exact depth and pose, as in
  ``corrviz-eval pose``; renders and databases are cached) or a reference folder in the layout of
  :mod:`.views`;
* query: an image file (intrinsics from ``focal_px``, default 560 px at 512 px width, principal point
  at the centre; no ground truth) or, with a mesh, a view rendered from ``azimuth / elevation /
  distance / roll`` (ground truth known, optional lighting / texture change);
* matcher: ``features`` (dense mutual NN against the database, EPnP-RANSAC, LM refinement) or
  ``oracle`` (exact surface points under the rendered query's object pixels: a check of PnP);
* drawn: the object's outline at the estimate (and at the ground truth when known): the silhouette
  of the mesh rendered with the query's K at that pose (of the projected database points for a
  reference folder), its boundary pixels; the inlier matches of the reference view holding the most
  inliers, as (query pixel, reference pixel) pairs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputMismatchError
from ..progress import Progress
from .estimate import PoseEstimate, PoseOptions, estimate_pose, solve_pnp
from .metrics import PoseErrors

MATCHERS = ("features", "oracle")
FOCAL_AT_512 = 560.0


@dataclass(frozen=True)
class PoseQuery:
    source: str  # mesh file or reference folder
    query: str | None = None  # image file; None: render a query view of the mesh
    azimuth_deg: float = 35.0
    elevation_deg: float = 40.0
    distance: float = 2.2
    roll_deg: float = 10.0
    appearance: str = "same"
    focal_px: float | None = None
    n_references: int = 36
    reference_elevation_deg: float = 20.0
    render_resolution: int = 512
    stride: int = 1
    threshold_px: float = 8.0
    refine: bool = True
    matcher: str = "features"
    object_size_cm: float = 20.0

    def check(self) -> None:
        """Every problem that needs no file read beyond existence, with the path and what is wrong."""
        src = Path(self.source) if self.source else None
        if src is None or not src.exists():
            raise InputMismatchError(f"pose source {self.source or '(none)'}: does not exist; choose a mesh "
                                     "file or a reference folder")
        if self.query is not None and not Path(self.query).is_file():
            raise InputMismatchError(f"query image {self.query}: file does not exist")
        if self.query is None and src.is_dir():
            raise InputMismatchError(f"{src}: a reference folder has no mesh to render a query from; "
                                     "choose a query image")
        if self.matcher not in MATCHERS:
            raise InputMismatchError(f"pose matcher must be one of {', '.join(MATCHERS)}, got {self.matcher!r}")
        if self.matcher == "oracle" and self.query is not None:
            raise InputMismatchError("the oracle matcher needs a rendered query (exact surface points); "
                                     "use the features matcher for an image file")
        if self.n_references < 1 or self.render_resolution < 16 or self.stride < 1 or self.threshold_px <= 0:
            raise InputMismatchError("references >= 1, render resolution >= 16 px, stride >= 1 and a positive "
                                     "threshold are needed")
        if self.focal_px is not None and self.focal_px <= 0:
            raise InputMismatchError(f"focal length must be positive, got {self.focal_px}")

    def options(self) -> PoseOptions:
        return PoseOptions(stride=self.stride, threshold_px=self.threshold_px, refine=self.refine)


@dataclass
class PoseQueryResult:
    """What the Pose mode shows; pixel arrays are (N, 2) (x, y) in the query / reference image."""

    query_rgb: np.ndarray
    K: np.ndarray
    estimate: PoseEstimate
    ground_truth: np.ndarray | None = None  # object-to-camera 4x4
    estimate_outline: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    truth_outline: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    reference_rgb: np.ndarray | None = None
    reference_name: str = ""
    inlier_query_xy: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    inlier_reference_xy: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    errors: PoseErrors | None = None
    database_points: int = 0
    object_size_cm: float = 20.0
    seconds: float = 0.0

    def summary(self) -> str:
        e = self.estimate
        if not e.found:
            return e.reason
        text = (f"pose found: {e.n_inliers} inliers of {e.n_matches} matches "
                f"(inlier ratio {100 * e.inlier_ratio:.0f}%)")
        if self.errors is not None:
            r = self.errors
            text += (f"; error {r.rotation_deg:.2f} deg, {100 * r.translation_diam:.2f}% of the diameter "
                     f"({r.translation_cm:.2f} cm for an object {self.object_size_cm:g} cm across)")
        else:
            text += "; no ground truth for an image file"
        return text


def outline(mask: np.ndarray) -> np.ndarray:
    """(N, 2) pixel centres of the mask's boundary (on the mask, a 4-neighbour off it or off the image)."""
    m = np.asarray(mask, bool)
    if not m.any():
        return np.zeros((0, 2))
    p = np.pad(m, 1, constant_values=False)
    inner = p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    rows, cols = np.nonzero(m & ~inner)
    return np.stack([cols + 0.5, rows + 0.5], axis=1).astype(np.float64)


def silhouette(mesh: Any, pose: np.ndarray, K: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) mask of ``mesh`` seen at object-to-camera ``pose`` through ``K`` (exact ray casting)."""
    from ..render import render_poses

    vs = render_poses(mesh, np.asarray(pose, np.float64)[None], resolution=size, K=K)
    return vs.views[0].mask


def splat_silhouette(points: np.ndarray, pose: np.ndarray, K: np.ndarray, size: tuple[int, int],
                     radius: int = 3) -> np.ndarray:
    """(H, W) mask of 3D ``points`` projected at ``pose``, each a (2 radius + 1)^2 square (no mesh)."""
    from ..render import project

    w, h = size
    xy, z = project(points, K, pose)
    ok = (z > 0) & np.all(np.isfinite(xy), axis=1)
    mask = np.zeros((h, w), bool)
    c = np.floor(xy[ok, 0]).astype(int)
    r = np.floor(xy[ok, 1]).astype(int)
    for dr in range(-radius, radius + 1):
        for dc in range(-radius, radius + 1):
            rr, cc = r + dr, c + dc
            inside = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
            mask[rr[inside], cc[inside]] = True
    return mask


def _rendered_query(mesh: Any, q: PoseQuery) -> Any:
    from ..evaluate.pose import PoseSettings, _rendered, query_appearance
    from ..render import look_at

    az, el = np.deg2rad(q.azimuth_deg), np.deg2rad(q.elevation_deg)
    eye = q.distance * np.array([np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)])
    pose = look_at(eye, np.zeros(3), roll_deg=q.roll_deg)
    q_mesh, lighting = query_appearance(mesh, q.appearance)
    s = PoseSettings(resolution=q.render_resolution, appearance=q.appearance)
    return _rendered(q_mesh, pose[None], s, f"app-query-{q.appearance}", lighting).views[0]


def _references(q: PoseQuery, mesh: Any) -> list[Any]:
    from ..evaluate.pose import PoseSettings, _rendered
    from ..render import orbit_poses
    from .views import load_reference_folder, reference_views

    if mesh is None:
        return load_reference_folder(q.source)
    s = PoseSettings(n_references=q.n_references, resolution=q.render_resolution)
    poses = orbit_poses(q.n_references, 2.0, q.reference_elevation_deg)
    return reference_views(_rendered(mesh, poses, s, "ref"))


def _oracle(view: Any, options: PoseOptions) -> PoseEstimate:
    xy = view.foreground_pixels()[::4]
    cols, rows = np.floor(xy[:, 0]).astype(int), np.floor(xy[:, 1]).astype(int)
    pts = view.xyz[rows, cols].astype(np.float64)
    ok = np.all(np.isfinite(pts), axis=1)
    return solve_pnp(pts[ok], xy[ok], view.K, options)


def run_pose_query(q: PoseQuery, store: Any | None, progress: Progress | None = None) -> PoseQueryResult:
    """Onboard the source, estimate the query's pose, and build what is drawn (module docstring).

    ``store``: the :class:`~corrviz.core.evaluate.FeatureStore` of the features (None for the oracle)."""
    from ..io import load_image
    from ..render import load_mesh
    from ..render.cameras import intrinsics, scaled_focal
    from .database import build_database
    from .metrics import diameter, pose_errors, sample_surface

    t0 = time.perf_counter()
    q.check()
    src = Path(q.source)
    mesh = None if src.is_dir() else load_mesh(src)
    oracle = q.matcher == "oracle"
    refs = [] if oracle else _references(q, mesh)  # the oracle needs no database
    db = None if oracle else build_database(refs, store, q.stride, progress)  # steps per view (cancellable)
    if progress is not None:
        progress.start(3, "estimating the pose")
    truth = None
    if q.query is None:
        view = _rendered_query(mesh, q)
        rgb, K, truth = view.rgb, view.K, view.world_to_cam
    else:
        rgb = load_image(q.query)
        h, w = rgb.shape[:2]
        K = intrinsics(w, h, q.focal_px if q.focal_px else scaled_focal(FOCAL_AT_512, w))
    opts = q.options()
    if oracle:
        est = _oracle(view, opts)
    else:
        est = estimate_pose(store.get(rgb), db, K, opts)
    if progress is not None:
        progress.step(1, "drawing the estimate")
    size = (rgb.shape[1], rgb.shape[0])
    res = PoseQueryResult(rgb, K, est, truth, database_points=0 if db is None else len(db),
                          object_size_cm=q.object_size_cm)

    def shape_at(pose: np.ndarray) -> np.ndarray:
        if mesh is not None:
            return outline(silhouette(mesh, pose, K, size))
        return outline(splat_silhouette(db.points, pose, K, size))

    if est.found:
        res.estimate_outline = shape_at(est.object_to_camera)
        if len(est.inliers) and len(est.ref_view):
            views_of_inliers = est.ref_view[est.inliers]
            best = int(np.bincount(views_of_inliers).argmax())
            sel = est.inliers[views_of_inliers == best]
            res.reference_rgb, res.reference_name = refs[best].rgb, refs[best].name
            res.inlier_query_xy = est.query_xy[sel]
            res.inlier_reference_xy = db.ref_xy[est.db_index[sel]]
    if truth is not None:
        res.truth_outline = shape_at(truth)
        if mesh is not None:
            model = sample_surface(mesh.vertices, mesh.faces, 2000, 0)
            res.errors = pose_errors(est.rotation, est.translation, truth[:3, :3], truth[:3, 3], model,
                                     diameter(mesh.vertices), q.object_size_cm, False)
    if progress is not None:
        progress.step(1)
    res.seconds = time.perf_counter() - t0
    return res
