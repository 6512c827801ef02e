"""LoRA adapters: the caller's backbone is never modified, B = 0 is the base model exactly, checkpoints
hold only trainable tensors, and the feature cache never serves a plain model's features to an adapted one."""

import numpy as np
import pytest
import torch
from safetensors import safe_open
from torch import nn

from corrviz.core.backbones import create_backbone
from corrviz.core.checkpoint import apply_checkpoint, save_checkpoint, state_digest
from corrviz.core.features import FeatureCache, FeatureExtractor, FeatureOptions
from corrviz.core.heads import AdaptedBackbone

MEF = [{"type": "lora", "rank": 4, "last_blocks": 4, "targets": ["q", "v"]}, {"type": "conv", "channels": 192}]
TAPS = [(None, None), (-1, "norm"), (-2, "key"), (-1, "query"), (-3, "value"), (7, "prenorm")]


@pytest.fixture(scope="module")
def vits():
    return create_backbone("vit_tiny_patch16_224", pretrained=False)  # 12 blocks, D = 192, seeded random init


def _perturb(module: nn.Module, scale: float = 0.05) -> None:
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * scale)


def test_wrapping_never_modifies_the_callers_backbone(vits):
    x = torch.rand(1, 3, 64, 64)
    before = {k: v.clone() for k, v in vits.state_dict().items()}
    with torch.no_grad():
        plain = vits.forward_features(x)
    model = AdaptedBackbone(vits, MEF)
    _perturb(model.heads)  # non-zero B: the adapted model now differs
    with torch.no_grad():
        adapted = model.forward_features(x)
        again = vits.forward_features(x)
    assert all(type(b.attn.qkv) is nn.Linear for b in vits.model.blocks)
    after = vits.state_dict()
    assert list(after) == list(before) and all(torch.equal(after[k], before[k]) for k in before)
    assert torch.equal(again, plain)
    assert (adapted - model.heads[1](plain)).abs().max() > 1e-3
    # the base stays frozen whatever a trainer does to the wrapper
    model.train().requires_grad_(True)
    assert not vits.training and not any(p.requires_grad for p in vits.parameters())
    assert all(p.requires_grad for p in model.trainable_parameters())


def test_zero_b_is_exactly_the_base_model_at_every_tap(vits):
    x = torch.rand(1, 3, 64, 80)
    model = AdaptedBackbone(vits, MEF[:1])
    with torch.no_grad():
        for layer, facet in TAPS:
            assert torch.equal(model.forward_features(x, layer, facet), vits.forward_features(x, layer, facet))


def test_lora_changes_only_its_blocks_and_only_q_and_v(vits):
    x = torch.rand(1, 3, 64, 64)
    model = AdaptedBackbone(vits, MEF[:1])
    _perturb(model.heads)
    with torch.no_grad():
        assert torch.equal(model.forward_features(x, 7, "prenorm"), vits.forward_features(x, 7, "prenorm"))
        assert torch.equal(model.forward_features(x, 8, "key"), vits.forward_features(x, 8, "key"))  # k not adapted
        assert not torch.allclose(model.forward_features(x, 8, "query"), vits.forward_features(x, 8, "query"))
        assert not torch.allclose(model.forward_features(x, 8, "value"), vits.forward_features(x, 8, "value"))
        # hand check of block 8's query: base q + x A^T B^T
        blk = vits.model.blocks[8]
        tokens = vits.forward_tokens(x, 7, "prenorm")[0]
        h = blk.norm1(tokens)
        ad = model.heads[0].adapters["8"]
        q = h @ blk.attn.qkv.weight[:192].T + blk.attn.qkv.bias[:192] + (h @ ad.lora_a["q"].T) @ ad.lora_b["q"].T
        got = model.forward_features(x, 8, "query")
        assert torch.allclose(got, q[:, 1:].transpose(1, 2).reshape(1, 192, 4, 4), atol=1e-5)


def test_mef_checkpoint_holds_only_the_trainable_tensors(vits, tmp_path):
    model = AdaptedBackbone(vits, MEF, feature={"layer": -1, "facet": "norm"})
    path = save_checkpoint(tmp_path / "mef.safetensors", model, "mef", step=0)
    with safe_open(str(path), framework="pt") as fh:
        names = sorted(fh.keys())
        numel = sum(fh.get_tensor(k).numel() for k in names)
    expected = sorted([f"heads.0.adapters.{b}.lora_{m}.{t}" for b in (8, 9, 10, 11) for m in "ab" for t in "qv"]
                      + ["heads.1.weight", "heads.1.bias"])
    assert names == expected and len(names) == 18
    assert numel == 4 * 2 * (4 * 192 + 192 * 4) + 192 * 192 * 9 + 192
    assert set(model.trainable_state_dict()) == set(names)


def test_gradients_reach_only_the_adapters(vits):
    model = AdaptedBackbone(vits, MEF).train()
    _perturb(model.heads[0])  # B != 0 so that A gets a gradient too
    out = model.forward_features(torch.rand(1, 3, 64, 64), -1, "norm")
    out.square().mean().backward()
    lora = model.heads[0].adapters["10"]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in (lora.lora_a["q"], lora.lora_b["v"]))
    assert all(p.grad is None for p in vits.parameters())


def test_old_format_checkpoint_with_base_weights_never_overwrites_the_backbone(tmp_path):
    from safetensors.torch import save_file

    bb = create_backbone("test_dinov2_tiny")
    model = AdaptedBackbone(bb, [{"type": "lora", "rank": 2, "last_blocks": 1}])
    _perturb(model.heads)
    tensors = {k: v.contiguous() for k, v in model.trainable_state_dict().items()}
    tensors["heads.0.adapters.2.base.weight"] = torch.zeros(96, 32)  # what format 1 used to store
    tensors["heads.0.adapters.2.base.bias"] = torch.zeros(96)
    meta = {"format": "corrviz-checkpoint", "format_version": 1, "backbone": "test_dinov2_tiny",
            "method": "mef", "modules": model.specs, "feature": {}}
    import json

    save_file(tensors, str(tmp_path / "old.safetensors"), metadata={"corrviz": json.dumps(meta)})
    fresh = create_backbone("test_dinov2_tiny")
    digest = state_digest(fresh)
    with pytest.warns(RuntimeWarning, match="2 frozen base tensors; they are ignored"):
        restored = apply_checkpoint(fresh, tmp_path / "old.safetensors")
    x = torch.rand(1, 3, 56, 56)
    with torch.no_grad():
        assert torch.equal(restored.forward_features(x), model.forward_features(x))
    assert state_digest(fresh) == digest


def test_feature_cache_keys_on_the_weights_in_memory():
    """An adapted model held in memory must not be served the plain backbone's cached features."""
    cache = FeatureCache()
    opts = FeatureOptions(resolution=56, canvas="resize")
    img = np.random.default_rng(0).integers(0, 256, (56, 56, 3), dtype=np.uint8)
    bb = create_backbone("test_dinov2_tiny")
    plain = FeatureExtractor(bb, opts, cache=cache).extract(img)
    model = AdaptedBackbone(bb, [{"type": "lora", "rank": 2, "last_blocks": 2}])
    _perturb(model.heads)
    model.eval().requires_grad_(False)
    ex = FeatureExtractor(model, opts, cache=cache)
    adapted = ex.extract(img)
    assert ex.extractions == 1 and not torch.allclose(adapted.features, plain.features)
    with torch.no_grad():
        expected = model.forward_features(torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255)[0]
    assert torch.allclose(adapted.features, expected, atol=1e-6)
    same = FeatureExtractor(model, opts, cache=cache)
    assert torch.equal(same.extract(img).features, adapted.features) and same.extractions == 0
    # weights changed in place (an optimiser step): a new key, not the stale entry
    _perturb(model.heads)
    again = ex.extract(img)
    assert ex.extractions == 2 and not torch.allclose(again.features, adapted.features)
    # a model being trained is never cached
    model.train().requires_grad_(True)
    ex.extract(img)
    ex.extract(img)
    assert ex.extractions == 4


def test_mef_on_the_real_vit_tiny_starts_at_the_pretrained_model_and_saves_18_tensors(tmp_path):
    """The real ImageNet-supervised ViT-Tiny/16 (not DINOv2): LoRA r4 q,v on blocks 8-11 + one conv."""
    from pathlib import Path

    weights = Path(__file__).resolve().parents[2].parent / "shared" / "weights" / "vit_tiny_patch16_224.safetensors"
    if not weights.is_file():
        pytest.skip(f"real ViT-Tiny weights not found at {weights}")
    bb = create_backbone("vit_tiny_patch16_224", weights=weights)
    model = AdaptedBackbone(bb, [MEF[0], {"type": "conv", "channels": 192}], feature={"layer": -1, "facet": "norm"})
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(model.base_view().forward_features(x, -1, "norm"), bb.forward_features(x, -1, "norm"))
    path = save_checkpoint(tmp_path / "mef.safetensors", model, "mef", step=0)
    with safe_open(str(path), framework="pt") as fh:
        assert len(list(fh.keys())) == 18
        assert sum(fh.get_tensor(k).numel() for k in fh.keys()) == 4 * 2 * 2 * 4 * 192 + 192 * 192 * 9 + 192  # noqa: SIM118
    restored = apply_checkpoint(create_backbone("vit_tiny_patch16_224", weights=weights), path)
    with torch.no_grad():
        assert torch.equal(restored.forward_features(x), model.forward_features(x))


def test_two_lora_modules_on_one_block_add_up():
    bb = create_backbone("test_dinov2_tiny")
    one = AdaptedBackbone(bb, [{"type": "lora", "rank": 2, "last_blocks": 1}])
    two = AdaptedBackbone(bb, [{"type": "lora", "rank": 2, "last_blocks": 1}, {"type": "lora", "rank": 2, "last_blocks": 1}])
    _perturb(one.heads)
    with torch.no_grad():
        for head in two.heads:  # the same update, split in halves over the two modules
            for name, p in head.named_parameters():
                src = dict(one.heads[0].named_parameters())[name]
                p.copy_(src * 0.5 if "lora_b" in name else src)
        x = torch.rand(1, 3, 56, 56)
        assert torch.allclose(two.forward_features(x, -1, "query"), one.forward_features(x, -1, "query"), atol=1e-6)
