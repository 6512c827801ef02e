"""MEF training data: view pairs of procedural objects rendered by corrviz, with exact 3D ground truth.

Objects (method spec section 1): corrviz's procedural objects, centred and scaled to unit extent,
rendered from ``n_views`` icosphere directions (distance 2, focal 560 px at 512 px, black
background) once and cached under ``$CORRVIZ_CACHE/training/views``. Only RGB and mask are kept in
memory; surface points and visibility come from ray casting the mesh (exact, sub-pixel).

Held out, never trained on (checked before training starts):

* categories :data:`HELD_OUT_CATEGORIES` at every seed (the "other categories" of the held-out set),
* seeds below :data:`TRAIN_SEED_MIN` of every category (corrviz's default evaluation objects use
  seed 0, the validation hook seed :data:`VAL_SEED`: the "other seeds"),
* real meshes (../shared/data/meshes or any mesh file): a dataset holding anything but procedural
  objects is refused.

One item = one ordered view pair (relative rotation <= ``max_rotation_deg``) with:
``points_per_view`` foreground points of view A (queries; those visible in B keep their exact
correspondence in B as a candidate) and ``points_per_view`` foreground points of view B (more
candidates, incl. surfaces hidden from A). Each view is augmented independently (shift / scale /
rotate with probability ``affine_p``, colour jitter with probability ``jitter_p``), resized to the
model resolution, and its background zeroed; points move with their image.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from corrviz.core.errors import CorrvizError, DatasetError, suggest
from corrviz.core.progress import Progress
from corrviz.core.render import ViewSet, load_view_set, render_views, write_view_set
from corrviz.core.settings import cache_dir
from corrviz.core.synthetic.dataset import SyntheticDataset, make_object
from corrviz.core.synthetic.objects import GENERATOR_VERSION, list_objects
from corrviz.core.transforms import resize_torch

from ..method import TrainData

HELD_OUT_CATEGORIES = ("mug", "table", "torus", "bowl")
TRAIN_SEED_MIN = 1000
VAL_SEED = 500
_EMPTY = np.zeros((0, 0), np.float32)
MAX_DRAWS = 16        # draws of one item before the data is declared broken
SAME_PAIR_DRAWS = 4   # draws of the requested pair (new points and augmentation) before other pairs


def check_training_objects(objects: list[tuple[str, int]], where: str) -> None:
    """Refuse held-out categories, evaluation seeds and anything that is not a procedural object."""
    known = list_objects()
    for name, seed in objects:
        if name not in known:
            raise DatasetError(f"{where}: {name!r} is not a procedural object.{suggest(name, known)} "
                               "MEF trains on corrviz's procedural objects only; real meshes are held out "
                               f"for evaluation. Available: {', '.join(known)}")
        if name in HELD_OUT_CATEGORIES:
            raise DatasetError(f"{where}: category {name!r} is held out for evaluation "
                               f"(never trained on: {', '.join(HELD_OUT_CATEGORIES)})")
        if seed < TRAIN_SEED_MIN:
            raise DatasetError(f"{where}: {name} seed {seed} is reserved for evaluation; training seeds start "
                               f"at {TRAIN_SEED_MIN}")


def object_list(data_cfg: Any) -> list[tuple[str, int]]:
    """The (category, seed) pairs of the training objects named by the config."""
    if data_cfg.root:
        ds = SyntheticDataset(data_cfg.root)  # DatasetError names the folder and what is missing
        objects = [(e.name, e.seed) for e in ds.entries]
        if not objects:
            raise DatasetError(f"{data_cfg.root}: the dataset lists no objects")
        check_training_objects(objects, str(data_cfg.root))
        return objects
    start = int(data_cfg.seed_start)
    objects = [(str(n), s) for s in range(start, start + int(data_cfg.seeds)) for n in data_cfg.objects]
    if not objects:
        raise DatasetError("config: data.objects is empty")
    check_training_objects(objects, "config data.objects / data.seed_start")
    return objects


def _view_folder(name: str, seed: int, n_views: int, resolution: int) -> Path:
    return cache_dir() / "training" / "views" / f"{name}-s{seed}-{n_views}v-{resolution}px-g{GENERATOR_VERSION}"


def cached_view_set(name: str, seed: int, n_views: int, resolution: int) -> ViewSet:
    """The rendered view set of a procedural object (rendered on first use, then read from the cache)."""
    folder = _view_folder(name, seed, n_views, resolution)
    if (folder / "cameras.json").exists():
        try:
            return load_view_set(folder)
        except CorrvizError:
            pass  # a corrupt cache entry is rendered again
    vs = render_views(make_object(name, seed), n_views=n_views, resolution=resolution)
    write_view_set(vs, folder)
    return vs


def _compact(vs: ViewSet) -> ViewSet:
    """Keep RGB, mask and cameras; geometry comes from ray casting the mesh (exact)."""
    if vs.mesh is None:
        raise DatasetError(f"view set {vs.name!r} has no mesh; MEF needs exact correspondences (mesh.npz)")
    views = [dataclasses.replace(v, depth=_EMPTY, xyz=_EMPTY, face_id=_EMPTY) for v in vs.views]
    out = ViewSet(views=views, mesh=vs.mesh, name=vs.name, background=vs.background)
    out.attach_raycaster(vs.raycaster())
    return out


def sample_pixels(mask: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``n`` distinct foreground pixels, each at a uniformly random point inside the pixel (N, 2)."""
    rows, cols = np.nonzero(mask)
    if len(rows) == 0:
        return np.zeros((0, 2))
    pick = rng.choice(len(rows), size=min(n, len(rows)), replace=False)
    return np.stack([cols[pick], rows[pick]], axis=1) + rng.uniform(0.0, 1.0, (len(pick), 2))


def random_affine(rng: np.random.Generator, aug: Any, size_in: int, size_out: int) -> np.ndarray:
    """2x3 map from input pixel coordinates to output pixel coordinates (resize + shift/scale/rotate)."""
    k = size_out / size_in
    scale, angle, shift = 1.0, 0.0, np.zeros(2)
    if rng.uniform() < float(aug.affine_p):
        shift = rng.uniform(-float(aug.shift), float(aug.shift), 2) * size_out
        scale = 1.0 + rng.uniform(-float(aug.scale), float(aug.scale))
        angle = math.radians(rng.uniform(-float(aug.rotate_deg), float(aug.rotate_deg)))
    c, s = math.cos(angle), math.sin(angle)
    lin = k * scale * np.array([[c, -s], [s, c]])
    centre_in, centre_out = np.full(2, size_in / 2.0), np.full(2, size_out / 2.0)
    return np.concatenate([lin, (centre_out + shift - lin @ centre_in)[:, None]], axis=1)


def warp(image: torch.Tensor, affine: np.ndarray, size_out: int, mode: str = "bilinear") -> torch.Tensor:
    """Resample (C, H, W) so that output pixel p shows input pixel ``affine^-1 p`` (zeros outside)."""
    size_in = image.shape[-1]
    lin, t = affine[:, :2], affine[:, 2]
    inv = np.linalg.inv(lin)
    centres = (np.arange(size_out) + 0.5)
    gx, gy = np.meshgrid(centres, centres)
    out_xy = np.stack([gx, gy], axis=-1).reshape(-1, 2)
    in_xy = (out_xy - t) @ inv.T
    grid = torch.from_numpy((2.0 * in_xy / size_in - 1.0).reshape(1, size_out, size_out, 2)).to(image.dtype)
    return F.grid_sample(image[None], grid, mode=mode, padding_mode="zeros", align_corners=False)[0]


def prefilter(image: torch.Tensor, affine: np.ndarray, size_out: int) -> tuple[torch.Tensor, np.ndarray]:
    """Bring a (C, S, S) render larger than ``size_out`` down to ``size_out`` with the feature extractor's
    antialiased bicubic resize, and return it with ``affine`` rewritten for the resized pixel coordinates.

    Without this, a 512 px render warped straight to 224 px by bilinear sampling is aliased, unlike the
    evaluation images, which reach the network through the antialiased canvas resize. Renders at or below
    ``size_out`` are returned unchanged."""
    size_in = image.shape[-1]
    if size_in <= size_out:
        return image, affine
    s = size_out / size_in
    resized = resize_torch(image[None], size_out, size_out)[0].clamp(0.0, 1.0)
    return resized, np.concatenate([affine[:, :2] / s, affine[:, 2:]], axis=1)


def colour_jitter(img: torch.Tensor, rng: np.random.Generator, aug: Any) -> torch.Tensor:
    """Brightness, contrast, saturation and hue jitter (torchvision functional ops) in random order."""
    from torchvision.transforms.v2 import functional as TF

    if rng.uniform() >= float(aug.jitter_p):
        return img
    ops = [
        (float(aug.brightness), lambda x, f: TF.adjust_brightness(x, f)),
        (float(aug.contrast), lambda x, f: TF.adjust_contrast(x, f)),
        (float(aug.saturation), lambda x, f: TF.adjust_saturation(x, f)),
    ]
    factors = [rng.uniform(max(0.0, 1 - a), 1 + a) for a, _ in ops]
    hue = rng.uniform(-float(aug.hue), float(aug.hue))
    for k in rng.permutation(4):
        if k < 3 and ops[k][0] > 0:
            img = ops[k][1](img, factors[k])
        elif k == 3 and float(aug.hue) > 0:
            img = TF.adjust_hue(img, hue)
    return img.clamp(0.0, 1.0)


def _apply(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    return points @ affine[:, :2].T + affine[:, 2]


def _inside(xy: np.ndarray, size: int) -> np.ndarray:
    return np.all((xy >= 0) & (xy < size), axis=1)


class MEFData(TrainData):
    """Index-addressable view pairs (see the module docstring)."""

    def __init__(self, cfg: Any, progress: Progress | None = None) -> None:
        d = cfg.data
        self.cfg = cfg
        self.objects = object_list(d)
        self.resolution = int(cfg.model.resolution)
        self.view_sets: list[ViewSet] = []
        self.items: list[tuple[int, int, int]] = []
        if progress is not None:
            progress.start(len(self.objects), "preparing MEF training views")
        for o, (name, seed) in enumerate(self.objects):
            if d.root:
                vs = SyntheticDataset(d.root).load(o)
            else:
                vs = cached_view_set(name, seed, int(d.n_views), int(d.render_resolution))
            vs = _compact(vs)
            self.view_sets.append(vs)
            self.items += [(o, a, b) for a, b in vs.view_pairs(float(d.max_rotation_deg))]
            if progress is not None:
                progress.step()
        if not self.items:
            raise DatasetError(f"no view pair within {d.max_rotation_deg} degrees in the training objects")

    def __len__(self) -> int:
        return len(self.items)

    def _view(self, vs: ViewSet, index: int, rng: np.random.Generator) -> tuple[torch.Tensor, np.ndarray]:
        v = vs.views[index]
        affine = random_affine(rng, self.cfg.data.aug, v.width, self.resolution)
        img = torch.from_numpy(v.rgb).permute(2, 0, 1).float() / 255.0
        img, img_affine = prefilter(img, affine, self.resolution)
        img = colour_jitter(warp(img, img_affine, self.resolution), rng, self.cfg.data.aug)
        mask = warp(torch.from_numpy(v.mask.astype(np.float32))[None], affine, self.resolution, "nearest")
        return img * (mask > 0.5), affine

    def sample(self, index: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """Item ``index``; drawn again (same pair first, then other pairs, all from ``rng``) while it has
        fewer than ``data.min_queries`` queries, e.g. when augmentation moved the co-visible part out of frame."""
        need = max(1, int(self.cfg.data.min_queries))
        for attempt in range(MAX_DRAWS):
            item = self._draw(index, rng)
            if len(item["q_xy"]) >= need:
                return item
            if attempt + 1 >= SAME_PAIR_DRAWS:  # this pair rarely sees itself: another pair, from the same rng
                index = int(rng.integers(len(self.items)))
        o, a, b = self.items[index]
        raise DatasetError(f"MEF data: {MAX_DRAWS} draws in a row had fewer than {need} queries (last: "
                           f"{self.view_sets[o].name} views {a}, {b}); lower data.min_queries or "
                           "data.max_rotation_deg, or check the renders")

    def _draw(self, index: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        d = self.cfg.data
        o, a, b = self.items[index]
        vs = self.view_sets[o]
        n = int(d.points_per_view)
        xa = sample_pixels(vs.views[a].mask, n, rng)
        xyz_a = vs.surface_points(a, xa)
        on = np.isfinite(xyz_a).all(axis=1)
        xa, xyz_a = xa[on], xyz_a[on]
        xb_gt, visible = vs.visible_in(b, xyz_a)
        xb = sample_pixels(vs.views[b].mask, n, rng)
        xyz_b = vs.surface_points(b, xb)
        on_b = np.isfinite(xyz_b).all(axis=1)
        img_a, aff_a = self._view(vs, a, rng)
        img_b, aff_b = self._view(vs, b, rng)
        q_xy, gt_xy = _apply(xa[visible], aff_a), _apply(xb_gt[visible], aff_b)
        keep = _inside(q_xy, self.resolution) & _inside(gt_xy, self.resolution)  # both ends in frame
        q_xyz = xyz_a[visible][keep]
        r_xy = _apply(xb[on_b], aff_b)
        r_in = _inside(r_xy, self.resolution)
        # candidate k < len(queries) is query k's exact correspondence (the loss's fast path relies on it)
        c_xy = np.concatenate([gt_xy[keep], r_xy[r_in]])
        c_xyz = np.concatenate([q_xyz, xyz_b[on_b][r_in]])
        f32 = torch.float32
        return {"images": torch.stack([img_a, img_b]),
                "q_xy": torch.as_tensor(q_xy[keep], dtype=f32), "q_xyz": torch.as_tensor(q_xyz, dtype=f32),
                "c_xy": torch.as_tensor(c_xy, dtype=f32), "c_xyz": torch.as_tensor(c_xyz, dtype=f32)}

    def collate(self, items: list[dict[str, torch.Tensor]]) -> list[dict[str, torch.Tensor]]:
        return items
