"""SPH training data: single images with an object mask, an azimuth bin and a category.

SPH needs no correspondence ground truth (seed 002): each training item is ONE image of an object,
its mask (the losses run on foreground cells only), its coarse viewpoint (azimuth bin 0-7; L_vp)
and its category (the prototype S_Z is category-conditioned).

Sources (``data.source``):

* ``synthetic``: corrviz's synthetic SPair (``corrviz-data synthetic-spair``), the train split: the
  images of the training instances with their exact masks and azimuth bins. Held-out instances
  (val / test) and held-out categories are never read.
* ``spair``: a real SPair-71k folder, the images of the ``trn`` pairs with ``ImageAnnotation``
  azimuths and ``Segmentation`` masks (for users who have the full dataset). Where a mask file is
  missing, ``data.mask_fallback: bbox`` uses the annotated box as the mask (said in the log);
  ``none`` (default) refuses, naming the file.

One item: the image and mask, random-resized-cropped (scale ``crop_scale``, aspect ``crop_ratio``;
the paper's augmentation; never flipped, which would swap left and right against the azimuth),
resized to the model resolution; the foreground of each patch cell (mask area >= 0.5); and
``triplets`` triplets of distinct foreground cells for L_rd and L_o.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from corrviz.core.errors import DatasetError

from ..method import TrainData
from .sph_losses import sample_triplets


@dataclasses.dataclass(frozen=True)
class SPHImage:
    """One training image: files, azimuth bin, category name, and the box used when no mask exists."""

    image: Path
    mask: Path | None
    azimuth: int
    category: str
    bbox: tuple[float, float, float, float] | None = None


def images_from_pairs(records: Sequence[Any], source: str, mask_fallback: str = "none"
                      ) -> tuple[list[SPHImage], list[str]]:
    """The distinct images of keypoint pairs (both sides) with their masks, azimuths and categories,
    and the images left out because they have no azimuth bin (no ImageAnnotation 'azimuth_id').

    Raises :class:`DatasetError` naming the first image without a mask file when ``mask_fallback``
    is ``none``, and when no image has an azimuth.
    """
    seen: dict[str, SPHImage] = {}
    no_azimuth: list[str] = []
    for rec in records:
        for img, mask, az, box in ((rec.src_image, rec.src_mask, rec.src_azimuth, rec.src_bbox),
                                   (rec.trg_image, rec.trg_mask, rec.trg_azimuth, rec.trg_bbox)):
            key = str(img)
            if key in seen or key in no_azimuth:
                continue
            if az is None:
                no_azimuth.append(key)
                continue
            has_mask = mask is not None and Path(mask).is_file()
            if not has_mask and mask_fallback != "bbox":
                raise DatasetError(f"{source}: mask of {img} is missing ({mask or 'no Segmentation file'}); "
                                   "SPH trains on foreground cells. Provide masks (any segmenter) or set "
                                   "data.mask_fallback=bbox to use the annotated box")
            b = tuple(float(v) for v in box) if box is not None else None
            if not has_mask and b is None:
                raise DatasetError(f"{source}: {img} has neither a mask nor a bounding box")
            seen[key] = SPHImage(Path(img), Path(mask) if has_mask else None, int(az), str(rec.category), b)
    if not seen:
        raise DatasetError(f"{source}: none of the {len(no_azimuth)} images has an azimuth bin (ImageAnnotation "
                           "'azimuth_id'); SPH needs the viewpoint of every training image")
    return list(seen.values()), no_azimuth


def load_mask(item: SPHImage, size: tuple[int, int]) -> np.ndarray:
    """Float mask (H, W) in {0, 1}: the mask file (any non-zero pixel) or the box."""
    w, h = size
    if item.mask is not None:
        with Image.open(item.mask) as im:
            m = np.asarray(im)
        if m.ndim == 3:
            m = m[..., :3].max(axis=2)
        if m.shape != (h, w):
            raise DatasetError(f"{item.mask}: mask is {m.shape[1]}x{m.shape[0]}, image {item.image} is {w}x{h}")
        return (m > 0).astype(np.float32)
    out = np.zeros((h, w), np.float32)
    x1, y1, x2, y2 = item.bbox  # type: ignore[misc]
    out[max(0, int(math.floor(y1))):int(math.ceil(y2)) + 1, max(0, int(math.floor(x1))):int(math.ceil(x2)) + 1] = 1
    return out


def random_resized_box(w: int, h: int, scale: Sequence[float], ratio: Sequence[float],
                       rng: np.random.Generator) -> tuple[int, int, int, int]:
    """A crop (x0, y0, cw, ch) covering ``scale`` of the image area with aspect in ``ratio`` (log-uniform),
    as torchvision's RandomResizedCrop draws it (10 tries, then the whole image)."""
    area = w * h
    lo, hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(lo, hi))
        cw = int(round(math.sqrt(target * aspect)))
        ch = int(round(math.sqrt(target / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            return int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1)), cw, ch
    return 0, 0, w, h


class SPHData(TrainData):
    """Index-addressable SPH items (see the module docstring); ``categories`` fixes the category ids."""

    def __init__(self, images: list[SPHImage], categories: Sequence[str], resolution: int, stride: int,
                 crop_scale: Sequence[float] = (0.5, 1.0), crop_ratio: Sequence[float] = (0.75, 4 / 3),
                 n_triplets: int = 32, augment: bool = True) -> None:
        if not images:
            raise DatasetError("SPH: no training images")
        self.images = images
        self.categories = list(categories)
        self.cat_index = {c: i for i, c in enumerate(self.categories)}
        unknown = sorted({im.category for im in images} - set(self.cat_index))
        if unknown:
            raise DatasetError(f"SPH: categories {unknown} are not in the category list {self.categories}")
        bad_az = sorted({im.azimuth for im in images if not 0 <= im.azimuth < 8})
        if bad_az:
            raise DatasetError(f"SPH: azimuth bins must be 0-7, got {bad_az}")
        if resolution % stride:
            raise DatasetError(f"SPH: resolution {resolution} is not a multiple of the patch size {stride}")
        self.resolution, self.stride = int(resolution), int(stride)
        self.grid = self.resolution // self.stride
        self.crop_scale, self.crop_ratio = tuple(crop_scale), tuple(crop_ratio)
        self.n_triplets = int(n_triplets)
        self.augment = augment

    def __len__(self) -> int:
        return len(self.images)

    def cell_xy(self) -> torch.Tensor:
        """Image positions (grid*grid, 2) of the cell centres, row-major (x right, y down)."""
        c = (torch.arange(self.grid, dtype=torch.float32) + 0.5) * self.stride
        yy, xx = torch.meshgrid(c, c, indexing="ij")
        return torch.stack([xx.ravel(), yy.ravel()], dim=1)

    def sample(self, index: int, rng: np.random.Generator) -> dict[str, Any]:
        item = self.images[index]
        try:
            with Image.open(item.image) as im:
                rgb = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
        except OSError as exc:
            raise DatasetError(f"{item.image}: cannot read the image ({exc})") from None
        h, w = rgb.shape[:2]
        mask = load_mask(item, (w, h))
        x0, y0, cw, ch = random_resized_box(w, h, self.crop_scale, self.crop_ratio, rng) if self.augment \
            else (0, 0, w, h)
        img = torch.from_numpy(np.ascontiguousarray(rgb[y0:y0 + ch, x0:x0 + cw])).permute(2, 0, 1)[None]
        m = torch.from_numpy(np.ascontiguousarray(mask[y0:y0 + ch, x0:x0 + cw]))[None, None]
        r = self.resolution
        img = F.interpolate(img, size=(r, r), mode="bilinear", align_corners=False, antialias=True)[0]
        cells = F.adaptive_avg_pool2d(m, (self.grid, self.grid))[0, 0] >= 0.5
        triplets = sample_triplets(cells.numpy(), self.n_triplets, rng)
        return {"image": img.clamp(0, 1), "fg": cells.reshape(-1), "triplets": torch.from_numpy(triplets),
                "azimuth": int(item.azimuth), "category": self.cat_index[item.category], "path": str(item.image)}

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return {"images": torch.stack([it["image"] for it in items]),
                "fg": torch.stack([it["fg"] for it in items]),
                "triplets": [it["triplets"] for it in items],
                "azimuth": torch.tensor([it["azimuth"] for it in items]),
                "category": torch.tensor([it["category"] for it in items]),
                "paths": [it["path"] for it in items]}


# --------------------------------------------------------------------------- sources
def synthetic_images(categories: Sequence[str], n_instances: int, resolution: int, split: str = "train",
                     background: str = "texture", progress: Any = None) -> list[SPHImage]:
    """Renders of the first ``n_instances`` instances of ``split`` (train: seeds >= 1000, val:
    500-999) of each category from all 8 azimuth bins, rendered once and cached (PNG image + mask)
    under ``$CORRVIZ_CACHE/training/sph_synthetic``; the same renders ``corrviz-data synthetic-spair``
    writes for those instances. Training asks for ``train`` only (the method checks it)."""
    from corrviz.core.io import save_image, write_json
    from corrviz.core.settings import cache_dir
    from corrviz.core.synthetic.categories import (
        CATEGORY_GENERATOR_VERSION,
        instance_seeds,
        list_categories,
        make_instance,
        split_of_seed,
    )
    from corrviz.core.synthetic.keypoints import RenderSettings, render_instance

    known = list_categories()
    bad = [c for c in categories if c not in known]
    if bad:
        raise DatasetError(f"config key 'data.categories': unknown synthetic categories {bad}; known: {', '.join(known)}")
    settings = RenderSettings(resolution=int(resolution), background=str(background))
    key = "-".join(f"{k}{v}" for k, v in settings.to_dict().items()).replace(" ", "").replace("[", "").replace("]", "")
    root = cache_dir() / "training" / "sph_synthetic" / f"v{CATEGORY_GENERATOR_VERSION}-{key.replace(',', '_')}"
    seeds = instance_seeds(split, int(n_instances))
    if any(split_of_seed(s) != split for s in seeds):
        raise DatasetError(f"SPH synthetic data: a seed outside the {split} split was requested")
    todo = [(c, s) for c in categories for s in seeds]
    if progress is not None:
        progress.start(len(todo), f"rendering SPH {split} instances")
    out: list[SPHImage] = []
    for c, s in todo:
        index = root / c / f"{c}-s{s}.json"
        if not index.is_file():
            views, _ = render_instance(make_instance(c, s), None, settings)
            rows = []
            for v in views:
                img = root / c / f"{v.image_name}.png"
                msk = root / c / f"{v.image_name}_mask.png"
                save_image(img, v.rgb)
                save_image(msk, np.repeat((v.mask.astype(np.uint8) * 255)[..., None], 3, axis=2))
                rows.append({"image": img.name, "mask": msk.name, "azimuth": int(v.azimuth_bin),
                             "bbox": [float(x) for x in v.bbox]})
            write_json(index, {"category": c, "seed": s, "views": rows})
        import json

        for r in json.loads(index.read_text())["views"]:
            out.append(SPHImage(root / c / r["image"], root / c / r["mask"], int(r["azimuth"]), c, tuple(r["bbox"])))
        if progress is not None:
            progress.step()
    return out


def list_file_images(path: str | Path) -> list[SPHImage]:
    """A CSV ``image,mask,azimuth,category`` (header line; paths relative to the file): your own data,
    masks from any segmenter. Every row is checked before training."""
    import csv

    p = Path(path)
    if not p.is_file():
        raise DatasetError(f"config key 'data.root': list file {p} does not exist")
    with p.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    need = {"image", "mask", "azimuth", "category"}
    if not rows or not need <= set(rows[0]):
        raise DatasetError(f"{p}: needs a header with columns {', '.join(sorted(need))} and at least one row")
    out = []
    for k, r in enumerate(rows, start=2):
        img, msk = p.parent / r["image"], p.parent / r["mask"]
        for f in (img, msk):
            if not f.is_file():
                raise DatasetError(f"{p} line {k}: {f} does not exist")
        try:
            az = int(r["azimuth"])
        except ValueError:
            raise DatasetError(f"{p} line {k}: azimuth {r['azimuth']!r} is not an integer bin") from None
        out.append(SPHImage(img, msk, az, r["category"].strip()))
    return out
