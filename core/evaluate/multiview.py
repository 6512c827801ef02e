"""Multi-view benchmark (seed 000 A.1): APE and PCDP on renders with exact ground truth.

Sources (``--data``): ``default`` (corrviz's procedural objects, generated once and cached), a
dataset written by ``corrviz-data``, one view-set folder, a mesh file, or a folder of meshes (each
rendered from ``n_views`` icosphere viewpoints at ``resolution`` px, distance 2, focal 560 px at
512 px, black background; renders are cached under ``$CORRVIZ_CACHE/renders``).

Protocol per object: ``n_pairs`` ordered view pairs drawn (seeded) among those whose relative
rotation is at most ``max_rotation_deg``; in each pair ``n_points`` object pixels of view A drawn
(seeded) among those whose surface point is visible in view B (depth test, out-of-frame and
occluded points excluded, as the paper does). A prediction is searched over the object cells of
view B (its mask), error = ||x2 - x2_pred|| / min(W, H). APE is the mean error and PCDP@delta the
fraction below delta, pooled over every point of every pair and object (the paper's sums), and per
object. An oracle scores APE 0 and PCDP 1. Rows with ``viewpoint`` small / medium / large / xlarge
pool the points of pairs whose relative camera rotation is 0-30 / 30-60 / 60-90 / 90-120 degrees
(``--max-rotation 120`` to fill them all); ``viewpoint`` "all" rows pool every pair.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CorrvizError, DatasetError
from ..io import file_sha1
from ..matching import match_points
from ..metrics.multiview import (
    PCDP_DELTAS,
    VIEWPOINT_BINS,
    MultiviewScores,
    normalised_errors,
    scores_by_viewpoint,
    scores_from_errors,
)
from ..progress import Progress
from ..settings import cache_dir
from ..transforms import mask_to_grid
from .cache import FeatureStore
from .keypoints import Skip
from .result import row
from .spec import MatcherSpec

MESH_SUFFIXES = (".obj", ".ply", ".stl", ".off", ".glb", ".gltf")


@dataclass(frozen=True)
class MultiviewSettings:
    n_views: int = 42
    resolution: int = 512
    n_pairs: int = 12
    n_points: int = 200
    max_rotation_deg: float = 60.0
    n_default_objects: int = 4
    seed: int = 0
    deltas: tuple[float, ...] = PCDP_DELTAS

    def to_dict(self) -> dict[str, Any]:
        return {"n_views": self.n_views, "resolution": self.resolution, "pairs_per_object": self.n_pairs,
                "points_per_pair": self.n_points, "max_rotation_deg": self.max_rotation_deg,
                "seed": self.seed, "pcdp_deltas": list(self.deltas),
                "normalisation": "min(W, H) of view B", "search_region": "object cells of view B",
                "visibility": "points of view A visible in view B (depth test), as in seed 000"}


@dataclass(frozen=True)
class ViewSetSource:
    """A named, lazily loaded view set."""

    name: str
    load: Callable[[], Any]  # -> corrviz.core.render.ViewSet


@dataclass(frozen=True)
class ObjectOutcome:
    name: str
    n_pairs: int
    n_points: int
    ape: float  # fraction of min(W, H)
    pcdp: dict[float, float]

    def to_dict(self) -> dict[str, Any]:
        return {"object": self.name, "n_pairs": self.n_pairs, "n_points": self.n_points, "ape": self.ape,
                **{f"pcdp@{d}": v for d, v in self.pcdp.items()}}


@dataclass
class MultiviewRun:
    outcomes: list[ObjectOutcome] = field(default_factory=list)
    errors: list[np.ndarray] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    rotations: list[np.ndarray] = field(default_factory=list)  # per point: its pair's relative rotation (deg)


def _rendered(mesh_path: Path, s: MultiviewSettings) -> Any:
    """Render a mesh file's view set, cached by file content and render settings."""
    from ..render import load_mesh, render_views
    from ..render.storage import load_view_set, write_view_set

    digest = file_sha1(mesh_path)[:16]
    folder = cache_dir() / "renders" / f"{mesh_path.stem}-{digest}-{s.n_views}v-{s.resolution}px"
    if (folder / "cameras.json").exists():
        try:
            return load_view_set(folder)
        except CorrvizError:
            pass
    vs = render_views(load_mesh(mesh_path), n_views=s.n_views, resolution=s.resolution)
    write_view_set(vs, folder)
    return vs


def multiview_sources(data: str | Path, s: MultiviewSettings) -> list[ViewSetSource]:
    """The view sets named by ``data`` (see the module docstring)."""
    from ..render.storage import load_view_set
    from ..synthetic.dataset import SyntheticDataset, default_dataset

    if str(data) == "default":
        ds = default_dataset(n_objects=s.n_default_objects, n_views=s.n_views, resolution=s.resolution,
                             seed=s.seed)
        return [ViewSetSource(n, lambda i=i: ds.load(i)) for i, n in enumerate(ds.names())]
    root = Path(data)
    if not root.exists():
        raise DatasetError(f"multiview: {root} does not exist (give 'default', a mesh, a folder of meshes or "
                           "a corrviz view-set / dataset folder)")
    if (root / "dataset.json").exists():
        ds = SyntheticDataset(root)
        return [ViewSetSource(n, lambda i=i: ds.load(i)) for i, n in enumerate(ds.names())]
    if (root / "cameras.json").exists():
        return [ViewSetSource(root.name, lambda: load_view_set(root))]
    if root.is_file():
        return [ViewSetSource(root.stem, lambda: _rendered(root, s))]
    meshes = sorted(p for p in root.rglob("*") if p.suffix.lower() in MESH_SUFFIXES)
    if not meshes:
        raise DatasetError(f"multiview: {root} holds no meshes ({', '.join(MESH_SUFFIXES)}) and is not a view set")
    # one mesh per stem and folder (a GLB beside the same model's OBJ is the same object)
    chosen: dict[tuple[Path, str], Path] = {}
    for m in meshes:
        chosen.setdefault((m.parent, m.stem.lower()), m)
    return [ViewSetSource(f"{m.parent.name}/{m.name}" if m.parent != root else m.name,
                          lambda m=m: _rendered(m, s)) for m in chosen.values()]


def _predict(matcher: Any, fa: Any, fb: Any, pts: np.ndarray, gt: np.ndarray, trg_mask: np.ndarray) -> np.ndarray:
    if getattr(matcher, "name", "") == "oracle":
        return gt.copy()
    if not isinstance(matcher, MatcherSpec):
        raise DatasetError(f"multiview supports the built-in matchers and the oracle, not {matcher!r}")
    if matcher.method == "combined":
        raise DatasetError("the combined matcher needs sphere maps, which multiview evaluation does not load")
    return match_points(fa, fb, pts, "nn" if matcher.method == "mnn" else matcher.method, matcher.radius,
                        matcher.beta, trg_mask=trg_mask).trg_xy



def pick_view_pairs(vs, max_rotation_deg: float, n_pairs: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Up to ``n_pairs`` ordered view pairs within ``max_rotation_deg``, drawn without replacement (in index order)."""
    candidates = vs.view_pairs(max_rotation_deg)
    if not candidates:
        return []
    picks = rng.choice(len(candidates), size=min(n_pairs, len(candidates)), replace=False)
    return [candidates[k] for k in sorted(picks)]


def sample_visible_points(vs, a: int, b: int, n_points: int, rng: np.random.Generator
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``n_points`` foreground pixel centres of view a visible in view b, and their exact positions in b."""
    px = vs.views[a].foreground_pixels()
    gt, valid = vs.correspondence(a, b, px)
    px, gt = px[valid], gt[valid]
    if len(px):
        sel = rng.choice(len(px), size=min(n_points, len(px)), replace=False)
        px, gt = px[sel], gt[sel]
    return px, gt

def run_multiview(sources: list[ViewSetSource], store: FeatureStore, matcher: Any, s: MultiviewSettings,
                  progress: Progress | None = None, on_result: Callable[[Any], None] | None = None) -> MultiviewRun:
    run = MultiviewRun()
    if progress is not None:
        progress.start(len(sources) * s.n_pairs, "multiview pairs")
    for src in sources:
        try:
            vs = src.load()
        except CorrvizError as exc:
            run.skipped.append(Skip(src.name, str(exc), "loader"))
            continue
        rng = np.random.default_rng(s.seed)
        pairs = pick_view_pairs(vs, s.max_rotation_deg, s.n_pairs, rng)
        if not pairs:
            run.skipped.append(Skip(src.name, f"no view pair within {s.max_rotation_deg} degrees", "runtime"))
            continue
        obj_errors, obj_rot = [], []
        for a, b in pairs:
            va, vb = vs.views[a], vs.views[b]
            px, gt = sample_visible_points(vs, a, b, s.n_points, rng)
            if len(px):
                fa, fb = store.get(va.rgb), store.get(vb.rgb)
                pred = _predict(matcher, fa, fb, px, gt, mask_to_grid(vb.mask, fb.transform, threshold=0.25))
                obj_errors.append(normalised_errors(pred, gt, (vb.width, vb.height)))
                obj_rot.append(np.full(len(px), vs.relative_rotation_deg(a, b)))
            if progress is not None:
                progress.step()
        errs = np.concatenate(obj_errors) if obj_errors else np.zeros(0)
        sc = scores_from_errors(errs, s.deltas)
        out = ObjectOutcome(src.name, len(pairs), sc.n_points, sc.ape, sc.pcdp)
        run.outcomes.append(out)
        run.errors.append(errs)
        run.rotations.append(np.concatenate(obj_rot) if obj_rot else np.zeros(0))
        if on_result is not None:
            on_result(out)
    return run


def viewpoint_rows(run: MultiviewRun, s: MultiviewSettings) -> list[dict[str, Any]]:
    """APE / PCDP pooled per viewpoint bin of the pairs' relative rotation (``viewpoint`` = bin name)."""
    if not run.errors or len(run.rotations) != len(run.errors):
        return []
    bins = scores_by_viewpoint(np.concatenate(run.errors), np.concatenate(run.rotations), s.deltas)
    rows = []
    for name, lo, hi in VIEWPOINT_BINS:
        if name not in bins:
            continue
        b, norm, agg = bins[name], "min(W,H)", f"mean over points, pairs rotated {lo:g}-{hi:g} deg"
        rows.append(row("ape", b.ape, norm=norm, aggregation=agg, viewpoint=name, n_keypoints=b.n_points))
        rows += [row("pcdp", b.pcdp[float(d)], alpha=d, norm=norm, aggregation=agg, viewpoint=name,
                     n_keypoints=b.n_points) for d in s.deltas]
    return rows


def multiview_rows(run: MultiviewRun, s: MultiviewSettings) -> list[dict[str, Any]]:
    """APE / PCDP pooled over every point, and per object (fractions; x100 for percent)."""
    sc: MultiviewScores = scores_from_errors(np.concatenate(run.errors) if run.errors else np.zeros(0), s.deltas)
    n_pairs = sum(o.n_pairs for o in run.outcomes)
    rows = [row("ape", sc.ape, norm="min(W,H)", aggregation="mean over points", n_pairs=n_pairs,
                n_keypoints=sc.n_points)]
    rows += [row("pcdp", sc.pcdp[float(d)], alpha=d, norm="min(W,H)", aggregation="mean over points",
                 n_pairs=n_pairs, n_keypoints=sc.n_points) for d in s.deltas]
    rows += viewpoint_rows(run, s)
    for o in run.outcomes:
        rows.append(row("ape", o.ape, norm="min(W,H)", aggregation="object", category=o.name, n_pairs=o.n_pairs,
                        n_keypoints=o.n_points))
        rows += [row("pcdp", o.pcdp[d], alpha=d, norm="min(W,H)", aggregation="object", category=o.name,
                     n_pairs=o.n_pairs, n_keypoints=o.n_points) for d in s.deltas]
    return rows
