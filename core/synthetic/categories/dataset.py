"""Write the synthetic SPair: renders of category instances in the SPair-71k folder layout.

Layout (readable by :class:`corrviz.core.datasets.SPairDataset`; the sibling
:class:`corrviz.core.datasets.synthetic_spair.SyntheticSPairDataset` adds twins and metadata)::

    <root>/
      synthetic_spair.json                      index: format, categories (keypoint names, twins),
                                                instances (category, seed, split), render settings,
                                                held-out categories, pair counts
      JPEGImages/{cat}/{cat}-s{seed}-az{bin}.png
      Segmentation/{cat}/{stem}.png             object mask, 0 / 255
      Depth/{cat}/{stem}.npy                    float32 z-depth, 0 on background
      ImageAnnotation/{cat}/{stem}.json         SPair fields (kps {"id": [x, y] | null}, bndbox,
                                                azimuth_id) + instance_id, seed, split, azimuth_deg,
                                                elevation_deg, K, world_to_cam, kps_all (projections
                                                of hidden keypoints too)
      PairAnnotation/{trn,val,test}/{id}-{src}-{trg}:{cat}.json

Pairs join two DIFFERENT instances of a category from the same split (semantic correspondence),
from random azimuth bins, stratified so the three viewpoint bins get equal shares. Viewpoint
variation comes from the circular distance d of the two azimuth bins (0-4):
d = 0 small, d = 1-2 medium, d = 3-4 large (:data:`VIEWPOINT_RULE`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputMismatchError
from ...io import atomic_path, atomic_write, save_image, write_json
from ...progress import Progress
from ..keypoints import N_AZIMUTH_BINS, RenderSettings, SyntheticView, render_instance
from . import CATEGORY_GENERATOR_VERSION, SPLITS, get_category, instance_seeds, list_categories, make_instance

FORMAT = "corrviz-synthetic-spair"
INDEX_FILE = "synthetic_spair.json"
SPAIR_SPLIT = {"train": "trn", "val": "val", "test": "test"}
VIEWPOINT_RULE: dict[int, int] = {0: 0, 1: 1, 2: 1, 3: 2, 4: 2}


def bin_distance(a: int, b: int) -> int:
    """Circular distance (0-4) between two of the 8 azimuth bins."""
    d = abs(int(a) - int(b)) % N_AZIMUTH_BINS
    return min(d, N_AZIMUTH_BINS - d)


def viewpoint_variation(a: int, b: int) -> int:
    """SPair-style viewpoint_variation (0 small, 1 medium, 2 large) of two azimuth bins."""
    return VIEWPOINT_RULE[bin_distance(a, b)]


@dataclass(frozen=True)
class SplitSizes:
    """Instances per category and pairs per category in each split."""

    instances: tuple[int, int, int] = (16, 4, 8)  # train, val, test
    pairs: tuple[int, int, int] = (300, 60, 120)

    def of(self, split: str) -> tuple[int, int]:
        i = SPLITS.index(split)
        return self.instances[i], self.pairs[i]


def image_annotation(view: SyntheticView) -> dict[str, Any]:
    kps = {str(k): ([float(x), float(y)] if view.visible[k] else None) for k, (x, y) in enumerate(view.kps_xy)}
    kps_all = {str(k): ([float(x), float(y)] if np.isfinite([x, y]).all() else None)
               for k, (x, y) in enumerate(view.kps_xy)}
    h, w = view.mask.shape
    return {
        "filename": f"{view.image_name}.png", "category": view.category, "image_width": w, "image_height": h,
        "image_depth": 3, "bndbox": [float(v) for v in view.bbox], "azimuth_id": int(view.azimuth_bin),
        "azimuth_deg": view.azimuth_deg, "elevation_deg": view.elevation_deg, "kps": kps, "kps_all": kps_all,
        "kps_names": list(view.keypoint_names), "instance_id": view.instance_id, "seed": view.seed,
        "split": view.split, "truncated": 0, "occluded": 0, "difficult": 0,
        "K": np.asarray(view.K).tolist(), "world_to_cam": np.asarray(view.world_to_cam).tolist(),
    }


def _write_view(root: Path, view: SyntheticView) -> dict[str, Any]:
    from PIL import Image

    cat, stem = view.category, view.image_name
    save_image(root / "JPEGImages" / cat / f"{stem}.png", view.rgb)
    with atomic_path(root / "Segmentation" / cat / f"{stem}.png") as tmp:
        Image.fromarray(view.mask.astype(np.uint8) * 255, mode="L").save(tmp)
    with atomic_write(root / "Depth" / cat / f"{stem}.npy") as fh:
        np.save(fh, view.depth.astype(np.float32))
    ann = image_annotation(view)
    write_json(root / "ImageAnnotation" / cat / f"{stem}.json", ann)
    return ann


def sample_pairs(anns: Sequence[dict[str, Any]], n_pairs: int, rng: np.random.Generator,
                 min_common: int = 1, max_tries: int = 200) -> list[tuple[int, int, int]]:
    """``n_pairs`` (src, trg, viewpoint_variation) index pairs of image annotations of different
    instances, a third per viewpoint bin (as far as possible), each sharing >= ``min_common``
    keypoints visible in both; no pair twice."""
    n = len(anns)
    if n < 2 or len({a["instance_id"] for a in anns}) < 2:
        return []
    seen: set[tuple[int, int]] = set()
    out: list[tuple[int, int, int]] = []
    for k in range(n_pairs):
        want = k % 3
        for _ in range(max_tries):
            i, j = (int(x) for x in rng.integers(0, n, size=2))
            a, b = anns[i], anns[j]
            if a["instance_id"] == b["instance_id"] or (i, j) in seen:
                continue
            if viewpoint_variation(a["azimuth_id"], b["azimuth_id"]) != want:
                continue
            common = sum(1 for kid, v in a["kps"].items() if v is not None and b["kps"].get(kid) is not None)
            if common < min_common:
                continue
            seen.add((i, j))
            out.append((i, j, want))
            break
    return out


def pair_annotation(pair_id: int, src: dict[str, Any], trg: dict[str, Any], vp: int) -> dict[str, Any]:
    ids = [kid for kid, v in src["kps"].items() if v is not None and trg["kps"].get(kid) is not None]
    names = src["kps_names"]
    return {
        "pair_id": pair_id, "category": src["category"], "src_imname": src["filename"], "trg_imname": trg["filename"],
        "src_imsize": [src["image_width"], src["image_height"], 3], "trg_imsize": [trg["image_width"], trg["image_height"], 3],
        "src_bndbox": src["bndbox"], "trg_bndbox": trg["bndbox"], "kps_ids": ids,
        "kps_names": [names[int(k)] for k in ids],
        "src_kps": [src["kps"][k] for k in ids], "trg_kps": [trg["kps"][k] for k in ids],
        "viewpoint_variation": vp, "azimuth_bin_distance": bin_distance(src["azimuth_id"], trg["azimuth_id"]),
        "scale_variation": 0, "truncation": 0, "occlusion": 0, "mirror": 0,
        "src_instance": src["instance_id"], "trg_instance": trg["instance_id"],
    }


def write_synthetic_spair(root: str | os.PathLike, categories: Sequence[str] | None = None,
                          sizes: SplitSizes | None = None, settings: RenderSettings | None = None,
                          holdout: Sequence[str] = (), seed: int = 0,
                          progress: Progress | None = None) -> Path:
    """Render and write the data set (see the module docstring); returns ``root``.

    ``holdout``: categories held out whole -- only test instances are rendered for them (no train
    or val images), so a model trained on the train split never sees them.
    """
    root = Path(root)
    cats = list(categories) if categories else list_categories()
    for c in list(cats) + list(holdout):
        get_category(c)  # a clear error, before any work
    unknown = [h for h in holdout if h not in cats]
    if unknown:
        raise InputMismatchError(f"held-out categories {unknown} are not among the categories {cats}")
    sizes = sizes or SplitSizes()
    if any(n < 0 for n in sizes.instances + sizes.pairs):
        raise InputMismatchError("instance and pair counts must be non-negative")
    if sizes.instances[2] < 2:
        raise InputMismatchError("the test split needs at least 2 instances per category (pairs join two instances)")
    settings = settings or RenderSettings()
    plan = [(c, split, s) for c in cats for split in SPLITS if not (c in holdout and split != "test")
            for s in instance_seeds(split, sizes.of(split)[0])]
    if progress is not None:
        progress.start(len(plan), "rendering synthetic SPair")
    anns: dict[tuple[str, str], list[dict[str, Any]]] = {}
    instances = []
    for c, split, s in plan:
        views, _ = render_instance(make_instance(c, s), None, settings)
        anns.setdefault((c, split), []).extend(_write_view(root, v) for v in views)
        instances.append({"category": c, "seed": s, "split": split, "instance_id": f"{c}-s{s}"})
        if progress is not None:
            progress.step(1, f"{c}-s{s}")
    counts: dict[str, dict[str, int]] = {}
    for split in SPLITS:  # every split folder exists, empty or not, so each split opens
        (root / "PairAnnotation" / SPAIR_SPLIT[split]).mkdir(parents=True, exist_ok=True)
    pair_id = 0
    for (c, split), items in sorted(anns.items()):
        rng = np.random.default_rng([seed, SPLITS.index(split), cats.index(c)])
        folder = root / "PairAnnotation" / SPAIR_SPLIT[split]
        for i, j, vp in sample_pairs(items, sizes.of(split)[1], rng):
            pair_id += 1
            src, trg = items[i], items[j]
            name = f"{pair_id:06d}-{Path(src['filename']).stem}-{Path(trg['filename']).stem}:{c}"
            write_json(folder / f"{name}.json", pair_annotation(pair_id, src, trg, vp))
            counts.setdefault(split, {}).setdefault(c, 0)
            counts[split][c] += 1
    write_json(root / INDEX_FILE, {
        "format": FORMAT, "version": 1, "generator_version": CATEGORY_GENERATOR_VERSION,
        "categories": {c: {"keypoints": list(get_category(c).keypoints),
                           "twins": {str(a): str(b) for a, b in get_category(c).twin_ids.items()}} for c in cats},
        "holdout_categories": list(holdout), "instances": instances, "render": settings.to_dict(),
        "split_sizes": {"instances": list(sizes.instances), "pairs_per_category": list(sizes.pairs)},
        "pairs": counts, "seed": seed,
        "viewpoint_rule": "circular azimuth-bin distance d: 0 small, 1-2 medium, 3-4 large",
        "frame": "y up, front +z, object's left +x; keypoint ids index the category's keypoint names",
    })
    return root
