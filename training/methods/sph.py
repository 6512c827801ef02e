"""SPH: viewpoint-guided spherical maps (seed 002; method spec section 3) as a trainer plug-in.

Model: the frozen backbone's ``prenorm`` features phi of the last block feed the sphere mapper
f_S (core head ``sphere_mapper``: Linear D -> D/2, GELU, one transformer block, Linear -> 3,
L2-normalise), multiplied by the object mask (background -> the zero vector). The category
prototype S_Z (core head ``sphere_prototype``) maps each foreground sphere point back to a feature.
Both are trained; the backbone is not (its features are computed without gradients).

Loss (:mod:`.sph_losses`): L_rec + 0.3 L_rd + 0.3 L_o + 0.1 L_vp; 32 triplets per image for L_rd
and L_o; L_vp over all image pairs of the batch with the azimuth-bin cosines (8 bins).
Optimiser: Adam, lr 1e-3 (the trainer's AdamW with weight decay 0 is exactly Adam), constant
rate, no clipping. Data (:mod:`.sph_data`): single images with masks and azimuth bins,
random-resized crops. The checkpoint holds both heads (mapper last, so it is a sphere-mapper
checkpoint for ``corrviz-eval --matcher combined``, ``corrviz-match`` and the app's 3-D view).

Evaluation (held-out INSTANCES, the val split: seeds 500-999): the circular correlation between
the mean sphere direction's angle and the azimuth bin (``azimuth_corr``, |Fisher-Lee|), the
reconstruction term on those images (``rec``) and L_vp (``vp``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from corrviz.core.backbones import create_backbone, get_config
from corrviz.core.errors import CorrvizError, DatasetError
from corrviz.core.heads import AdaptedBackbone
from corrviz.core.progress import Progress
from corrviz.core.sph import azimuth_angles, bin_angles, circular_correlation
from corrviz.core.train_features import TrainFeatures

from ..method import Method, StepOutput, TrainModel, check_model_weights, register_method
from .sph_data import SPHData, SPHImage, images_from_pairs, list_file_images, synthetic_images
from .sph_losses import (
    azimuth_cosines,
    mean_direction,
    orientation_loss,
    reconstruction_loss,
    relative_distance_loss,
    viewpoint_loss,
)

SOURCES = ("synthetic", "spair", "list")


def sph_specs(dim: int, n_categories: int, cfg_model: Any) -> list[dict]:
    return [{"type": "sphere_prototype", "channels": int(dim), "categories": int(n_categories),
             "heads": int(cfg_model.prototype_heads), "repeats": int(cfg_model.prototype_repeats),
             "tokens": int(cfg_model.prototype_tokens), "category_names": list(cfg_model.category_names)},
            {"type": "sphere_mapper", "channels": int(dim), "heads": int(cfg_model.mapper_heads),
             **({"pos": str(cfg_model.mapper_pos)} if str(cfg_model.mapper_pos) != "none" else {})}]


class SPHModel(TrainModel):
    def __init__(self, adapted: AdaptedBackbone, cfg: Any, cell_xy: torch.Tensor) -> None:
        super().__init__()
        self.adapted = adapted
        m, lo = cfg.model, cfg.loss
        self.layer, self.facet, self.resolution = int(m.layer), str(m.facet), int(m.resolution)
        self.feature = {"layer": self.layer, "facet": self.facet, "resolution": self.resolution}
        self.extract = TrainFeatures(adapted.inner, self.resolution, "pad_center", self.layer, self.facet)
        self.prototype = adapted.heads[0]
        self.mapper = adapted.heads[1]
        self.register_buffer("cell_xy", cell_xy, persistent=False)
        self.margin, self.threshold = float(lo.margin), float(lo.orientation_threshold)
        self.weights = {"rec": float(lo.w_rec), "rd": float(lo.w_rd), "o": float(lo.w_o), "vp": float(lo.w_vp)}
        self.vp_reduction = str(lo.vp_reduction)

    def spheres(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Backbone features phi (B, D, h, w; no gradient) and sphere maps f_S (B, 3, h, w)."""
        with torch.no_grad():
            phi = self.extract.features(images)[0]
        return phi, self.mapper(phi)

    def losses(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        dev = self.cell_xy.device
        phi, sph = self.spheres(batch["images"].to(dev))
        b = phi.shape[0]
        fg = batch["fg"].to(dev)  # (B, N)
        s = sph.flatten(2).transpose(1, 2) * fg[..., None].to(sph.dtype)  # masked: background -> 0
        feats = phi.flatten(2).transpose(1, 2)
        cats = batch["category"].to(dev)
        # L_rec on foreground cells: each point is its own query sequence (length 1) with its image's category
        idx = fg.nonzero(as_tuple=False)
        pts = s[idx[:, 0], idx[:, 1]]
        recon = self.prototype(pts[:, None], cats[idx[:, 0]])[:, 0]
        rec = reconstruction_loss(feats[idx[:, 0], idx[:, 1]], recon, torch.ones(len(idx), dtype=torch.bool,
                                                                                 device=dev))
        rd, o = [], []
        for k in range(b):
            tri = batch["triplets"][k].to(dev)
            if tri.numel():
                rd.append(relative_distance_loss(s[k], self.cell_xy, tri, self.margin))
                o.append(orientation_loss(s[k], self.cell_xy, tri, self.threshold))
        zero = s.sum() * 0.0
        valid = fg.sum(1) >= 3
        mu = mean_direction(s[valid], fg[valid])
        vp = viewpoint_loss(mu, azimuth_cosines(batch["azimuth"].to(dev)[valid]), self.vp_reduction)
        return {"rec": rec, "rd": torch.stack(rd).mean() if rd else zero, "o": torch.stack(o).mean() if o else zero,
                "vp": vp}

    def forward(self, batch: dict[str, Any]) -> StepOutput:
        terms = self.losses(batch)
        loss = sum(self.weights[k] * v for k, v in terms.items())
        return StepOutput(loss, {f"L_{k}": float(v.detach()) for k, v in terms.items()})


@register_method
class SPH(Method):
    name = "sph"
    description = "viewpoint-guided spherical maps: sphere mapper + category prototype, 4 losses (seed 002)"
    best_metric = "azimuth_corr"
    best_mode = "max"

    def default_config(self) -> dict[str, Any]:
        return {
            "optim": {"lr": 1.0e-3, "weight_decay": 0.0, "clip_grad": 0.0},
            "schedule": {"kind": "constant", "warmup_steps": 0},
            "train": {"steps": 4000, "batch_size": 64, "eval_every": 500, "save_last_every": 100},
            "model": {"backbone": "dinov2_vitb14", "weights": "", "pretrained": True, "resolution": 448,
                      "layer": -1, "facet": "prenorm", "mapper_heads": 6, "mapper_pos": "none", "prototype_heads": 6,
                      "prototype_repeats": 2, "prototype_tokens": 1, "category_names": []},
            "loss": {"w_rec": 1.0, "w_rd": 0.3, "w_o": 0.3, "w_vp": 0.1, "margin": 0.5,
                     "orientation_threshold": 0.7, "triplets": 32, "vp_reduction": "mean"},
            "data": {"source": "synthetic", "root": "", "split": "trn", "mask_fallback": "none",
                     "categories": ["car", "airplane", "chair", "lamp", "mug", "bottle", "quadruped"],
                     "instances": 24, "render_resolution": 256, "background": "texture",
                     "crop_scale": [0.5, 1.0], "crop_ratio": [0.75, 1.3333333]},
            "eval": {"instances": 6, "max_images": 400},
        }

    # ------------------------------------------------------------------ checks
    def validate(self, cfg: Any) -> None:
        m, d = cfg.model, cfg.data
        bb = get_config(str(m.backbone))
        if bb.family != "vit":
            raise CorrvizError(f"config key 'model.backbone': SPH maps ViT patch features; {bb.name} is a {bb.family}")
        if int(m.resolution) % bb.patch_size:
            raise CorrvizError(f"config key 'model.resolution': {m.resolution} is not a multiple of "
                               f"{bb.name}'s patch size {bb.patch_size}")
        check_model_weights(m, bb, "SPH")
        if str(d.source) not in SOURCES:
            raise CorrvizError(f"config key 'data.source': {d.source!r}; choose one of {', '.join(SOURCES)}")
        if str(d.source) != "synthetic" and not str(d.root):
            raise CorrvizError(f"config key 'data.root': the {d.source} source needs a folder / file")
        if str(d.source) == "synthetic" and str(d.split) not in ("trn", "train"):
            raise CorrvizError("config key 'data.split': synthetic training uses the train split only "
                               "(held-out instances are val / test)")
        if str(d.mask_fallback) not in ("none", "bbox"):
            raise CorrvizError(f"config key 'data.mask_fallback': {d.mask_fallback!r}; choose none or bbox")
        if str(m.mapper_pos) not in ("none", "sincos"):
            raise CorrvizError(f"config key 'model.mapper_pos': {m.mapper_pos!r}; choose none or sincos")
        if str(m.mapper_pos) == "sincos" and (bb.embed_dim // 2) % 4:
            raise CorrvizError(f"config key 'model.mapper_pos': sincos needs D/2 = {bb.embed_dim // 2} divisible by 4")
        if str(cfg.loss.vp_reduction) not in ("mean", "sum"):
            raise CorrvizError(f"config key 'loss.vp_reduction': {cfg.loss.vp_reduction!r}; choose mean or sum")
        dim = bb.embed_dim
        for key, heads, width in (("mapper_heads", m.mapper_heads, dim // 2), ("prototype_heads", m.prototype_heads, dim)):
            if width % int(heads):
                raise CorrvizError(f"config key 'model.{key}': {width} dims do not split into {heads} heads")

    # ------------------------------------------------------------------ parts
    def training_images(self, cfg: Any, progress: Progress | None = None) -> list[SPHImage]:
        d = cfg.data
        if d.source == "synthetic":
            return synthetic_images(list(d.categories), int(d.instances), int(d.render_resolution), "train",
                                    str(d.background), progress)
        if d.source == "list":
            return list_file_images(str(d.root))
        from corrviz.core.datasets import get_dataset

        ds = get_dataset("spair", str(d.root), split=str(d.split), layout=None)
        if not ds.records():
            raise DatasetError(f"{d.root}: no SPair {d.split} pair with both images (incomplete: "
                               f"{len(ds.incomplete())})")
        images, no_azimuth = images_from_pairs(ds.records(), str(d.root), str(d.mask_fallback))
        if no_azimuth:
            import sys

            print(f"corrviz-train sph: {len(no_azimuth)} images left out, no azimuth bin in ImageAnnotation "
                  f"(first: {no_azimuth[0]})", file=sys.stderr)
        return images

    def categories(self, cfg: Any, images: list[SPHImage] | None = None) -> list[str]:
        if cfg.data.source == "synthetic":
            return list(cfg.data.categories)
        return sorted({im.category for im in (images or self.training_images(cfg))})

    def build_model(self, cfg: Any, device: torch.device) -> SPHModel:
        m = cfg.model
        self._images = self.training_images(cfg)
        cats = self.categories(cfg, self._images)
        backbone = create_backbone(str(m.backbone), pretrained=bool(m.pretrained), weights=str(m.weights) or None,
                                   device=device, allow_download=False)
        m.category_names = cats  # resolved from the data; recorded in the run's config and the checkpoint
        specs = sph_specs(backbone.config.embed_dim, len(cats), m)
        feature = {"layer": int(m.layer), "facet": str(m.facet), "resolution": int(m.resolution)}
        adapted = AdaptedBackbone(backbone, specs, feature=feature).to(device)
        adapted.requires_grad_(True)
        stride = backbone.feature_stride(int(m.layer))
        xy = self._data(cfg, stride).cell_xy()
        return SPHModel(adapted, cfg, xy).to(device)

    def _data(self, cfg: Any, stride: int, images: list[SPHImage] | None = None, augment: bool = True) -> SPHData:
        d = cfg.data
        imgs = images if images is not None else getattr(self, "_images", None) or self.training_images(cfg)
        return SPHData(imgs, list(cfg.model.category_names) or self.categories(cfg, imgs), int(cfg.model.resolution),
                       stride, tuple(d.crop_scale), tuple(d.crop_ratio), int(cfg.loss.triplets), augment)

    def build_data(self, cfg: Any) -> SPHData:
        stride = get_config(str(cfg.model.backbone)).patch_size
        return self._data(cfg, stride)

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, model: TrainModel, cfg: Any, progress: Progress | None = None) -> dict[str, float]:
        """Viewpoint read-out and the loss terms on held-out instances (val split, no augmentation)."""
        if cfg.data.source != "synthetic":
            return {}
        e = cfg.eval
        imgs = synthetic_images(list(cfg.data.categories), int(e.instances), int(cfg.data.render_resolution), "val",
                                str(cfg.data.background), progress)[: int(e.max_images)]
        data = self._data(cfg, get_config(str(cfg.model.backbone)).patch_size, imgs, augment=False)
        rng = np.random.default_rng(0)
        mus, bins, rec, vp = [], [], [], []
        for a in range(0, len(data), 32):
            batch = data.collate([data.sample(i, rng) for i in range(a, min(len(data), a + 32))])
            terms = model.losses(batch)
            rec.append(float(terms["rec"]))
            vp.append(float(terms["vp"]))
            _, sph = model.spheres(batch["images"].to(model.cell_xy.device))
            s = sph.flatten(2).transpose(1, 2)
            mus.append(mean_direction(s, batch["fg"].to(s.device)).cpu().numpy())
            bins.append(batch["azimuth"].numpy())
        mu, az = np.concatenate(mus), np.concatenate(bins)
        corr = circular_correlation(azimuth_angles(mu), bin_angles(az))
        return {"azimuth_corr": abs(corr), "rec": float(np.mean(rec)), "vp": float(np.mean(vp)),
                "n_images": float(len(mu))}
