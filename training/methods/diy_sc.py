"""DIY-SC: an adapter trained on 3D-aware pseudo-labels (seed 004; method spec section 5) as a trainer plug-in.

Labels come from ``corrviz-train diy_sc labels`` (:mod:`.diy_sc_labels`: chaining through azimuth-
adjacent images, relaxed cycle consistency, spherical rejection); no ground truth is read in
training or in model selection. The backbone is frozen; its feature sources (taps, each
L2-normalised, concatenated: :func:`corrviz.core.diy_adapter.source_features`) are computed once per
image without gradients and kept in memory. The adapter (core module ``diy_adapter``) is trained with

    loss = w_sparse * CLIP-style contrastive loss (learnable logit scale, init log(1/0.07))
         + w_dense  * window soft-argmax loss vs pseudo-label + Gaussian noise (std 0.1 * bbox / 2)

(:mod:`.diy_sc_losses`), feature-map dropout 0.2, AdamW lr 5e-3 / weight decay 1e-3, one-cycle,
batch 1 (one pair, at most 50 labels). The best checkpoint is the one with the lowest loss on the
HELD-OUT pseudo-labels (``eval.labels``: a label store of other instances, noise and dropout off).
Inference: window soft-argmax (radius 7, beta 0.02) on the adapter features, wherever a checkpoint
is accepted (``--checkpoint CKPT --matcher soft-argmax``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from corrviz.core.backbones import create_backbone, get_config
from corrviz.core.diy_adapter import DIYAdapter, adapter_spec
from corrviz.core.errors import CorrvizError, DatasetError
from corrviz.core.heads import AdaptedBackbone
from corrviz.core.progress import Progress
from corrviz.core.train_features import TrainFeatures, sample_points

from ..method import Method, StepOutput, TrainData, TrainModel, check_model_weights, register_method
from .diy_sc_labels import LabelStore, load_labels
from .diy_sc_losses import clip_loss, soft_argmax_loss, soft_argmax_points


def _sources(m: Any) -> list[tuple[int, str]]:
    out = []
    for s in m.sources:
        if isinstance(s, str):
            layer, _, facet = s.partition(":")
            out.append((int(layer), facet or "prenorm"))
        else:
            out.append((int(s[0]), str(s[1])))
    return out


def _read_rgb(path: Path) -> torch.Tensor:
    try:
        with Image.open(path) as f:
            return torch.from_numpy(np.asarray(f.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the image ({exc})") from None


class DIYData(TrainData):
    """One item = one labelled pair of a label store (both images, points, the label noise drawn)."""

    def __init__(self, store: LabelStore, noise: bool = True, noise_frac: float = 0.05) -> None:
        self.store = store
        self.noise = bool(noise)
        self.noise_frac = float(noise_frac)  # std = 0.1 * bbox / 2 = 0.05 * bbox side

    def __len__(self) -> int:
        return len(self.store.pairs)

    def sample(self, index: int, rng: np.random.Generator) -> dict[str, Any]:
        pr = self.store.pairs[index]
        src, trg = self.store.images[pr.src], self.store.images[pr.trg]
        side = max(trg.bbox[2] - trg.bbox[0], trg.bbox[3] - trg.bbox[1])
        std = self.noise_frac * side if self.noise else 0.0
        noise = rng.normal(0.0, 1.0, size=pr.trg_xy.shape) * std if std > 0 else np.zeros_like(pr.trg_xy)
        return {"src": str(src.image), "trg": str(trg.image), "src_xy": torch.from_numpy(pr.src_xy).float(),
                "trg_xy": torch.from_numpy(pr.trg_xy).float(), "noise": torch.from_numpy(noise).float()}


class DIYModel(TrainModel):
    def __init__(self, adapted: AdaptedBackbone, cfg: Any) -> None:
        super().__init__()
        self.adapted = adapted
        self.adapter: DIYAdapter = adapted.heads[0]
        m, lo = cfg.model, cfg.loss
        self.sources = _sources(m)
        self.resolution = int(m.resolution)
        self.feature = dict(adapted.feature)
        self.extract = TrainFeatures(adapted.inner, self.resolution, "pad_center", *self.sources[-1])
        self.w_sparse, self.w_dense = float(lo.w_sparse), float(lo.w_dense)
        self.radius, self.beta = int(lo.radius), float(lo.beta)
        self._cache: dict[str, tuple[torch.Tensor, Any]] = {}

    def source_grid(self, path: str) -> tuple[torch.Tensor, Any]:
        """The frozen sources of one image (1, C_in, h, w) and its canvas transform, computed once."""
        if path not in self._cache:
            from corrviz.core.diy_adapter import source_features

            with torch.no_grad():
                canvas, t = self.extract.canvases(_read_rgb(Path(path))[None])
                self._cache[path] = (source_features(self.adapted.inner, canvas, self.sources), t)
        return self._cache[path]

    @staticmethod
    def grid_to_image(uv: torch.Tensor, t: Any) -> torch.Tensor:
        """Torch twin of ``CanvasTransform.grid_to_image`` (cell centres at integers)."""
        cx = (uv[:, 0] + t._anchor) * t.stride
        cy = (uv[:, 1] + t._anchor) * t.stride
        return torch.stack([(cx - t.ox) / t.sx, (cy - t.oy) / t.sy], dim=1)

    def pair_terms(self, item: dict[str, Any]) -> dict[str, torch.Tensor]:
        xs, ts = self.source_grid(item["src"])
        xt, tt = self.source_grid(item["trg"])
        fs, ft = self.adapter(xs), self.adapter(xt)
        dev = fs.device
        src_xy, trg_xy = item["src_xy"].to(dev), item["trg_xy"].to(dev)
        ps = sample_points(fs, src_xy[None], ts)[0]
        pt = sample_points(ft, trg_xy[None], tt)[0]
        terms = {}
        if self.w_sparse:
            terms["sparse"] = clip_loss(ps, pt, self.adapter.logit_scale)
        if self.w_dense:
            uv = soft_argmax_points(ps, ft[0], self.radius, self.beta)
            pred = self.grid_to_image(uv, tt)
            scale = max(tt.image_w, tt.image_h)
            terms["dense"] = soft_argmax_loss(pred, trg_xy, scale, item["noise"].to(dev))
        return terms

    def forward(self, batch: list[dict[str, Any]]) -> StepOutput:
        sums: dict[str, torch.Tensor] = {}
        for item in batch:
            for k, v in self.pair_terms(item).items():
                sums[k] = sums.get(k, 0.0) + v / len(batch)
        loss = self.w_sparse * sums.get("sparse", 0.0) + self.w_dense * sums.get("dense", 0.0)
        logs = {f"L_{k}": float(v.detach()) for k, v in sums.items()}
        logs["logit_scale"] = float(self.adapter.logit_scale.detach().exp())
        return StepOutput(loss, logs)


@register_method
class DIYSC(Method):
    name = "diy_sc"
    description = "adapter on 3D-aware pseudo-labels: chaining + cycle + sphere filters, CLIP + soft-argmax (seed 004)"
    best_metric = "val_loss"
    best_mode = "min"

    def default_config(self) -> dict[str, Any]:
        return {
            "optim": {"lr": 5.0e-3, "weight_decay": 1.0e-3, "clip_grad": 0.0},
            "schedule": {"kind": "onecycle", "warmup_steps": 0},
            "train": {"steps": 200000, "batch_size": 1, "eval_every": 5000, "best_metric": "val_loss",
                      "best_mode": "min"},
            "model": {"backbone": "dinov2_vitb14", "weights": "", "pretrained": True, "resolution": 840,
                      "sources": ["-1:prenorm"], "channels": 768, "dropout": 0.2},
            "loss": {"w_sparse": 1.0, "w_dense": 1.0, "noise_frac": 0.05, "radius": 7, "beta": 0.02},
            "data": {"labels": ""},
            "eval": {"labels": "", "max_pairs": 300},
        }

    def subcommands(self) -> dict[str, Any]:
        from .diy_sc_cli import SUBCOMMANDS

        return dict(SUBCOMMANDS)

    def validate(self, cfg: Any) -> None:
        m = cfg.model
        bb = get_config(str(m.backbone))
        if bb.family != "vit":
            raise CorrvizError(f"config key 'model.backbone': the DIY-SC sources are ViT taps; {bb.name} is a {bb.family}")
        if int(m.resolution) % bb.patch_size:
            raise CorrvizError(f"config key 'model.resolution': {m.resolution} is not a multiple of {bb.name}'s "
                               f"patch size {bb.patch_size}")
        try:
            srcs = _sources(m)
        except ValueError:
            raise CorrvizError(f"config key 'model.sources': {list(m.sources)}; give 'LAYER:FACET' strings") from None
        if not srcs:
            raise CorrvizError("config key 'model.sources': at least one feature source")
        if int(m.channels) < 4:
            raise CorrvizError(f"config key 'model.channels': {m.channels} is too small")
        for key in ("data.labels", "eval.labels"):
            v = str(cfg.data.labels if key == "data.labels" else cfg.eval.labels)
            if not v:
                raise DatasetError(f"config key '{key}': give a label store (corrviz-train diy_sc labels --out FILE)")
            if not Path(v).is_file():
                raise DatasetError(f"config key '{key}': {v} does not exist (corrviz-train diy_sc labels --out FILE)")
        if Path(str(cfg.data.labels)).resolve() == Path(str(cfg.eval.labels)).resolve():
            raise DatasetError("config keys 'data.labels' and 'eval.labels' are the same file; validation labels "
                               "must come from held-out images (labels --split val)")
        check_model_weights(m, bb, "DIY-SC")
        train_imgs = {im.instance for im in load_labels(str(cfg.data.labels)).images}
        val_imgs = {im.instance for im in load_labels(str(cfg.eval.labels)).images}
        shared = sorted(train_imgs & val_imgs)
        if shared:
            raise DatasetError(f"config key 'eval.labels': {len(shared)} instances are also in the training labels "
                               f"(first {shared[0]}); validation labels must come from held-out instances")

    def build_model(self, cfg: Any, device: torch.device) -> DIYModel:
        m = cfg.model
        backbone = create_backbone(str(m.backbone), pretrained=bool(m.pretrained), weights=str(m.weights) or None,
                                   device=device, allow_download=False)
        srcs = _sources(m)
        layer, facet = backbone.resolve_tap(*srcs[-1])
        spec = adapter_spec(srcs, int(m.channels), float(m.dropout))
        adapted = AdaptedBackbone(backbone, [spec], feature={"layer": layer, "facet": facet,
                                                             "resolution": int(m.resolution)}).to(device)
        adapted.requires_grad_(True)
        return DIYModel(adapted, cfg).to(device)

    def build_data(self, cfg: Any) -> DIYData:
        return DIYData(load_labels(str(cfg.data.labels)), True, float(cfg.loss.noise_frac))

    def evaluate(self, model: TrainModel, cfg: Any, progress: Progress | None = None) -> dict[str, float]:
        """Loss on the held-out pseudo-labels (no noise, no dropout): the model-selection metric."""
        data = DIYData(load_labels(str(cfg.eval.labels)), noise=False)
        n = min(len(data), int(cfg.eval.max_pairs))
        idx = np.linspace(0, len(data) - 1, n).round().astype(int) if n < len(data) else np.arange(len(data))
        rng = np.random.default_rng(0)
        was = model.training
        model.eval()
        sums: dict[str, float] = {}
        if progress is not None:
            progress.start(len(idx), "validation on held-out pseudo-labels")
        with torch.no_grad():
            for i in idx:
                for k, v in model.pair_terms(data.sample(int(i), rng)).items():
                    sums[k] = sums.get(k, 0.0) + float(v) / len(idx)
                if progress is not None:
                    progress.step()
        model.train(was)
        out = {f"val_{k}": v for k, v in sums.items()}
        out["val_loss"] = model.w_sparse * sums.get("sparse", 0.0) + model.w_dense * sums.get("dense", 0.0)
        out["val_pairs"] = float(len(idx))
        return out
