"""Pose benchmark (``corrviz-eval pose``): one-shot 6-DoF pose from dense correspondences.

Sources (``--data``): ``default`` (corrviz's held-out procedural objects :data:`HELD_OUT_OBJECTS`,
seed 0: categories MEF never trains on), a mesh file, or a folder of meshes (e.g.
../shared/data/meshes; one mesh per stem and folder). Every mesh is centred and scaled to unit extent.

Protocol per object (:class:`PoseSettings`):

* references: ``n_references`` views on ONE orbit (distance 2, elevation ``reference_elevation_deg``,
  focal 560 px at 512 px, black background), onboarded with their exact depth and pose
  (:func:`corrviz.core.pose.build_database`);
* queries: ``n_queries`` views from other viewpoints, seeded per object: azimuth uniform, elevation
  uniform in ``query_elevation_deg``, distance uniform in ``query_distance``, look-at target jittered
  by up to ``target_jitter``, roll uniform in +-``roll_deg``; ``appearance`` changes the lighting
  and/or the texture colours of the queries only (``same`` | ``lighting`` | ``texture`` | ``lighting+texture``);
* each query: dense mutual-NN against the database, EPnP in RANSAC (8 px) + LM refinement
  (:func:`corrviz.core.pose.estimate_pose`); the oracle matcher uses the exact surface points
  under the query's object pixels instead (a check of PnP and metrics: errors ~0);
* errors against the rendered pose: rotation (deg), translation (object diameters, and cm for an
  object whose diameter is ``object_size_cm``), n cm - n deg accuracy (n = 1, 3, 5; OnePose),
  ADD / ADD-S / ADD(-S) at 0.1 diameter on ``n_model_points`` area-sampled surface points
  (ADD-S for the objects in ``symmetric_objects``). Queries without a pose count as wrong.
* viewpoint bins: the angle between the query's viewing direction and the nearest reference's:
  small < 10 deg, medium 10-30 deg, large >= 30 deg.

Renders are cached under ``$CORRVIZ_CACHE/renders``; features and databases like every benchmark's.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CorrvizError, DatasetError
from ..progress import Progress
from ..settings import cache_dir
from .cache import FeatureStore
from .keypoints import Skip
from .multiview import MESH_SUFFIXES

HELD_OUT_OBJECTS = ("mug", "table", "torus", "bowl")  # = MEF's held-out categories (training/methods/mef_data.py)
SYMMETRIC_OBJECTS = ("torus", "bowl", "cylinder", "sphere", "capsule", "cone", "fuze_bottle")
APPEARANCES = ("same", "lighting", "texture", "lighting+texture")
VIEWPOINT_BINS = (("small", 0.0, 10.0), ("medium", 10.0, 30.0), ("large", 30.0, 180.01))


@dataclass(frozen=True)
class PoseSettings:
    n_references: int = 36
    reference_elevation_deg: float = 20.0
    n_queries: int = 24
    resolution: int = 512
    query_elevation_deg: tuple[float, float] = (-30.0, 75.0)
    query_distance: tuple[float, float] = (1.7, 2.6)
    target_jitter: float = 0.08
    roll_deg: float = 20.0
    appearance: str = "same"
    object_size_cm: float = 20.0
    stride: int = 1
    threshold_px: float = 8.0
    refine: bool = True
    query_region: str = "image"  # "image" | "mask" (the ground-truth mask as a perfect detector)
    n_model_points: int = 2000
    symmetric_objects: tuple[str, ...] = SYMMETRIC_OBJECTS
    seed: int = 0

    def __post_init__(self) -> None:
        if self.appearance not in APPEARANCES:
            raise ValueError(f"appearance must be one of {', '.join(APPEARANCES)}, got {self.appearance!r}")
        if self.query_region not in ("image", "mask"):
            raise ValueError(f"query_region must be 'image' or 'mask', got {self.query_region!r}")
        if self.n_references < 1 or self.n_queries < 1:
            raise ValueError("n_references and n_queries must be at least 1")
        if self.object_size_cm <= 0:
            raise ValueError(f"object_size_cm must be positive, got {self.object_size_cm}")

    def options(self) -> Any:
        from ..pose import PoseOptions

        return PoseOptions(stride=self.stride, threshold_px=self.threshold_px, refine=self.refine, seed=self.seed)

    def to_dict(self) -> dict[str, Any]:
        return {"references": {"n_views": self.n_references, "path": "one orbit", "distance": 2.0,
                               "elevation_deg": self.reference_elevation_deg, "focal_at_512": 560.0,
                               "resolution": self.resolution, "depth_and_pose": "exact (renderer)"},
                "queries": {"n_per_object": self.n_queries, "elevation_deg": list(self.query_elevation_deg),
                            "distance": list(self.query_distance), "target_jitter": self.target_jitter,
                            "roll_deg": self.roll_deg, "appearance": self.appearance, "seed": self.seed,
                            "region": "whole image" if self.query_region == "image" else "ground-truth mask"},
                "database_stride_cells": self.stride, "pnp": self.options().to_dict(),
                "object_size_cm": self.object_size_cm, "object_size_meaning": "object diameter in cm",
                "cm_deg_thresholds": [1, 3, 5], "add_threshold": "0.1 x diameter",
                "add_model_points": f"{self.n_model_points} area-sampled surface points (seeded)",
                "symmetric_objects (ADD-S)": list(self.symmetric_objects),
                "viewpoint_bins_deg": {n: [lo, min(hi, 180.0)] for n, lo, hi in VIEWPOINT_BINS},
                "viewpoint_angle": "angle between the query's and the nearest reference's viewing directions",
                "no_pose": "counts as incorrect in every accuracy (errors infinite)"}


@dataclass(frozen=True)
class PoseSource:
    name: str
    load: Callable[[], Any]  # -> Mesh


@dataclass
class QueryOutcome:
    object: str
    query: int
    viewpoint_deg: float
    viewpoint: str
    estimate: dict[str, Any]
    errors: Any  # PoseErrors

    def to_dict(self) -> dict[str, Any]:
        e = self.errors
        return {"object": self.object, "query": self.query, "viewpoint_deg": self.viewpoint_deg,
                "viewpoint": self.viewpoint, **self.estimate, "rotation_error_deg": e.rotation_deg,
                "translation_error_diam": e.translation_diam, "translation_error_cm": e.translation_cm,
                "add_diam": e.add / e.diameter, "add_s_diam": e.add_s / e.diameter, "symmetric": e.symmetric,
                "diameter": e.diameter}


@dataclass
class PoseRun:
    outcomes: list[QueryOutcome] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    databases: dict[str, dict[str, Any]] = field(default_factory=dict)
    onboarding_seconds: float = 0.0


def pose_sources(data: str | Path) -> list[PoseSource]:
    """The objects named by ``data`` (see the module docstring)."""
    from ..render import load_mesh
    from ..synthetic import make_object

    if str(data) == "default":
        return [PoseSource(n, lambda n=n: make_object(n, 0)) for n in HELD_OUT_OBJECTS]
    root = Path(data)
    if not root.exists():
        raise DatasetError(f"pose: {root} does not exist (give 'default', a mesh file or a folder of meshes)")
    if root.is_file():
        return [PoseSource(root.stem, lambda: load_mesh(root))]
    chosen: dict[tuple[Path, str], Path] = {}
    for m in sorted(p for p in root.rglob("*") if p.suffix.lower() in MESH_SUFFIXES):
        chosen.setdefault((m.parent, m.stem.lower()), m)  # a GLB beside the same model's OBJ: one object
    if not chosen:
        raise DatasetError(f"pose: {root} holds no meshes ({', '.join(MESH_SUFFIXES)})")
    return [PoseSource(m.parent.name if m.parent != root else m.stem, lambda m=m: load_mesh(m))
            for m in chosen.values()]


def query_poses(name: str, s: PoseSettings) -> np.ndarray:
    """The seeded query cameras (n, 4, 4) of one object."""
    from ..render import look_at

    rng = np.random.default_rng([s.seed, zlib.crc32(name.encode())])
    out = []
    for _ in range(s.n_queries):
        az = np.deg2rad(rng.uniform(0.0, 360.0))
        el = np.deg2rad(rng.uniform(*s.query_elevation_deg))
        dist = rng.uniform(*s.query_distance)
        eye = dist * np.array([np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)])
        target = rng.uniform(-s.target_jitter, s.target_jitter, 3)
        out.append(look_at(eye, target, roll_deg=float(rng.uniform(-s.roll_deg, s.roll_deg))))
    return np.stack(out)


def query_appearance(mesh: Any, appearance: str) -> tuple[Any, Any]:
    """(mesh, lighting) of the queries: ``texture`` cycles the colour channels (R, G, B -> G, B, R) of
    textures, face and vertex colours; ``lighting`` uses a darker ambient and other light directions."""
    from ..render import Lighting

    lighting = None
    if "lighting" in appearance:
        lighting = Lighting(ambient=0.15, directions=((-0.7, 0.6, -0.5), (0.8, -0.3, 0.4)), intensities=(0.9, 0.3))
    if "texture" in appearance:
        perm = [1, 2, 0]
        mesh = replace(mesh, textures=[t[..., perm] for t in mesh.textures],
                       face_colors=mesh.face_colors[:, perm],
                       vertex_colors=None if mesh.vertex_colors is None else mesh.vertex_colors[:, perm])
    return mesh, lighting


def _rendered(mesh: Any, poses: np.ndarray, s: PoseSettings, kind: str, lighting: Any = None) -> Any:
    from ..render import render_poses
    from ..render.storage import load_view_set, write_view_set

    h = hashlib.sha1()
    for arr in (mesh.vertices, mesh.faces, mesh.face_colors, poses):
        h.update(np.ascontiguousarray(arr).tobytes())
    for t in mesh.textures:
        h.update(np.ascontiguousarray(t).tobytes())
    h.update(f"{s.resolution}|{lighting!r}".encode())
    folder = cache_dir() / "renders" / f"pose-{kind}-{h.hexdigest()[:16]}"
    if (folder / "cameras.json").exists():
        try:
            vs = load_view_set(folder, load_mesh=False)
            vs.mesh = mesh
            return vs
        except CorrvizError:
            pass
    vs = render_poses(mesh, poses, resolution=s.resolution, lighting=lighting)
    write_view_set(vs, folder, write_mesh=False)
    return vs


def viewpoint_bin(angle_deg: float) -> str:
    return next(n for n, lo, hi in VIEWPOINT_BINS if lo <= angle_deg < hi)


def _oracle_estimate(queries: Any, index: int, s: PoseSettings) -> Any:
    """Exact 2D-3D correspondences: every 4th object pixel and its ray-cast surface point."""
    from ..pose import solve_pnp

    view = queries.views[index]
    xy = view.foreground_pixels()[::4]
    pts = queries.surface_points(index, xy)
    ok = np.all(np.isfinite(pts), axis=1)
    return solve_pnp(pts[ok], xy[ok], view.K, s.options())


def run_pose(sources: list[PoseSource], store: FeatureStore, matcher: Any, s: PoseSettings,
             progress: Progress | None = None, on_result: Callable[[Any], None] | None = None,
             use_cache: bool = True) -> PoseRun:
    import time

    from ..pose import build_database, diameter, estimate_pose, pose_errors, reference_views, sample_surface
    from ..render import orbit_poses

    oracle = getattr(matcher, "name", "") == "oracle"
    run = PoseRun()
    if progress is not None:
        progress.start(len(sources) * (s.n_queries + (0 if oracle else s.n_references)), "pose queries")
    opts = s.options()
    ref_poses = orbit_poses(s.n_references, 2.0, s.reference_elevation_deg)
    ref_dirs = np.stack([p[2, :3] for p in ref_poses])
    for src in sources:
        try:
            mesh = src.load()
        except CorrvizError as exc:
            run.skipped.append(Skip(src.name, str(exc), "loader"))
            continue
        diam = diameter(mesh.vertices)
        model_pts = sample_surface(mesh.vertices, mesh.faces, s.n_model_points, s.seed)
        symmetric = src.name in s.symmetric_objects
        db = None
        if not oracle:
            t0 = time.perf_counter()
            refs = _rendered(mesh, ref_poses, s, "ref")
            db = build_database(reference_views(refs), store, s.stride, use_cache=use_cache)
            run.onboarding_seconds += time.perf_counter() - t0
            run.databases[src.name] = db.summary()
            if progress is not None:
                progress.step(s.n_references, f"onboarded {src.name}")
        q_mesh, lighting = query_appearance(mesh, s.appearance)
        poses = query_poses(src.name, s)
        queries = _rendered(q_mesh, poses, s, f"query-{s.appearance}", lighting)
        for qi, view in enumerate(queries.views):
            if oracle:
                est = _oracle_estimate(queries, qi, s)
            else:
                mask = view.mask if s.query_region == "mask" else None
                est = estimate_pose(store.get(view.rgb), db, view.K, opts, mask=mask)
            pose = view.world_to_cam
            err = pose_errors(est.rotation, est.translation, pose[:3, :3], pose[:3, 3], model_pts, diam,
                              s.object_size_cm, symmetric)
            cos = np.clip(ref_dirs @ view.viewing_direction, -1.0, 1.0)
            angle = float(np.degrees(np.arccos(cos.max())))
            out = QueryOutcome(src.name, qi, angle, viewpoint_bin(angle), est.to_dict(), err)
            run.outcomes.append(out)
            if on_result is not None:
                on_result(out)
            if progress is not None:
                progress.step()
    return run
