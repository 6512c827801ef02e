"""MEF: multiview-equivariance finetuning (seed 000; method spec section 1) as a trainer plug-in.

Model: the frozen backbone + LoRA rank 4 (A kaiming-uniform, B zero, no alpha scaling) on q and v
of the last 4 blocks + one 3x3 conv D -> D on the patch grid (core heads ``lora`` and ``conv``).
The conv starts as the identity (centre tap = I, bias 0), so with B = 0 the model at step 0 gives
exactly the base model's features (a test checks it); the spec leaves the conv's init open.
Features: the ``norm`` tap of the last block (the method trains on norm) through core's
differentiable path (:mod:`corrviz.core.train_features`), sampled bilinearly at the points on the
patch grid (centre-aligned), L2-normalised; similarity = cosine.

Loss: 1 - SmoothAP (temperature 0.01) per query point of view A over the candidates of view B:
positives = candidates whose 3D surface point is within 5e-3 of the query's (the exact
correspondence is always one), negatives = farther than 0.1, the rest ignored
(:func:`corrviz.training.losses.smooth_ap_loss`). Data: :mod:`.mef_data`. Evaluation: APE and
PCDP@{0.05, 0.1, 0.2} on held-out procedural objects through corrviz's multiview eval runner.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from corrviz.core.backbones import create_backbone, get_config
from corrviz.core.errors import CorrvizError, DatasetError
from corrviz.core.heads import AdaptedBackbone
from corrviz.core.progress import Progress
from corrviz.core.train_features import TrainFeatures, sample_points

from ..losses import smooth_ap_loss
from ..method import Method, StepOutput, TrainModel, check_model_weights, register_method
from .mef_data import TRAIN_SEED_MIN, VAL_SEED, MEFData, cached_view_set, object_list


def view_pairs_exist(n_views: int, max_rotation_deg: float) -> bool:
    """Whether the ``n_views`` icosphere cameras have a pair within ``max_rotation_deg`` (before rendering)."""
    from corrviz.core.render import sphere_poses

    rots = sphere_poses(n_views)[:, :3, :3]
    cos = (np.einsum("aij,bij->ab", rots, rots) - 1.0) / 2.0
    np.fill_diagonal(cos, -1.0)
    return bool(np.degrees(np.arccos(np.clip(cos.max(), -1.0, 1.0))) <= max_rotation_deg)


def mef_specs(dim: int, rank: int, last_blocks: int, targets: list[str], conv: bool) -> list[dict]:
    specs = [{"type": "lora", "rank": int(rank), "last_blocks": int(last_blocks), "targets": list(targets)}]
    if conv:
        specs.append({"type": "conv", "channels": int(dim), "kernel": 3})
    return specs


@torch.no_grad()
def identity_conv_(conv: torch.nn.Conv2d) -> None:
    """Make a k x k conv D -> D the identity map (centre tap = I)."""
    conv.weight.zero_()
    k = conv.kernel_size[0] // 2
    conv.weight[:, :, k, k] = torch.eye(conv.out_channels, conv.in_channels)
    if conv.bias is not None:
        conv.bias.zero_()


class MEFModel(TrainModel):
    def __init__(self, adapted: AdaptedBackbone, cfg: Any) -> None:
        super().__init__()
        self.adapted = adapted
        m = cfg.model
        self.layer, self.facet, self.resolution = int(m.layer), str(m.facet), int(m.resolution)
        self.feature = {"layer": self.layer, "facet": self.facet, "resolution": self.resolution}
        # images arrive at the model resolution (augmentation resamples them), so the canvas is the image
        self.extract = TrainFeatures(adapted, self.resolution, "pad_center", self.layer, self.facet)
        self.temperature = float(cfg.loss.temperature)
        self.pos_radius, self.neg_radius = float(cfg.loss.pos_radius), float(cfg.loss.neg_radius)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Feature grids (B, D, h, w) of images (B, 3, R, R) at the trained tap, with gradients."""
        return self.extract.features(images)[0]

    def pair_loss(self, fa: torch.Tensor, fb: torch.Tensor, item: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        dev = fa.device
        t = self.extract.transform_for((self.resolution, self.resolution))
        # float32 even under bf16 autocast: at temperature 0.01 bf16 similarities would quantise D_ij / tau
        with torch.autocast(dev.type, enabled=False):
            q = F.normalize(sample_points(fa[None].float(), item["q_xy"].to(dev)[None], t)[0], dim=1)
            c = F.normalize(sample_points(fb[None].float(), item["c_xy"].to(dev)[None], t)[0], dim=1)
            with torch.no_grad():
                dist = torch.cdist(item["q_xyz"].to(dev), item["c_xyz"].to(dev),
                                   compute_mode="donot_use_mm_for_euclid_dist")  # exact near 5e-3
                pos, neg = dist < self.pos_radius, dist > self.neg_radius
            return smooth_ap_loss(q @ c.T, pos, neg, self.temperature), int(pos.any(1).sum())

    def forward(self, batch: list[dict[str, torch.Tensor]]) -> StepOutput:
        dev = next(self.adapted.heads.parameters()).device
        images = torch.cat([item["images"] for item in batch]).to(dev)
        feats = self.features(images)
        losses, queries = [], 0
        for k, item in enumerate(batch):
            loss, n = self.pair_loss(feats[2 * k], feats[2 * k + 1], item)
            losses.append(loss)
            queries += n
        return StepOutput(torch.stack(losses).mean(), {"queries": float(queries) / len(batch)})


@register_method
class MEF(Method):
    name = "mef"
    description = "multiview-equivariance finetuning: LoRA + 3x3 conv, SmoothAP on rendered view pairs (seed 000)"
    best_metric = "pcdp@0.05"
    best_mode = "max"

    def default_config(self) -> dict[str, Any]:
        return {
            "optim": {"lr": 1.0e-5, "weight_decay": 1.0e-4, "clip_grad": 1.0},
            "schedule": {"kind": "constant", "warmup_steps": 0},
            "train": {"steps": 10000, "batch_size": 1, "eval_every": 1000, "save_last_every": 200,
                      "best_metric": "pcdp@0.05"},
            "model": {"backbone": "dinov2_vits14", "weights": "", "pretrained": True, "resolution": 448,
                      "layer": -1, "facet": "norm", "lora_rank": 4, "lora_blocks": 4, "lora_targets": ["q", "v"],
                      "conv": True},
            "loss": {"temperature": 0.01, "pos_radius": 5.0e-3, "neg_radius": 0.1},
            "data": {"root": "", "objects": ["box", "cylinder", "cone", "capsule", "sphere", "wedge", "chair", "car"],
                     "seed_start": 1000, "seeds": 4, "n_views": 42, "render_resolution": 512,
                     "max_rotation_deg": 120.0, "points_per_view": 3000, "min_queries": 1,
                     "aug": {"affine_p": 0.5, "shift": 0.25, "scale": 0.25, "rotate_deg": 45.0, "jitter_p": 0.8,
                             "brightness": 0.2, "contrast": 0.2, "saturation": 0.2, "hue": 0.05}},
            "eval": {"objects": ["mug", "torus", "chair", "car"], "seed": VAL_SEED, "n_views": 42,
                     "resolution": 512, "n_pairs": 6, "n_points": 200, "max_rotation_deg": 60.0},
        }

    # ------------------------------------------------------------------ checks
    def validate(self, cfg: Any) -> None:
        m = cfg.model
        bb = get_config(str(m.backbone))  # unknown names raise with suggestions
        if bb.family != "vit":
            raise CorrvizError(f"config key 'model.backbone': MEF puts LoRA in ViT blocks; {bb.name} is a {bb.family}")
        if int(m.resolution) % bb.patch_size:
            raise CorrvizError(f"config key 'model.resolution': {m.resolution} is not a multiple of "
                               f"{bb.name}'s patch size {bb.patch_size}")
        if not 1 <= int(m.lora_blocks) <= bb.depth:
            raise CorrvizError(f"config key 'model.lora_blocks': {m.lora_blocks} for a backbone with {bb.depth} blocks")
        check_model_weights(m, bb, "MEF")
        object_list(cfg.data)  # data folder layout and the held-out rules
        for key, n, angle in (("data", cfg.data.n_views, cfg.data.max_rotation_deg),
                              ("eval", cfg.eval.n_views, cfg.eval.max_rotation_deg)):
            if not view_pairs_exist(int(n), float(angle)):
                raise CorrvizError(f"config keys '{key}.n_views' / '{key}.max_rotation_deg': {n} views have no pair "
                                   f"within {angle} degrees; use more views or a larger angle")
        if int(cfg.eval.seed) >= TRAIN_SEED_MIN:
            raise CorrvizError(f"config key 'eval.seed': {cfg.eval.seed} is in the training seed range "
                               f"(>= {TRAIN_SEED_MIN}); validation objects must be held out")

    # ------------------------------------------------------------------ parts
    def build_model(self, cfg: Any, device: torch.device) -> MEFModel:
        m = cfg.model
        backbone = create_backbone(str(m.backbone), pretrained=bool(m.pretrained), weights=str(m.weights) or None,
                                   device=device, allow_download=False)
        specs = mef_specs(backbone.config.embed_dim, m.lora_rank, m.lora_blocks, list(m.lora_targets), bool(m.conv))
        feature = {"layer": int(m.layer), "facet": str(m.facet), "resolution": int(m.resolution)}
        adapted = AdaptedBackbone(backbone, specs, feature=feature).to(device)
        for spec, head in zip(adapted.specs, adapted.heads, strict=True):
            if spec["type"] == "conv":
                identity_conv_(head)
        adapted.requires_grad_(True)
        return MEFModel(adapted, cfg).to(device)

    def build_data(self, cfg: Any) -> MEFData:
        return MEFData(cfg)

    # ------------------------------------------------------------------ evaluation
    def eval_sources(self, cfg: Any) -> list:
        from corrviz.core.evaluate.multiview import ViewSetSource

        e = cfg.eval
        return [ViewSetSource(f"{name}-s{e.seed}", lambda n=name: cached_view_set(n, int(e.seed), int(e.n_views),
                                                                                     int(e.resolution)))
                for name in e.objects]

    def evaluate(self, model: TrainModel, cfg: Any, progress: Progress | None = None) -> dict[str, float]:
        """APE and PCDP (fractions) on the held-out validation objects, nearest-neighbour matching."""
        from corrviz.core.evaluate.cache import FeatureStore
        from corrviz.core.evaluate.multiview import MultiviewSettings, multiview_rows, run_multiview
        from corrviz.core.evaluate.spec import MatcherSpec
        from corrviz.core.features import FeatureExtractor, FeatureOptions

        e, m = cfg.eval, cfg.model
        dev = next(model.adapted.heads.parameters()).device
        opts = FeatureOptions(resolution=int(m.resolution), layer=int(m.layer), facet=str(m.facet), device=str(dev))
        extractor = FeatureExtractor(model.adapted, opts, cache=None)
        store = FeatureStore(extractor, use_disk=False, memory_entries=4 * int(e.n_pairs))
        s = MultiviewSettings(n_views=int(e.n_views), resolution=int(e.resolution), n_pairs=int(e.n_pairs),
                              n_points=int(e.n_points), max_rotation_deg=float(e.max_rotation_deg), seed=0)
        run = run_multiview(self.eval_sources(cfg), store, MatcherSpec("nn"), s, progress)
        if not sum(int(err.size) for err in run.errors):
            why = "; ".join(f"{k.item_id}: {k.reason}" for k in run.skipped) or "no visible points"
            raise DatasetError(f"MEF evaluation scored no point on {', '.join(cfg.eval.objects)} ({why}); "
                               "raise eval.n_views or eval.max_rotation_deg")
        out: dict[str, float] = {}
        for r in multiview_rows(run, s):
            if r["category"] != "all" or r.get("viewpoint", "all") != "all":
                continue
            out["ape" if r["metric"] == "ape" else f"pcdp@{r['alpha']:g}"] = float(r["value"])
        return out
