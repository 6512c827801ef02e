"""3DPoV: teacher-student patch ordering on video point tracks (seed 001; method spec section 2).

Student = the backbone with its last ``trainable_blocks`` blocks trainable (core head ``blocks``) +
projection head MLP D -> 1024 -> 1024 -> 512 -> 256 with GELU, L2-normalised (core head ``mlp``).
Teacher = an EMA copy of both (momentum ``train.ema`` = 0.99), updated in place by the trainer's EMA
(:meth:`ema_target`). Per clip of ``n_frames`` frames with point tracks (:mod:`.pov_data`):

* track features by bilinear sampling on the latent patch grid (of the head's output grid) at the
  tracked positions; frame 0 through the TEACHER (anchor), frames t > 0 through the STUDENT;
* a reference bank of ``n_ref_other`` frames of other clips of the batch + 1 non-anchor frame of the
  same clip, all through the STUDENT, each cut to a random ``crop x crop`` window of the feature grid;
* for every point, frame t > 0 and reference, the similarities to the reference's patches are sorted
  by a differentiable sorting network (:mod:`corrviz.training.sorting`, Cauchy relaxation; student
  steepness 20 on the student's similarities, teacher steepness 3 on the teacher anchor's);
* loss = CE(student, teacher) = -sum P_s log(P_t + 1e-6) over the matrix entries, weighted by the
  joint visibility at frame 0 and t, averaged over points, frames and references.

The checkpoint stores the student's blocks and head; ``model.match_on`` says which output matching
uses: ``head`` (the 256-d head output) or ``backbone`` (the head is stored with ``"apply": false``).
"""

from __future__ import annotations

import copy
import time
from typing import Any

import torch

from corrviz.core.backbones import create_backbone, get_config
from corrviz.core.errors import CorrvizError
from corrviz.core.heads import AdaptedBackbone
from corrviz.core.progress import Progress
from corrviz.core.train_features import TrainFeatures, sample_points

from ..method import Method, StepOutput, TrainModel, check_model_weights, register_method
from ..sorting import NETWORKS, ranking_cross_entropy, soft_permutation
from .mef_data import VAL_SEED
from .pov_data import PovData, check_track_config


def pov_specs(dim: int, blocks: int, head: list[int], out: int, match_on: str) -> list[dict]:
    return [{"type": "blocks", "last_blocks": int(blocks)},
            {"type": "mlp", "channels": int(dim), "hidden": [int(h) for h in head], "out_channels": int(out),
             "normalize": True, "apply": match_on == "head"}]


def clip_loss(q: torch.Tensor, anchor: torch.Tensor, refs: torch.Tensor, weight: torch.Tensor,
              beta_student: float, beta_teacher: float, network: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of weighted CE and sum of weights of one clip.

    q (T', N, C) student point features at frames t > 0, anchor (N, C) teacher features at frame 0,
    refs (R, M, C) reference patch features, weight (T', N) joint visibility. The CE of each (t, n, r)
    is averaged over the R references.
    """
    s_student = torch.einsum("tnc,rmc->tnrm", q, refs)
    with torch.no_grad():
        p_teacher = soft_permutation(torch.einsum("nc,rmc->nrm", anchor, refs), beta_teacher, network)
    p_student = soft_permutation(s_student, beta_student, network)
    ce = ranking_cross_entropy(p_student, p_teacher[None]).mean(dim=2)  # (T', N)
    return (ce * weight).sum(), weight.sum()


class PovModel(TrainModel):
    def __init__(self, adapted: AdaptedBackbone, teacher: AdaptedBackbone, cfg: Any) -> None:
        super().__init__()
        self.adapted, self.teacher = adapted, teacher
        m, loss = cfg.model, cfg.loss
        self.layer, self.facet, self.resolution = int(m.layer), str(m.facet), int(m.resolution)
        self.feature = {"layer": self.layer, "facet": self.facet, "resolution": self.resolution}
        self.beta_s, self.beta_t = float(loss.student_steepness), float(loss.teacher_steepness)
        self.network, self.crop = str(loss.network), int(cfg.data.crop)
        self.n_other, self.n_query = int(cfg.data.n_ref_other), int(cfg.data.points_per_clip)
        self.sort_seconds = 0.0  # time spent in the sorting networks + loss (bench_train reads it)

    def ema_target(self) -> dict[str, torch.Tensor]:
        teacher = dict(self.teacher.heads.named_parameters())
        return {n: teacher[n[len("adapted.heads."):]] for n, _ in self.trainable_parameters()}

    def param_groups(self) -> list[dict[str, Any]]:
        blocks = [p for p in self.adapted.heads[0].parameters() if p.requires_grad]
        head = [p for p in self.adapted.heads[1].parameters() if p.requires_grad]
        return [{"params": head, "lr_scale": 1.0}, {"params": blocks, "lr_scale": self.backbone_lr_scale}]

    backbone_lr_scale = 0.1

    def grids(self, model: AdaptedBackbone, images: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Head output grids (B, 256, h, w) of ``model`` (student or teacher) and the canvas transform."""
        extract = TrainFeatures(model.base_view(), self.resolution, "pad_center", self.layer, self.facet)
        grid, t = extract.features(images)
        return model.heads[1](grid), t

    def forward(self, batch: list[dict[str, Any]]) -> StepOutput:
        dev = next(self.adapted.heads.parameters()).device
        n_clips, n_frames = len(batch), int(batch[0]["frames"].shape[0])
        frames = torch.cat([item["frames"] for item in batch]).to(dev)
        student, t = self.grids(self.adapted, frames)
        student = student.view(n_clips, n_frames, *student.shape[1:])
        with torch.no_grad():
            teacher, _ = self.grids(self.teacher, torch.stack([item["frames"][0] for item in batch]).to(dev))
        gh, gw = student.shape[-2:]
        total, weights = student.new_zeros(()), student.new_zeros(())
        sort_t = time.perf_counter()
        for b, item in enumerate(batch):
            rng = item["rng"]
            pos = item["positions"].to(dev)            # (N, T, 2), NaN-free (0 where invisible)
            vis = item["visibility"].to(dev).float()   # (N, T)
            q = sample_points(student[b, 1:], pos[:, 1:].transpose(0, 1).contiguous(), t)  # (T-1, N, C)
            anchor = sample_points(teacher[b:b + 1], pos[None, :, 0], t)[0]
            others = [c for c in range(n_clips) if c != b]
            picks = [(int(rng.choice(others)), int(rng.integers(n_frames))) for _ in range(self.n_other)]
            picks.append((b, int(rng.integers(1, n_frames))))
            refs = []
            for c, f in picks:
                y, x = int(rng.integers(gh - self.crop + 1)), int(rng.integers(gw - self.crop + 1))
                refs.append(student[c, f, :, y:y + self.crop, x:x + self.crop].flatten(1).T)
            weight = vis[:, :1].T * vis[:, 1:].T      # (T-1, N) joint visibility
            ce, w = clip_loss(q, anchor, torch.stack(refs), weight, self.beta_s, self.beta_t, self.network)
            total, weights = total + ce, weights + w
        self.sort_seconds = time.perf_counter() - sort_t
        loss = total / weights.clamp_min(1.0)
        return StepOutput(loss, {"points": float(weights) / n_clips})


@register_method
class Pov(Method):
    name = "3dpov"
    config_prefix = "pov"  # configs/pov_paper.yaml, configs/pov_vit_tiny_cpu.yaml
    description = "3DPoV: EMA teacher-student patch ordering with differentiable sorting on point tracks (seed 001)"
    best_metric = "pcdp@0.05"
    best_mode = "max"

    def default_config(self) -> dict[str, Any]:
        return {
            "optim": {"lr": 1.0e-6, "weight_decay": 1.0e-5, "clip_grad": 1.0, "backbone_lr_scale": 0.1},
            "schedule": {"kind": "cosine", "warmup_steps": 0},
            "train": {"steps": 10000, "batch_size": 8, "ema": 0.99, "eval_every": 1000, "best_metric": "pcdp@0.05"},
            "model": {"backbone": "dinov2_vitb14_reg4", "weights": "", "pretrained": True, "resolution": 224,
                      "layer": -1, "facet": "norm", "trainable_blocks": 2, "head": [1024, 1024, 512],
                      "out_dim": 256, "match_on": "head"},
            "loss": {"student_steepness": 20.0, "teacher_steepness": 3.0, "network": "odd_even"},
            "data": {"source": "rendered", "objects": ["box", "cylinder", "cone", "capsule", "sphere", "wedge",
                                                      "chair", "car"],
                     "seed_start": 1000, "seeds": 4, "clips_per_object": 8, "video": "", "tracker": "lk",
                     "fb_threshold": 1.0, "n_frames": 4, "frame_step": 4, "grid": 16, "render_resolution": 224,
                     "points_per_clip": 256, "n_ref_other": 4, "crop": 8},
            "eval": {"objects": ["mug", "torus", "chair", "car"], "seed": VAL_SEED, "n_views": 42,
                     "resolution": 224, "n_pairs": 6, "n_points": 200, "max_rotation_deg": 120.0},
        }

    def validate(self, cfg: Any) -> None:
        m = cfg.model
        bb = get_config(str(m.backbone))
        if bb.family != "vit":
            raise CorrvizError(f"config key 'model.backbone': 3DPoV trains ViT blocks; {bb.name} is a {bb.family}")
        if int(m.resolution) % bb.patch_size:
            raise CorrvizError(f"config key 'model.resolution': {m.resolution} is not a multiple of "
                               f"{bb.name}'s patch size {bb.patch_size}")
        if not 1 <= int(m.trainable_blocks) <= bb.depth:
            raise CorrvizError(f"config key 'model.trainable_blocks': {m.trainable_blocks} for {bb.depth} blocks")
        if str(m.match_on) not in ("head", "backbone"):
            raise CorrvizError(f"config key 'model.match_on': {m.match_on!r}; choose head or backbone")
        if str(cfg.loss.network) not in NETWORKS:
            raise CorrvizError(f"config key 'loss.network': {cfg.loss.network!r}; choose one of {', '.join(NETWORKS)}")
        if not 0.0 < float(cfg.train.ema) < 1.0:
            raise CorrvizError(f"config key 'train.ema': 3DPoV's teacher is an EMA of the student; give a momentum "
                               f"in (0, 1) (the paper's 0.99), got {cfg.train.ema}")
        if int(cfg.train.batch_size) < 2 and int(cfg.data.n_ref_other) > 0:
            raise CorrvizError("config key 'train.batch_size': the reference bank takes frames of OTHER clips in "
                               "the batch; use at least 2 clips per batch")
        grid = int(m.resolution) // bb.patch_size
        if not 1 <= int(cfg.data.crop) <= grid:
            raise CorrvizError(f"config key 'data.crop': {cfg.data.crop} for a {grid} x {grid} feature grid")
        check_model_weights(m, bb, "3DPoV")
        check_track_config(cfg)

    def build_model(self, cfg: Any, device: torch.device) -> PovModel:
        m = cfg.model
        backbone = create_backbone(str(m.backbone), pretrained=bool(m.pretrained), weights=str(m.weights) or None,
                                   device=device, allow_download=False)
        specs = pov_specs(backbone.config.embed_dim, m.trainable_blocks, list(m.head), m.out_dim, str(m.match_on))
        feature = {"layer": int(m.layer), "facet": str(m.facet), "resolution": int(m.resolution)}
        adapted = AdaptedBackbone(backbone, specs, feature=feature).to(device)
        adapted.requires_grad_(True)
        teacher = AdaptedBackbone(backbone, specs, feature=feature).to(device)
        teacher.heads = copy.deepcopy(adapted.heads)
        teacher.requires_grad_(False)
        teacher.eval()
        model = PovModel(adapted, teacher, cfg).to(device)
        model.backbone_lr_scale = float(cfg.optim.backbone_lr_scale)
        return model

    def build_data(self, cfg: Any) -> PovData:
        return PovData(cfg)

    def evaluate(self, model: TrainModel, cfg: Any, progress: Progress | None = None) -> dict[str, float]:
        """Multiview APE / PCDP on held-out procedural objects (MEF's validation hook, same settings keys)."""
        from .mef import MEF

        return MEF().evaluate(model, cfg, progress)


