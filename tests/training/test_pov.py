"""3DPoV plug-in: EMA teacher (closed form), lr groups, loss weighting, checkpoint path, held-out rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from corrviz.core.backbones import create_backbone
from corrviz.core.checkpoint import apply_checkpoint, save_checkpoint
from corrviz.core.errors import CorrvizError, DatasetError
from corrviz.training.methods.pov import Pov, clip_loss
from corrviz.training.optim import EMA, build_optimizer, set_lr
from corrviz.training.trainer import prepare, train

TINY = """
method: 3dpov
run: {{out_dir: {out}, seed: 0}}
optim: {{lr: 1.0e-3, backbone_lr_scale: 0.1}}
train: {{steps: 3, batch_size: 2, log_every: 1, eval_every: 0, eval_at_start: false, save_last_every: 1, ema: 0.9}}
model: {{backbone: test_dinov2_tiny, pretrained: false, resolution: 56, trainable_blocks: 1, head: [32, 16],
         out_dim: 8}}
loss: {{network: bitonic}}
data: {{objects: [box, chair], seeds: 1, clips_per_object: 1, grid: 4, render_resolution: 56,
        points_per_clip: 8, n_ref_other: 2, crop: 2}}
eval: {{objects: [mug], n_views: 12, resolution: 56, n_pairs: 2, n_points: 20, max_rotation_deg: 90.0}}
"""


@pytest.fixture
def pov_config(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("CORRVIZ_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "pov.yaml"
    path.write_text(TINY.format(out=tmp_path / "runs"))
    return path


def test_ema_teacher_equals_the_closed_form():
    """shadow_k = m^k p_0 + (1 - m) sum_j m^(k-j) p_j, written into the target tensors in place."""
    student, teacher = nn.Linear(3, 2), nn.Linear(3, 2)
    named = list(student.named_parameters())
    target = dict(teacher.named_parameters())
    m, history = 0.9, [student.weight.detach().clone()]
    ema = EMA(named, m, target={n: t.data for n, t in target.items()})
    assert torch.equal(teacher.weight, student.weight)  # starts as the student
    for k in range(5):
        with torch.no_grad():
            student.weight.add_(float(k + 1))
        history.append(student.weight.detach().clone())
        ema.update(named)
    kk = len(history) - 1
    want = m ** kk * history[0] + (1 - m) * sum(m ** (kk - j) * history[j] for j in range(1, kk + 1))
    assert torch.allclose(teacher.weight, want, atol=1e-6)
    assert ema.shadow["weight"].data_ptr() == teacher.weight.data_ptr()
    assert not torch.allclose(teacher.weight, student.weight)


def test_ema_target_must_match_the_parameters():
    student = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="bias"):
        EMA(student.named_parameters(), 0.9, target={"weight": torch.zeros(2, 3)})


def test_parameter_groups_scale_the_learning_rate(pov_config):
    cfg = prepare("3dpov", pov_config)[1]
    model = Pov().build_model(cfg, torch.device("cpu"))
    opt = build_optimizer(model.param_groups(), cfg)
    set_lr(opt, 5, cfg)
    head, blocks = opt.param_groups
    assert blocks["lr"] == pytest.approx(0.1 * head["lr"])
    assert sum(p.numel() for p in head["params"]) == sum(p.numel() for p in model.adapted.heads[1].parameters())
    n_trainable = sum(1 for _ in model.trainable_parameters())
    assert n_trainable == len(head["params"]) + len(blocks["params"])
    assert set(model.ema_target()) == {n for n, _ in model.trainable_parameters()}  # teacher never trains


def test_loss_counts_only_jointly_visible_points():
    g = torch.Generator().manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(2, 3, 4, generator=g), dim=-1)
    anchor = torch.nn.functional.normalize(torch.randn(3, 4, generator=g), dim=-1)
    refs = torch.nn.functional.normalize(torch.randn(2, 5, 4, generator=g), dim=-1)
    w = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    ce, n = clip_loss(q, anchor, refs, w, 20.0, 3.0, "odd_even")
    assert float(n) == 3.0
    q2 = q.clone()
    q2[0, 1] = -q2[0, 1]  # an invisible point may change freely
    q2[1, 0] = -q2[1, 0]
    assert torch.allclose(clip_loss(q2, anchor, refs, w, 20.0, 3.0, "odd_even")[0], ce)
    # a student ordering the references as the steep teacher does has a lower loss than a reversed one
    same = clip_loss(anchor.expand(2, 3, 4), anchor, refs, torch.ones(2, 3), 20.0, 3.0, "odd_even")[0]
    flip = clip_loss(-anchor.expand(2, 3, 4), anchor, refs, torch.ones(2, 3), 20.0, 3.0, "odd_even")[0]
    assert float(same) < float(flip)


def test_training_moves_the_student_and_the_checkpoint_loads(pov_config, tmp_path):
    result = train("3dpov", pov_config)
    assert result.status == "finished" and all(np.isfinite(result.losses))
    path = result.run_dir / "checkpoints" / "last" / "model.safetensors"
    base = create_backbone("test_dinov2_tiny", pretrained=False)
    model = apply_checkpoint(base, path)
    images = torch.rand(1, 3, 56, 56, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        feats = model.forward_features(images)
        plain = base.forward_features(images, -1, "norm")
    assert feats.shape[1] == 8 == model.feature_dim()  # the head's output is the matching feature
    assert torch.allclose(feats.norm(dim=1), torch.ones_like(feats[:, 0]), atol=1e-5)
    # student blocks were trained: the backbone part differs from the base model
    with torch.no_grad():
        trunk = model.base_view().forward_features(images, -1, "norm")
    assert not torch.allclose(trunk, plain, atol=1e-6)
    # match_on=backbone: the head is stored but not applied
    model.specs[1]["apply"] = False
    assert model.feature_dim() == plain.shape[1]
    out = save_checkpoint(tmp_path / "bb.safetensors", model, "3dpov")
    again = apply_checkpoint(base, out)
    with torch.no_grad():
        assert torch.allclose(again.forward_features(images), trunk, atol=1e-6)


def test_held_out_objects_and_bad_settings_are_refused(pov_config):
    with pytest.raises(DatasetError, match="held out"):
        prepare("3dpov", pov_config, ["data.objects=[mug]"])
    with pytest.raises(DatasetError, match="reserved for evaluation"):
        prepare("3dpov", pov_config, ["data.seed_start=3"])
    with pytest.raises(CorrvizError, match="train.ema"):
        prepare("3dpov", pov_config, ["train.ema=0.0"])
    with pytest.raises(CorrvizError, match="OTHER clips"):
        prepare("3dpov", pov_config, ["train.batch_size=1"])
    with pytest.raises(DatasetError, match="data.video"):
        prepare("3dpov", pov_config, ["data.source=flow", "data.video=/nonexistent"])
