"""VGGT-SC: dense grid matcher with confidence (seed 003; method spec section 4) as a trainer plug-in.

Model: :class:`corrviz.core.grid_matcher.GridMatcherHead` on a registry ViT (frozen shared early
blocks, a trainable alternating frame/global branch initialised from the later blocks, a DPT head
on four taps), saved as a ``grid_matcher`` checkpoint that corrviz-match / corrviz-eval load.

Loss = sum of weighted terms (:mod:`.vggt_sc_losses`), each stage a config that switches terms on
(``training/configs/vggt_sc_*_stage{1..4}.yaml``; each stage starts from the previous stage's best
checkpoint through the trainer's ``init.checkpoint``):

1. ``w_dense`` [1e4] dense L2 against the renders' exact dense correspondence (valid pixels);
2. + ``w_sparse`` [0.01] sparse keypoint L2 (pixels);
3. + ``w_smooth`` smoothness, ``w_match`` matching loss through the frozen backbone's features of
   the warped image (tap ``loss.match_layer`` / ``loss.match_facet``), ``w_recon`` round-trip
   reconstruction; both weighted by confidence x mask, the confidence DETACHED there (otherwise
   the cheapest way to lower them is confidence 0; the uncertainty term is what trains it);
4. + ``w_uncert`` uncertainty loss (L1 to 1 - min-max-normalised reconstruction error, minus
   ``lambda_conf`` [0.1] x mean confidence). ``loss.uncert_target`` picks the error the confidence
   follows: ``recon`` (the spec: the colour round-trip error, over the object mask), ``cycle`` (the
   geometric round trip ||G_ts(G_st(p)) - p||, over the mask) or ``dense`` (the end-point error
   against the renders' exact dense correspondence, over its valid pixels; a corrviz variant for
   synthetic data, where that ground truth exists -- not the paper's self-supervised loss).

Both directions (s->t and t->s) are supervised in every term. Evaluation
(:mod:`corrviz.core.evaluate.dense_grid`) on held-out objects: EPE (fraction of the side),
PCDP@{0.05, 0.1, 0.2}, confidence AUC, synthetic dense colour error, and NN matching of the
frozen backbone's features on the same points.
"""

from __future__ import annotations

from typing import Any

import torch

from corrviz.core.backbones import create_backbone, get_config
from corrviz.core.errors import CorrvizError, DatasetError
from corrviz.core.grid_matcher import GridMatcherHead, grid_matcher_spec, warp_by_grid
from corrviz.core.heads import AdaptedBackbone
from corrviz.core.progress import Progress

from ..method import Method, StepOutput, TrainModel, check_model_weights, register_method
from . import vggt_sc_losses as L
from .mef_data import TRAIN_SEED_MIN, VAL_SEED, cached_view_set, object_list
from .vggt_sc_data import VGGTSCData

LOSS_TERMS = ("dense", "sparse", "smooth", "match", "recon", "uncert")
UNCERT_TARGETS = ("recon", "cycle", "dense")


class VGGTSCModel(TrainModel):
    def __init__(self, adapted: AdaptedBackbone, cfg: Any) -> None:
        super().__init__()
        self.adapted = adapted
        self.head: GridMatcherHead = adapted.heads[0]
        self.resolution = int(cfg.model.resolution)
        self.feature = {"resolution": self.resolution}
        lo = cfg.loss
        self.weights = {t: float(lo[f"w_{t}"]) for t in LOSS_TERMS}
        self.lambda_conf = float(lo.lambda_conf)
        self.uncert_target = str(lo.uncert_target)
        self.match_tap = (int(lo.match_layer), str(lo.match_facet) or None)

    def predict(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(2B, 3, R, R) [s..., t...] -> grids (2B, R, R, 2) into the other image, confidence (2B, R, R)."""
        return self.head(self.adapted.base_view(), images)

    def frozen_features(self, images: torch.Tensor) -> torch.Tensor:
        return self.adapted.inner.forward_features(images, *self.match_tap)

    def forward(self, batch: dict[str, torch.Tensor]) -> StepOutput:
        dev = self.head.frame_embed.device
        b = {k: v.to(dev) for k, v in batch.items()}
        images, masks = b["images"], b["masks"]
        n = images.shape[0] // 2
        grid, conf = self.predict(images)
        # the other image of every row: s rows pair with t rows and vice versa
        other = torch.cat([images[n:], images[:n]])
        other_grid = torch.cat([grid[n:], grid[:n]])
        other_conf, other_mask = torch.cat([conf[n:], conf[:n]]), torch.cat([masks[n:], masks[:n]])
        terms: dict[str, torch.Tensor] = {}
        w = self.weights
        if w["dense"]:
            terms["dense"] = L.dense_l2(grid, b["gt"], b["valid"])
        if w["sparse"]:
            terms["sparse"] = L.sparse_l2(grid, b["kp_src"], b["kp_dst"], b["kp_valid"])
        if w["smooth"]:
            terms["smooth"] = L.smoothness(grid, masks)
        if w["match"]:
            # row k: E(I_other) vs E(I_k warped into the other's frame by the other's grid)
            warped = warp_by_grid(images, other_grid)
            with torch.no_grad():
                target = self.frozen_features(other)
            stride = images.shape[-1] // target.shape[-1]
            weight = L.cell_weights(other_conf.detach() * other_mask, stride)
            terms["match"] = L.matching_loss(target, self.frozen_features(warped), weight)
        error = None
        if w["recon"] or (w["uncert"] and self.uncert_target == "recon"):
            error = L.reconstruction_error(images, grid, other_grid)
        if w["recon"]:
            terms["recon"] = L.reconstruction_loss(error, conf.detach() * masks)
        if w["uncert"]:
            follow, where = error, masks  # the spec: the colour round trip over the object mask
            if self.uncert_target == "cycle":
                follow = L.cycle_error(grid, other_grid)
            elif self.uncert_target == "dense":
                follow, where = (grid - b["gt"]).norm(dim=-1), b["valid"]
            terms["uncert"] = L.uncertainty_loss(conf, follow, where, self.lambda_conf)
        loss = sum(w[k] * v for k, v in terms.items())
        logs = {k: float(v.detach()) for k, v in terms.items()}
        with torch.no_grad():
            px = (grid - b["gt"]).norm(dim=-1) * (self.resolution / 2.0)
            logs["epe_px"] = float(L._masked_mean(px, b["valid"]))
        return StepOutput(loss, logs)


@register_method
class VGGTSC(Method):
    name = "vggt_sc"
    description = "dense grid matcher with confidence: alternating frame/global attention branch + DPT head (seed 003)"
    best_metric = "epe"
    best_mode = "min"

    def default_config(self) -> dict[str, Any]:
        return {
            "optim": {"lr": 1.0e-4, "weight_decay": 0.0, "clip_grad": 1.0},
            "schedule": {"kind": "constant", "warmup_steps": 0},
            "train": {"steps": 10000, "batch_size": 1, "eval_every": 1000, "best_metric": "epe", "best_mode": "min"},
            "model": {"backbone": "dinov2_vits14", "weights": "", "pretrained": True, "resolution": 224,
                      "frozen": -1, "taps": [], "features": 256},
            "loss": {"w_dense": 1.0e4, "w_sparse": 0.0, "w_smooth": 0.0, "w_match": 0.0, "w_recon": 0.0,
                     "w_uncert": 0.0, "lambda_conf": 0.1, "uncert_target": "recon", "match_layer": -1,
                     "match_facet": ""},
            "data": {"root": "", "objects": ["box", "cylinder", "cone", "capsule", "sphere", "wedge", "chair", "car"],
                     "seed_start": 1000, "seeds": 3, "n_views": 42, "render_resolution": 224,
                     "max_rotation_deg": 45.0, "keypoints": 32,
                     "aug": {"jitter_p": 0.5, "brightness": 0.2, "contrast": 0.2, "saturation": 0.2, "hue": 0.02}},
            "eval": {"objects": ["mug", "torus", "chair", "car"], "seed": VAL_SEED, "n_views": 42,
                     "n_pairs": 3, "n_points": 500, "max_rotation_deg": 45.0, "baseline": True},
        }

    def validate(self, cfg: Any) -> None:
        m = cfg.model
        bb = get_config(str(m.backbone))
        if bb.family != "vit":
            raise CorrvizError(f"config key 'model.backbone': the grid matcher duplicates ViT blocks; {bb.name} is a "
                               f"{bb.family}")
        if int(m.resolution) % bb.patch_size:
            raise CorrvizError(f"config key 'model.resolution': {m.resolution} is not a multiple of {bb.name}'s "
                               f"patch size {bb.patch_size}")
        taps = list(m.taps)
        if taps and (len(taps) != 4 or sorted(taps) != taps or not all(0 <= t < bb.depth for t in taps)):
            raise CorrvizError(f"config key 'model.taps': {taps}; four increasing block indices below {bb.depth}")
        if int(m.frozen) > (taps[-1] if taps else bb.depth - 1):
            raise CorrvizError(f"config key 'model.frozen': {m.frozen} frozen blocks leave no trainable block")
        check_model_weights(m, bb, "VGGT-SC")
        if int(cfg.data.render_resolution) != int(m.resolution):
            raise CorrvizError("config keys 'data.render_resolution' and 'model.resolution' must be equal "
                               f"(got {cfg.data.render_resolution} and {m.resolution})")
        bad = [t for t in LOSS_TERMS if float(cfg.loss[f"w_{t}"]) < 0]
        if bad or not any(float(cfg.loss[f"w_{t}"]) for t in LOSS_TERMS):
            raise CorrvizError("config keys 'loss.w_*': weights must be >= 0 and at least one positive")
        if str(cfg.loss.uncert_target) not in UNCERT_TARGETS:
            raise CorrvizError(f"config key 'loss.uncert_target': {cfg.loss.uncert_target!r}; one of "
                               f"{', '.join(UNCERT_TARGETS)}")
        object_list(cfg.data)
        if int(cfg.eval.seed) >= TRAIN_SEED_MIN:
            raise CorrvizError(f"config key 'eval.seed': {cfg.eval.seed} is in the training seed range "
                               f"(>= {TRAIN_SEED_MIN}); validation objects must be held out")

    def build_model(self, cfg: Any, device: torch.device) -> VGGTSCModel:
        m = cfg.model
        backbone = create_backbone(str(m.backbone), pretrained=bool(m.pretrained), weights=str(m.weights) or None,
                                   device=device, allow_download=False)
        spec = grid_matcher_spec(backbone, None if int(m.frozen) < 0 else int(m.frozen), list(m.taps) or None,
                                 int(m.features))
        adapted = AdaptedBackbone(backbone, [spec], feature={"resolution": int(m.resolution)}).to(device)
        adapted.requires_grad_(True)
        return VGGTSCModel(adapted, cfg).to(device)

    def build_data(self, cfg: Any) -> VGGTSCData:
        return VGGTSCData(cfg)

    def evaluate(self, model: TrainModel, cfg: Any, progress: Progress | None = None) -> dict[str, float]:
        from corrviz.core.evaluate.dense_grid import DenseGridSettings, nn_baseline, run_dense_grid

        e = cfg.eval
        res = int(cfg.model.resolution)
        view_sets = [cached_view_set(str(o), int(e.seed), int(e.n_views), res) for o in e.objects]
        s = DenseGridSettings(n_pairs=int(e.n_pairs), n_points=int(e.n_points),
                              max_rotation_deg=float(e.max_rotation_deg))
        baseline = nn_baseline(model.adapted.inner, res, *model.match_tap) if bool(e.baseline) else None
        run = run_dense_grid(view_sets, model.adapted, s, baseline, progress, res)
        if not run.pairs:
            raise DatasetError(f"VGGT-SC evaluation scored no pair on {', '.join(e.objects)}; raise "
                               "eval.max_rotation_deg or eval.n_views")
        return run.metrics(s)
