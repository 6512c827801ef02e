"""DIY-SC pseudo-labels (seed 004; method spec section 5): chaining, cycle consistency, spherical rejection.

For each category (images with masks and azimuth bins; no keypoints, no correspondence is read):

1. **Tuples**: ``tuples`` 4-tuples of images whose consecutive azimuth bins differ by one (mod 8),
   walking one way round the object (start bin and direction drawn per tuple), each image of
   another instance where the category has them.
2. **Seeds**: every ``seed_every`` [3]-rd foreground cell (raster order) of the tuple's first image;
   foreground = cell mask coverage >= 0.5 on the feature grid.
3. **Chaining**: nearest neighbour (cosine of the features: the L2-normalised concatenation of the
   feature sources, :func:`corrviz.core.diy_adapter.source_features`) from image k to image k + 1,
   among the target's foreground cells, for k = 1, 2, 3: one track of four cells per seed.
4. **Relaxed cycle consistency** (``cycle``): keep a track when the nearest neighbour of its image-4
   cell back in image 1 lands within ``r_max`` cells (Euclidean, paper: 1, authors' code: [2]) of the seed.
5. **Spherical rejection** (``sphere``, needs a trained SPH mapper checkpoint): drop a track when the
   sphere points (bilinear on the mapper's sphere map, re-normalised) of any of its three links differ
   by a geodesic angle above ``sphere_angle`` [0.15 pi].

Every ordered pair (i, j) of images in a surviving tuple becomes a training pair whose labels are the
tracks' cells in i and j (cell centres in image pixels); at most ``max_per_pair`` [50] per pair
(a seeded random subset).

The store (:func:`save_labels`) is one safetensors file (tensors + JSON metadata: images, pairs,
provenance -- backbone, weights digest, sources, resolution, mapper and its digest, filters, seed --
and the counts of every stage) and a readable JSON summary beside it. No pickles.

On a synthetic SPair the precision of each stage is measured (:func:`stage_precision`) against the
canonical-frame ground truth (:mod:`corrviz.core.synthetic.canonical`): a label is correct when the
true counterpart of its source point is visible in the target and within ``alpha`` [0.1] x the
target's bounding-box side (max of width and height) of the label. Ground truth is never used to
build or filter labels.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from corrviz.core.errors import DatasetError
from corrviz.core.progress import Progress

STAGES = ("raw", "cycle", "sphere")  # raw chaining, + cycle consistency, + spherical rejection
FILTERS = {"none": "raw", "cycle": "cycle", "cycle+sphere": "sphere"}  # the label store's filter -> stage
N_BINS = 8


@dataclass(frozen=True)
class LabelImage:
    """One image of the label set (``record``: the synthetic SPair image record, when there is one)."""

    image: Path
    mask: Path
    category: str
    instance: str
    azimuth: int
    bbox: tuple[float, float, float, float]
    record: Any = field(default=None, compare=False, repr=False)


def synthetic_label_images(root: str | Path, split: str, categories: Sequence[str] | None = None) -> list[LabelImage]:
    """The renders of one split of a synthetic SPair folder (``corrviz-data synthetic-spair``)."""
    from corrviz.core.datasets.synthetic_spair import SyntheticSPairDataset

    ds = SyntheticSPairDataset(root, split=split, categories=list(categories) if categories else None,
                               require_images=False)
    out = []
    for im in ds.images(split, list(categories) if categories else None):
        if not im.image.is_file() or not im.mask.is_file():
            raise DatasetError(f"{root}: {im.image if not im.image.is_file() else im.mask} is missing")
        out.append(LabelImage(im.image, im.mask, im.category, im.instance_id, int(im.azimuth_bin),
                              tuple(float(v) for v in im.bbox), im))
    if not out:
        raise DatasetError(f"{root}: no {split} images{' of ' + ', '.join(categories) if categories else ''}")
    return out


# --------------------------------------------------------------------------- tuples
def sample_tuples(images: Sequence[LabelImage], n: int, rng: np.random.Generator, length: int = 4) -> list[list[int]]:
    """``n`` tuples of image indices (one category) whose consecutive azimuth bins differ by one (mod 8).

    Start bin and direction (+1 / -1) are drawn per tuple; each member is drawn among the images of
    its bin, avoiding instances already in the tuple while others are left. Bins without images
    make a start impossible; raises when no start is possible.
    """
    by_bin: dict[int, list[int]] = {}
    for k, im in enumerate(images):
        by_bin.setdefault(int(im.azimuth) % N_BINS, []).append(k)
    starts = [(b, d) for b in range(N_BINS) for d in (1, -1)
              if all(((b + d * k) % N_BINS) in by_bin for k in range(length))]
    if not starts:
        raise DatasetError(f"category {images[0].category if images else '?'}: no {length} images with consecutive "
                           f"azimuth bins (bins present: {sorted(by_bin)})")
    out = []
    for _ in range(int(n)):
        b, d = starts[int(rng.integers(len(starts)))]
        chosen: list[int] = []
        for k in range(length):
            cands = by_bin[(b + d * k) % N_BINS]
            fresh = [c for c in cands if images[c].instance not in {images[x].instance for x in chosen}]
            pool = fresh or cands
            chosen.append(int(pool[int(rng.integers(len(pool)))]))
        out.append(chosen)
    return out


# --------------------------------------------------------------------------- features
@dataclass
class ImageFeatures:
    feats: torch.Tensor  # (C, h, w) normalised concatenation of the sources
    fg: torch.Tensor  # (h, w) bool
    transform: Any  # CanvasTransform
    sphere: torch.Tensor | None = None  # (3, h', w') unit sphere map
    sphere_transform: Any = None


def _read_rgb_mask(im: LabelImage) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        with Image.open(im.image) as f:
            rgb = torch.from_numpy(np.asarray(f.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1)
        with Image.open(im.mask) as f:
            m = np.asarray(f)
    except OSError as exc:
        raise DatasetError(f"{im.image}: cannot read the image or its mask ({exc})") from None
    if m.ndim == 3:
        m = m[..., :3].max(axis=2)
    if m.shape != tuple(rgb.shape[1:]):
        raise DatasetError(f"{im.mask}: mask is {m.shape[1]}x{m.shape[0]}, image is {rgb.shape[2]}x{rgb.shape[1]}")
    return rgb, torch.from_numpy((m > 0).astype(np.float32))


def foreground_cells(mask: torch.Tensor, transform: Any) -> torch.Tensor:
    """Cells (h, w) whose mask coverage on the canvas is at least one half."""
    from corrviz.core.transforms import render_canvas_torch

    canvas = render_canvas_torch(mask[None, None].expand(1, 3, *mask.shape), transform)[0, 0]
    return F.adaptive_avg_pool2d(canvas[None, None], transform.grid_shape)[0, 0] >= 0.5


class FeatureBank:
    """Features, foreground cells and (optionally) sphere maps of label images, computed once each."""

    def __init__(self, backbone: Any, resolution: int, taps: Sequence[tuple[int, str]], mapper: Any = None,
                 batch: int = 8) -> None:
        from corrviz.core.train_features import TrainFeatures

        self.backbone = backbone
        self.taps = [(int(a), str(b)) for a, b in taps]
        self.extract = TrainFeatures(backbone, int(resolution), "pad_center", self.taps[-1][0], self.taps[-1][1])
        self.mapper = mapper
        self.mapper_extract = None
        if mapper is not None:
            res = int(mapper.feature.get("resolution") or resolution)
            self.mapper_extract = TrainFeatures(mapper, res, "pad_center")
        self.batch = int(batch)
        self.items: dict[Path, ImageFeatures] = {}

    def compute(self, images: Sequence[LabelImage], progress: Progress | None = None) -> None:
        from corrviz.core.diy_adapter import source_features

        todo = [im for im in dict.fromkeys(images) if im.image not in self.items]
        if progress is not None:
            progress.start(len(todo), "features of the label images")
        for a in range(0, len(todo), self.batch):
            chunk = todo[a:a + self.batch]
            loaded = [_read_rgb_mask(im) for im in chunk]
            sizes = {tuple(r.shape) for r, _ in loaded}
            with torch.no_grad():
                groups = [list(range(len(chunk)))] if len(sizes) == 1 else [[k] for k in range(len(chunk))]
                for g in groups:
                    rgb = torch.stack([loaded[k][0] for k in g])
                    canvas, t = self.extract.canvases(rgb)
                    feats = source_features(self.backbone, canvas, self.taps).float().cpu()
                    sph, st = None, None
                    if self.mapper_extract is not None:
                        mc, st = self.mapper_extract.canvases(rgb)
                        sph = self.mapper.forward_features(mc).float().cpu()
                    for j, k in enumerate(g):
                        self.items[chunk[k].image] = ImageFeatures(
                            feats[j], foreground_cells(loaded[k][1], t), t,
                            None if sph is None else sph[j], st)
            if progress is not None:
                progress.step(len(chunk))

    def __getitem__(self, im: LabelImage) -> ImageFeatures:
        return self.items[im.image]


# --------------------------------------------------------------------------- chaining
def nn_cells(src: torch.Tensor, cells: torch.Tensor, trg: torch.Tensor, trg_fg: torch.Tensor | None) -> torch.Tensor:
    """Nearest target cell (flat index) of each source cell ``cells`` (flat) by cosine, among ``trg_fg`` cells."""
    c = src.shape[0]
    q = src.reshape(c, -1)[:, cells]  # (C, N)
    sim = q.T @ trg.reshape(c, -1)  # (N, h*w)
    if trg_fg is not None and bool(trg_fg.any()):
        sim = sim.masked_fill(~trg_fg.reshape(1, -1), -float("inf"))
    return sim.argmax(dim=1)


def cell_xy(flat: torch.Tensor, transform: Any) -> np.ndarray:
    """Image pixel coordinates (N, 2) of cell centres given as flat indices."""
    w = transform.grid_w
    f = flat.numpy().astype(np.int64)
    return transform.grid_to_image(np.stack([f % w, f // w], axis=1).astype(np.float64))


def sphere_at(item: ImageFeatures, xy: np.ndarray) -> torch.Tensor:
    """Unit sphere points (N, 3) at image points (bilinear on the sphere map, re-normalised)."""
    from corrviz.core.train_features import sample_points

    pts = sample_points(item.sphere[None], torch.from_numpy(np.asarray(xy, np.float32))[None], item.sphere_transform)[0]
    return F.normalize(pts, dim=1)


@dataclass
class Tracks:
    """The tracks of one tuple: cells (T, 4) flat indices, and the stage flags (T,) bool each."""

    images: list[int]
    cells: torch.Tensor
    cycle: torch.Tensor
    sphere: torch.Tensor

    def keep(self, stage: str) -> torch.Tensor:
        if stage == "raw":
            return torch.ones(len(self.cells), dtype=torch.bool)
        if stage == "cycle":
            return self.cycle
        return self.cycle & self.sphere


def chain_tuple(bank: FeatureBank, images: Sequence[LabelImage], tup: Sequence[int], seed_every: int = 3,
                r_max: float = 2.0, sphere_angle: float = 0.15 * math.pi, restrict_fg: bool = True) -> Tracks:
    """Seeds of the tuple's first image chained through the four images, with both filters' verdicts."""
    items = [bank[images[k]] for k in tup]
    fg0 = items[0].fg.reshape(-1)
    seeds = fg0.nonzero()[:, 0][::max(1, int(seed_every))]
    cols = [seeds]
    for k in range(1, len(items)):
        cols.append(nn_cells(items[k - 1].feats, cols[-1], items[k].feats, items[k].fg if restrict_fg else None))
    back = nn_cells(items[-1].feats, cols[-1], items[0].feats, items[0].fg if restrict_fg else None)
    w = items[0].transform.grid_w
    dist = torch.sqrt(((back // w - seeds // w).float()) ** 2 + ((back % w - seeds % w).float()) ** 2)
    cycle = dist <= float(r_max)
    sphere = torch.ones(len(seeds), dtype=torch.bool)
    if all(it.sphere is not None for it in items) and len(seeds):
        pts = [sphere_at(it, cell_xy(c, it.transform)) for it, c in zip(items, cols, strict=True)]
        for k in range(len(items) - 1):
            cos = (pts[k] * pts[k + 1]).sum(dim=1).clamp(-1.0, 1.0)
            sphere &= torch.arccos(cos) <= float(sphere_angle)
    return Tracks(list(tup), torch.stack(cols, dim=1), cycle, sphere)


# --------------------------------------------------------------------------- labels
@dataclass
class LabelPair:
    src: int  # image index
    trg: int
    src_xy: np.ndarray  # (K, 2) image pixels
    trg_xy: np.ndarray


def pairs_from_tracks(tracks: Tracks, bank: FeatureBank, images: Sequence[LabelImage], stage: str,
                      max_per_pair: int, rng: np.random.Generator) -> list[LabelPair]:
    """All ordered pairs of the tuple's images with the surviving tracks' points (at most ``max_per_pair``)."""
    keep = tracks.keep(stage)
    cells = tracks.cells[keep]
    if not len(cells):
        return []
    xy = [cell_xy(cells[:, k], bank[images[i]].transform) for k, i in enumerate(tracks.images)]
    out = []
    n = len(tracks.images)
    for a in range(n):
        for b in range(n):
            if a == b or tracks.images[a] == tracks.images[b]:
                continue
            sel = np.arange(len(cells))
            if len(sel) > max_per_pair:
                sel = np.sort(rng.choice(len(sel), size=int(max_per_pair), replace=False))
            out.append(LabelPair(tracks.images[a], tracks.images[b], xy[a][sel], xy[b][sel]))
    return out


def track_correct(tracks: Tracks, bank: FeatureBank, images: Sequence[LabelImage], gt: Any,
                  alpha: float = 0.1) -> np.ndarray:
    """(T, n, n) bool: track t's label from image a to image b is correct (canonical ground truth)."""
    n = len(tracks.images)
    t = len(tracks.cells)
    out = np.zeros((t, n, n), dtype=bool)
    xy = [cell_xy(tracks.cells[:, k], bank[images[i]].transform) for k, i in enumerate(tracks.images)]
    for a in range(n):
        for b in range(n):
            if a == b:
                continue
            src, trg = images[tracks.images[a]], images[tracks.images[b]]
            true_xy, vis = gt.transfer(src.record, trg.record, xy[a])
            side = max(trg.bbox[2] - trg.bbox[0], trg.bbox[3] - trg.bbox[1])
            err = np.linalg.norm(true_xy - xy[b], axis=1)
            with np.errstate(invalid="ignore"):
                out[:, a, b] = vis & (err <= alpha * side)
    return out


def stage_precision(all_tracks: Sequence[Tracks], correct: Sequence[np.ndarray]) -> dict[str, dict[str, float]]:
    """Precision and counts of the labels of every stage (all ordered pairs of every surviving track)."""
    out = {}
    for stage in STAGES:
        right = total = tracks = 0
        for tr, c in zip(all_tracks, correct, strict=True):
            keep = tr.keep(stage).numpy()
            n = len(tr.images)
            off = ~np.eye(n, dtype=bool)
            sel = c[keep][:, off]
            right += int(sel.sum())
            total += int(sel.size)
            tracks += int(keep.sum())
        out[stage] = {"precision": right / total if total else float("nan"), "labels": total, "tracks": tracks}
    return out


# --------------------------------------------------------------------------- store
def save_labels(path: str | Path, images: Sequence[LabelImage], pairs: Sequence[LabelPair], meta: dict[str, Any],
                root: str | Path | None = None) -> Path:
    """Atomically write the label store (safetensors + JSON metadata) and ``<name>.json`` beside it."""
    from safetensors.torch import save_file

    from corrviz.core.io import atomic_path, write_json

    p = Path(path)
    if p.suffix != ".safetensors":
        raise DatasetError(f"{p}: the label store is a .safetensors file")
    base = Path(root) if root is not None else None

    def rel(x: Path) -> str:
        if base is not None:
            try:
                return str(Path(x).resolve().relative_to(base.resolve()))
            except ValueError:
                pass
        return str(Path(x).resolve())

    used = sorted({k for pr in pairs for k in (pr.src, pr.trg)})
    remap = {k: i for i, k in enumerate(used)}
    counts = np.array([len(pr.src_xy) for pr in pairs], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    cat = (lambda key: np.concatenate([getattr(pr, key) for pr in pairs]).astype(np.float32)) if pairs else \
        (lambda key: np.zeros((0, 2), np.float32))
    tensors = {"pair_images": torch.from_numpy(np.array([[remap[pr.src], remap[pr.trg]] for pr in pairs],
                                                        dtype=np.int64).reshape(-1, 2)),
               "offsets": torch.from_numpy(offsets), "src_xy": torch.from_numpy(cat("src_xy")),
               "trg_xy": torch.from_numpy(cat("trg_xy"))}
    full = dict(meta)
    full["format"] = "corrviz-diy-sc-labels"
    full["root"] = str(Path(root).resolve()) if root is not None else ""
    full["images"] = [{"image": rel(images[k].image), "mask": rel(images[k].mask), "category": images[k].category,
                       "instance": images[k].instance, "azimuth": images[k].azimuth,
                       "bbox": list(images[k].bbox)} for k in used]
    full["n_pairs"], full["n_labels"] = len(pairs), int(offsets[-1])
    with atomic_path(p) as tmp:
        save_file(tensors, str(tmp), metadata={"corrviz_labels": json.dumps(full)})
    summary = {k: v for k, v in full.items() if k != "images"}
    summary["n_images"] = len(used)
    write_json(p.with_suffix(".json"), summary)
    return p


@dataclass
class LabelStore:
    """A loaded label store: images, pairs (src, trg, src_xy, trg_xy) and its metadata."""

    images: list[LabelImage]
    pairs: list[LabelPair]
    meta: dict[str, Any]
    path: Path


def load_labels(path: str | Path) -> LabelStore:
    """Read a label store written by :func:`save_labels` (no code is executed; safetensors only)."""
    from corrviz.core.io import read_safetensors_json

    p = Path(path)
    if not p.is_file():
        raise DatasetError(f"{p}: label store does not exist (write one with corrviz-train diy_sc labels)")
    try:
        t, meta = read_safetensors_json(p, "corrviz_labels")
    except ValueError as exc:
        raise DatasetError(f"{p}: not a corrviz DIY-SC label store ({exc})") from None
    if meta.get("format") != "corrviz-diy-sc-labels":
        raise DatasetError(f"{p}: format {meta.get('format')!r} is not corrviz-diy-sc-labels")
    root = Path(meta.get("root") or p.parent)
    images = []
    for r in meta["images"]:
        img, msk = (root / r["image"], root / r["mask"])
        images.append(LabelImage(img, msk, r["category"], r["instance"], int(r["azimuth"]), tuple(r["bbox"])))
    missing = [im.image for im in images if not im.image.is_file()]
    if missing:
        raise DatasetError(f"{p}: {len(missing)} label images are missing, first {missing[0]}")
    off = t["offsets"].numpy()
    src, trg = t["src_xy"].numpy().astype(np.float64), t["trg_xy"].numpy().astype(np.float64)
    pairs = [LabelPair(int(a), int(b), src[off[k]:off[k + 1]], trg[off[k]:off[k + 1]])
             for k, (a, b) in enumerate(t["pair_images"].numpy())]
    if not pairs:
        raise DatasetError(f"{p}: the label store holds no pairs (every track was filtered out?)")
    return LabelStore(images, pairs, meta, p)


# --------------------------------------------------------------------------- generation
@dataclass
class LabelOptions:
    """Everything a label store depends on (written into its provenance)."""

    data: str
    out: str
    split: str = "train"
    categories: tuple[str, ...] = ()
    backbone: str = "dinov2_vitb14"
    weights: str = ""
    resolution: int = 840
    sources: tuple[tuple[int, str], ...] = ((-1, "prenorm"),)
    tuples: int = 200
    seed_every: int = 3
    r_max: float = 2.0
    sphere_angle: float = 0.15 * math.pi
    mapper: str = ""
    filter: str = "cycle+sphere"
    max_per_pair: int = 50
    alpha: float = 0.1
    seed: int = 0
    measure: bool = True


def check_options(o: LabelOptions) -> None:
    """Refuse bad options before any work (names the option)."""
    if o.filter not in FILTERS:
        raise DatasetError(f"--filter {o.filter!r}: choose one of {', '.join(FILTERS)}")
    if o.filter == "cycle+sphere" and not o.mapper:  # (the ablation checks each of its filters the same way)
        raise DatasetError("--filter cycle+sphere needs --mapper CKPT (a trained SPH sphere-mapper checkpoint: "
                           "corrviz-train sph); or use --filter cycle")
    if o.mapper and not (Path(o.mapper).is_file() or (Path(o.mapper) / "checkpoints").is_dir()):
        raise DatasetError(f"--mapper {o.mapper}: neither a checkpoint file nor a run folder")
    if not Path(o.data).is_dir():
        raise DatasetError(f"--data {o.data}: folder does not exist")
    for name, v in (("--tuples", o.tuples), ("--seed-every", o.seed_every), ("--max-per-pair", o.max_per_pair)):
        if int(v) < 1:
            raise DatasetError(f"{name} {v}: must be at least 1")
    if o.r_max < 0 or not 0 < o.sphere_angle <= math.pi:
        raise DatasetError(f"--r-max {o.r_max} / --sphere-angle {o.sphere_angle}: out of range")
    if not str(o.out).endswith(".safetensors"):
        raise DatasetError(f"--out {o.out}: the label store is a .safetensors file")


def load_models(o: LabelOptions) -> tuple[Any, Any]:
    """The backbone (frozen) and, when given, the SPH mapper on the same backbone."""
    from corrviz.core.backbones import create_backbone
    from corrviz.core.checkpoint import apply_checkpoint

    backbone = create_backbone(o.backbone, pretrained=True, weights=o.weights or None, allow_download=False)
    backbone.eval().requires_grad_(False)
    mapper = None
    if o.mapper:
        from ..trainer import init_checkpoint_file

        mapper = apply_checkpoint(backbone, init_checkpoint_file(o.mapper), kind="sphere_mapper")
    return backbone, mapper


def generate_labels(o: LabelOptions, progress: Progress | None = None, models: tuple[Any, Any] | None = None,
                    outs: dict[str, str] | None = None) -> dict[str, Any]:
    """Build a label store; returns the report (counts and, on a synthetic SPair, precision per stage).

    ``outs`` ({filter: path}) writes one store per filter from the SAME tuples and tracks (the
    ablation); by default one store, ``o.out`` with ``o.filter``.
    """
    from corrviz.core.checkpoint import state_digest

    check_options(o)
    outs = dict(outs) if outs else {o.filter: o.out}
    bad = [f for f in outs if f not in FILTERS]
    if bad:
        raise DatasetError(f"unknown label filter {bad[0]!r}; choose one of {', '.join(FILTERS)}")
    images = synthetic_label_images(o.data, o.split, list(o.categories) or None)
    backbone, mapper = models if models is not None else load_models(o)
    bank = FeatureBank(backbone, o.resolution, o.sources, mapper)
    bank.compute(images, progress)
    gt = None
    if o.measure and all(im.record is not None for im in images):
        from corrviz.core.synthetic.canonical import CanonicalGroundTruth

        gt = CanonicalGroundTruth()
    rng = np.random.default_rng(int(o.seed))
    cats = sorted({im.category for im in images})
    all_tracks: list[Tracks] = []
    correct: list[np.ndarray] = []
    per_cat: dict[str, list[int]] = {}
    if progress is not None:
        progress.start(len(cats) * int(o.tuples), "chaining tuples")
    for cat in cats:
        idx = [k for k, im in enumerate(images) if im.category == cat]
        sub = [images[k] for k in idx]
        start = len(all_tracks)
        for tup in sample_tuples(sub, int(o.tuples), rng):
            tracks = chain_tuple(bank, images, [idx[k] for k in tup], o.seed_every, o.r_max, o.sphere_angle)
            all_tracks.append(tracks)
            if gt is not None:
                correct.append(track_correct(tracks, bank, images, gt, o.alpha))
            if progress is not None:
                progress.step(1)
        per_cat[cat] = list(range(start, len(all_tracks)))
    counts = {s: int(sum(int(t.keep(s).sum()) for t in all_tracks)) for s in STAGES}
    report: dict[str, Any] = {"tracks_per_stage": counts}
    if gt is not None:
        report["precision"] = stage_precision(all_tracks, correct)
        report["precision_per_category"] = {
            c: stage_precision([all_tracks[i] for i in ids], [correct[i] for i in ids]) for c, ids in per_cat.items()}
    provenance = {
        "backbone": o.backbone, "weights": o.weights or "(registry default)", "base_digest": state_digest(backbone),
        "resolution": int(o.resolution), "sources": [[int(a), str(b)] for a, b in o.sources],
        "mapper": str(Path(o.mapper).resolve()) if o.mapper else "",
        "mapper_digest": (state_digest(mapper) if mapper is not None else ""),
        "filters": {"seed_every": int(o.seed_every), "r_max": float(o.r_max), "sphere_angle": float(o.sphere_angle),
                    "max_per_pair": int(o.max_per_pair), "restrict_to_foreground": True},
        "tuples_per_category": int(o.tuples), "seed": int(o.seed), "split": o.split, "categories": cats,
        "data": str(Path(o.data).resolve())}
    report["stores"] = {}
    for k, (filt, out) in enumerate(sorted(outs.items())):
        sub_rng = np.random.default_rng([int(o.seed), 4004, k])
        pairs = [p for tr in all_tracks for p in pairs_from_tracks(tr, bank, images, FILTERS[filt],
                                                                    int(o.max_per_pair), sub_rng)]
        save_labels(out, images, pairs, {"provenance": {**provenance, "filter": filt}, "report": report}, root=o.data)
        report["stores"][filt] = {"out": str(out), "n_pairs": len(pairs),
                                  "n_labels": int(sum(len(p.src_xy) for p in pairs))}
    first = report["stores"][o.filter] if o.filter in report["stores"] else next(iter(report["stores"].values()))
    report.update(first)
    return report
