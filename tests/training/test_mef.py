"""MEF plug-in: step 0 is the base model, checkpoints, data geometry and augmentation, held-out rules."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from corrviz.core.backbones import create_backbone
from corrviz.core.checkpoint import apply_checkpoint, save_checkpoint
from corrviz.core.errors import CheckpointMismatchError, DatasetError
from corrviz.training.methods.mef import MEF, view_pairs_exist
from corrviz.training.methods.mef_data import MEFData, check_training_objects, prefilter, random_affine, warp
from corrviz.training.trainer import prepare

WEIGHTS = Path(__file__).resolve().parents[2].parent / "shared" / "weights"


def _cfg(tiny_config, *overrides):
    return prepare("mef", tiny_config, list(overrides))[1]


def test_step_zero_equals_the_base_model(tiny_config):
    cfg = _cfg(tiny_config)
    model = MEF().build_model(cfg, torch.device("cpu"))
    base = create_backbone("test_dinov2_tiny", pretrained=False)
    images = torch.rand(2, 3, 56, 56, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got = model.features(images)
        want = base.forward_features(images, -1, "norm")
    assert torch.equal(got, want)
    # and the modules are really there: a non-zero LoRA B changes the features
    with torch.no_grad():
        for name, p in model.adapted.heads.named_parameters():
            if "lora_b" in name:
                p.add_(0.05)
        assert not torch.allclose(model.features(images), want, atol=1e-4)


@pytest.mark.skipif(not (WEIGHTS / "vit_tiny_patch16_224.safetensors").exists(), reason="shared ViT-Tiny weights absent")
def test_step_zero_equals_base_vit_tiny_real_weights(tiny_config, monkeypatch):
    monkeypatch.setenv("CORRVIZ_WEIGHTS", str(WEIGHTS))
    cfg = _cfg(tiny_config, "model.backbone=vit_tiny_patch16_224", "model.pretrained=true", "model.resolution=64",
               "model.lora_blocks=4")
    model = MEF().build_model(cfg, torch.device("cpu"))
    base = create_backbone("vit_tiny_patch16_224")
    images = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(model.features(images), base.forward_features(images, -1, "norm"))
    specs = model.adapted.specs
    assert specs[0] == {"type": "lora", "rank": 4, "last_blocks": 4, "targets": ["q", "v"]}
    assert specs[1]["type"] == "conv" and specs[1]["channels"] == 192


def test_checkpoint_holds_only_trainable_tensors_and_refuses_other_backbones(tiny_config, tmp_path):
    cfg = _cfg(tiny_config)
    model = MEF().build_model(cfg, torch.device("cpu"))
    path = save_checkpoint(tmp_path / "mef.safetensors", model.adapted, "mef", feature=model.feature)
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    # LoRA on q, v of 2 blocks: 2 x 2 x (A, B) = 8 tensors; conv weight + bias = 2
    assert len(tensors) == 10
    want = {f"heads.0.adapters.{b}.lora_{m}.{t}" for b in (1, 2) for m in "ab" for t in "qv"}
    assert set(tensors) == want | {"heads.1.weight", "heads.1.bias"}
    trainable = {f"adapted.{k}" for k in tensors}
    assert trainable == {n for n, _ in model.trainable_parameters()}
    loaded = apply_checkpoint(create_backbone("test_dinov2_tiny", pretrained=False), path)
    images = torch.rand(1, 3, 56, 56)
    with torch.no_grad():
        assert torch.equal(loaded.forward_features(images), model.features(images))
    with pytest.raises(CheckpointMismatchError, match="test_dinov2_tiny.*test_dinov2_tiny_reg4"):
        apply_checkpoint(create_backbone("test_dinov2_tiny_reg4", pretrained=False), path)


def test_pairs_carry_exact_correspondences(tiny_config):
    cfg = _cfg(tiny_config, "data.aug.affine_p=0.0", "data.aug.jitter_p=0.0")
    data = MEFData(cfg)
    item = data.sample(3, np.random.default_rng(0))
    o, a, b = data.items[3]
    vs = data.view_sets[o]
    assert vs.relative_rotation_deg(a, b) <= 120.0
    q = item["q_xy"].numpy().astype(np.float64)
    n = len(q)
    assert n > 10 and len(item["c_xy"]) > n
    # the first candidates are the queries' exact correspondences: project the query's 3D point into B
    proj, visible = vs.visible_in(b, item["q_xyz"].numpy().astype(np.float64))
    assert visible.all()
    np.testing.assert_allclose(item["c_xy"][:n].numpy(), proj, atol=1e-3)
    # and the queries' 3D points are where view A's pixels are (ray cast)
    np.testing.assert_allclose(vs.surface_points(a, q), item["q_xyz"].numpy(), atol=1e-5)
    assert torch.all(item["images"][0][:, ~torch.from_numpy(vs.views[a].mask)] == 0)  # background zeroed


def test_augmentation_moves_points_with_the_image():
    rng = np.random.default_rng(3)

    class Aug:
        affine_p, shift, scale, rotate_deg = 1.0, 0.25, 0.25, 45.0

    img = torch.zeros(1, 64, 64)
    img[0, 20, 40] = 1.0  # a dot at pixel (x=40, y=20), centre (40.5, 20.5)
    for _ in range(5):
        affine = random_affine(rng, Aug, 64, 96)
        out = warp(img, affine, 96)
        peak = np.unravel_index(int(out[0].argmax()), out[0].shape)
        want = affine[:, :2] @ np.array([40.5, 20.5]) + affine[:, 2]
        if (want >= 0).all() and (want < 96).all():
            assert abs(peak[1] + 0.5 - want[0]) <= 1.0 and abs(peak[0] + 0.5 - want[1]) <= 1.0


def test_large_renders_are_prefiltered_like_the_evaluation_canvas():
    """A 512 px render reaches the network the way evaluation images do (antialiased bicubic resize to
    224), not through an aliased bilinear warp, and the rewritten affine still moves points with it."""
    from corrviz.core.transforms import CanvasTransform, render_canvas

    class NoAug:
        affine_p = 0.0

    rng = np.random.default_rng(0)
    rgb = (rng.uniform(0, 1, (512, 512, 3)) > 0.5).astype(np.float32)  # pixel-scale checker noise: aliases
    img = torch.from_numpy(rgb).permute(2, 0, 1)
    affine = random_affine(rng, NoAug, 512, 224)
    pre, pre_affine = prefilter(img, affine, 224)
    out = warp(pre, pre_affine, 224)
    t = CanvasTransform.create((512, 512), 224, 16)
    want = torch.from_numpy(render_canvas(rgb, t)).permute(2, 0, 1).clamp(0, 1)  # evaluation canvas, clipped
    assert float((out - want).abs().max()) < 1e-4
    aliased = warp(img, affine, 224)
    assert float((aliased - want).abs().mean()) > 10 * float((out - want).abs().mean())

    class Aug:
        affine_p, shift, scale, rotate_deg = 1.0, 0.25, 0.25, 45.0

    dot = torch.zeros(1, 512, 512)
    dot[0, 196:204, 296:304] = 1.0  # an 8 px square centred on (300, 200)
    for _ in range(5):
        affine = random_affine(rng, Aug, 512, 224)
        out = warp(*prefilter(dot, affine, 224), 224)
        peak = np.unravel_index(int(out[0].argmax()), out[0].shape)
        want_xy = affine[:, :2] @ np.array([300.0, 200.0]) + affine[:, 2]
        if (want_xy >= 1).all() and (want_xy < 223).all():
            assert abs(peak[1] + 0.5 - want_xy[0]) <= 1.0 and abs(peak[0] + 0.5 - want_xy[1]) <= 1.0
    small = torch.rand(3, 224, 224)
    assert prefilter(small, affine, 224)[0] is small   # renders at the model size are left alone


def test_held_out_objects_never_train(tmp_path):
    check_training_objects([("chair", 1000), ("box", 1234)], "here")
    for objects, msg in (([("mug", 1000)], "held out"), ([("chair", 0)], "reserved for evaluation"),
                         ([("stanford_bunny", 1000)], "not a procedural object")):
        with pytest.raises(DatasetError, match=msg):
            check_training_objects(objects, "here")


def test_real_mesh_dataset_is_refused(tiny_config, tmp_path):
    from corrviz.core.render import load_mesh
    from corrviz.core.synthetic.dataset import write_dataset

    mesh_dir = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "meshes" / "utah_teapot"
    files = sorted(p for p in mesh_dir.glob("*") if p.suffix in (".obj", ".ply", ".glb")) if mesh_dir.exists() else []
    if not files:
        pytest.skip("shared meshes absent")
    write_dataset(tmp_path / "real", [load_mesh(files[0])], n_views=6, resolution=32, seed=1000)
    with pytest.raises(DatasetError, match="not a procedural object"):
        prepare("mef", tiny_config, [f"data.root={tmp_path / 'real'}"])


def test_view_pair_check_before_rendering():
    assert view_pairs_exist(42, 60.0) and not view_pairs_exist(6, 60.0) and view_pairs_exist(6, 120.0)


def test_shipped_cpu_config_is_ready(monkeypatch):
    if not (WEIGHTS / "vit_tiny_patch16_224.safetensors").exists():
        pytest.skip("shared ViT-Tiny weights absent")
    monkeypatch.setenv("CORRVIZ_WEIGHTS", str(WEIGHTS))
    from corrviz.training.config import CONFIG_DIR

    _, cfg, _ = prepare("mef", CONFIG_DIR / "mef_vit_tiny_cpu.yaml")
    assert cfg.model.backbone == "vit_tiny_patch16_224" and cfg.data.points_per_view == 3000
    assert cfg.loss.temperature == 0.01 and cfg.loss.pos_radius == 5e-3 and cfg.loss.neg_radius == 0.1
    monkeypatch.setenv("CORRVIZ_WEIGHTS", os.fspath(Path("/nonexistent")))
    with pytest.raises(Exception, match="pretrained vit_tiny_patch16_224 weights"):
        prepare("mef", CONFIG_DIR / "mef_vit_tiny_cpu.yaml")


def test_draw_without_queries_is_resampled_deterministically(tiny_config):
    # shifts up to a full image width push view A or B out of frame in most draws of pair 1
    cfg = _cfg(tiny_config, "data.aug.affine_p=1.0", "data.aug.shift=1.0", "data.aug.jitter_p=0.0")
    data = MEFData(cfg)
    assert len(data._draw(1, np.random.default_rng(0))["q_xy"]) == 0  # the built case: first draw has none
    item = data.sample(1, np.random.default_rng(0))
    assert len(item["q_xy"]) > 0
    # the same generator state gives the same item (resume replays it bit-exactly) ...
    again = data.sample(1, np.random.default_rng(0))
    for key in item:
        assert torch.equal(item[key], again[key])
    # ... and it is the first draw with a query of the stream: pair 1 again, then other pairs from the rng
    rng, index = np.random.default_rng(0), 1
    for attempt in range(16):
        want = data._draw(index, rng)
        if len(want["q_xy"]):
            break
        if attempt >= 3:
            index = int(rng.integers(len(data)))
    assert attempt > 0 and torch.equal(want["images"], item["images"]) and torch.equal(want["q_xy"], item["q_xy"])


def test_min_queries_and_broken_data_are_reported(tiny_config):
    cfg = _cfg(tiny_config, "data.min_queries=20")  # first draws of these items: 0, 3, 24, 26, 41
    data = MEFData(cfg)
    assert all(len(data.sample(k, np.random.default_rng(k))["q_xy"]) >= 20 for k in range(0, len(data), 7))
    cfg = _cfg(tiny_config, "data.min_queries=100000")
    with pytest.raises(DatasetError, match="16 draws in a row had fewer than 100000 queries"):
        MEFData(cfg).sample(0, np.random.default_rng(0))
