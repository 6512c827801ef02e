"""corrviz checkpoints: round trip, LoRA/conv semantics, and rejection of mismatched or foreign files."""

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from corrviz.core.backbones import create_backbone
from corrviz.core.checkpoint import (
    apply_checkpoint,
    git_state,
    read_checkpoint,
    save_checkpoint,
    state_digest,
)
from corrviz.core.errors import CheckpointError, CheckpointMismatchError
from corrviz.core.features import FeatureExtractor, FeatureOptions
from corrviz.core.heads import AdaptedBackbone


def _adapted():
    bb = create_backbone("test_dinov2_tiny")
    return AdaptedBackbone(bb, [{"type": "lora", "rank": 2, "last_blocks": 2},
                                {"type": "conv", "channels": 32}])


def test_zero_initialised_lora_is_identity_then_trained_weights_round_trip(tmp_path):
    model = _adapted()
    x = torch.rand(1, 3, 224, 224)
    base = create_backbone("test_dinov2_tiny")
    lora_only = AdaptedBackbone(base, [{"type": "lora", "rank": 2, "last_blocks": 2}])
    with torch.no_grad():
        assert torch.allclose(lora_only.forward_features(x), create_backbone("test_dinov2_tiny").forward_features(x))
        for p in model.heads.parameters():  # "train": make every module non-trivial
            p.add_(torch.randn_like(p) * 0.05)
        expected = model.forward_features(x)
    path = save_checkpoint(tmp_path / "run" / "last.safetensors", model, "mef", config={"lr": 1e-5},
                           feature={"layer": -1, "facet": "prenorm"})
    tensors, meta = read_checkpoint(path)
    assert meta["backbone"] == "test_dinov2_tiny" and meta["method"] == "mef" and meta["config"] == {"lr": 1e-5}
    restored = apply_checkpoint(create_backbone("test_dinov2_tiny"), path)
    with torch.no_grad():
        assert torch.allclose(restored.forward_features(x), expected, atol=1e-6)
    ex = FeatureExtractor("test_dinov2_tiny", FeatureOptions(resolution=224, canvas="resize"), checkpoint=path,
                          cache=None)
    fm = ex.extract(np.zeros((224, 224, 3), np.uint8))
    assert fm.checkpoint == str(path) and fm.dim == 32


def test_checkpoint_for_another_backbone_is_rejected(tmp_path):
    path = save_checkpoint(tmp_path / "c.safetensors", _adapted(), "mef")
    other = create_backbone("test_dinov2_tiny_reg4")
    with pytest.raises(CheckpointMismatchError) as exc:
        apply_checkpoint(other, path)
    assert "test_dinov2_tiny" in str(exc.value) and "test_dinov2_tiny_reg4" in str(exc.value)


def test_header_records_kind_base_digest_step_commit_and_tap(tmp_path):
    bb = create_backbone("test_dinov2_tiny")
    model = AdaptedBackbone(bb, [{"type": "lora", "rank": 2, "last_blocks": 2}, {"type": "conv", "channels": 32}],
                            feature={"layer": -1, "facet": "norm", "resolution": 224})
    path = save_checkpoint(tmp_path / "c.safetensors", model, "mef", step=1234)
    meta = read_checkpoint(path)[1]
    assert meta["kind"] == "features" and meta["format_version"] == 2 and meta["step"] == 1234
    assert meta["base_digest"] == state_digest(bb) and len(meta["base_digest"]) == 40
    assert meta["feature"] == {"layer": -1, "facet": "norm", "resolution": 224}
    commit, dirty = git_state()
    assert meta["git_commit"] == commit and meta["git_dirty"] == dirty
    assert commit is None or len(commit) == 40
    sph = AdaptedBackbone(bb, [{"type": "sphere_mapper", "channels": 32, "heads": 2}])
    assert read_checkpoint(save_checkpoint(tmp_path / "s.safetensors", sph, "sph"))[1]["kind"] == "sphere_mapper"
    with pytest.raises(CheckpointMismatchError, match="'features' checkpoint, but a 'sphere_mapper'"):
        apply_checkpoint(create_backbone("test_dinov2_tiny"), path, kind="sphere_mapper")


def test_feature_tap_is_the_default_and_enforced(tmp_path):
    model = AdaptedBackbone(create_backbone("test_dinov2_tiny"), [{"type": "conv", "channels": 32}],
                            feature={"layer": -1, "facet": "norm"})
    path = save_checkpoint(tmp_path / "c.safetensors", model, "mef")
    restored = apply_checkpoint(create_backbone("test_dinov2_tiny"), path)
    assert restored.resolve_tap(None, None) == (2, "norm") and restored.resolve_tap(2, "norm") == (2, "norm")
    x = torch.rand(1, 3, 56, 56)
    with torch.no_grad():
        assert torch.equal(restored.forward_features(x), model.heads[0](model.inner.forward_features(x, -1, "norm")))
    with pytest.raises(ValueError, match="trained on layer 2 facet 'norm', but layer 2 facet 'prenorm'"):
        restored.forward_features(x, None, "prenorm")
    with pytest.raises(ValueError, match="trained on layer 2 facet 'norm'"):
        FeatureExtractor("test_dinov2_tiny", FeatureOptions(resolution=56, layer=1), checkpoint=path, cache=None)
    ex = FeatureExtractor("test_dinov2_tiny", FeatureOptions(resolution=56), checkpoint=path, cache=None)
    assert (ex.options.layer, ex.options.facet) == (2, "norm")


def test_other_base_weights_are_refused_with_both_digests(tmp_path):
    bb = create_backbone("test_dinov2_tiny")
    path = save_checkpoint(tmp_path / "c.safetensors", AdaptedBackbone(bb, [{"type": "conv", "channels": 32}]), "mef")
    other = create_backbone("test_dinov2_tiny")
    with torch.no_grad():
        other.model.blocks[0].mlp.fc1.weight.mul_(1.01)
    want, have = state_digest(bb), state_digest(other)
    with pytest.raises(CheckpointMismatchError) as exc:
        apply_checkpoint(other, path)
    assert want in str(exc.value) and have in str(exc.value) and want != have
    with pytest.warns(RuntimeWarning, match=have):
        apply_checkpoint(other, path, strict_base=False)


def test_tensors_that_do_not_fit_the_declared_modules_are_refused(tmp_path):
    import json

    model = _adapted()
    tensors = {k: v.contiguous() for k, v in model.trainable_state_dict().items()}
    meta = read_checkpoint(save_checkpoint(tmp_path / "ok.safetensors", model, "mef"))[1]
    extra = dict(tensors, **{"heads.1.extra": torch.zeros(3)})
    missing = {k: v for k, v in tensors.items() if k != "heads.1.bias"}
    for name, bad in (("extra", extra), ("missing", missing)):
        save_file(bad, str(tmp_path / f"{name}.safetensors"), metadata={"corrviz": json.dumps(meta)})
        with pytest.raises(CheckpointMismatchError, match="do not fit the modules"):
            apply_checkpoint(create_backbone("test_dinov2_tiny"), tmp_path / f"{name}.safetensors")
    other = _adapted()
    other.load_trainable_state_dict(tensors)
    assert all(torch.equal(other.trainable_state_dict()[k], v) for k, v in tensors.items())
    with pytest.raises(ValueError, match="not a module tensor: inner.x"):
        other.load_trainable_state_dict({"inner.x": torch.zeros(1)})


def test_foreign_and_corrupt_files_are_explained(tmp_path):
    plain = tmp_path / "weights.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(CheckpointError, match="no corrviz metadata"):
        read_checkpoint(plain)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        read_checkpoint(junk)
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(tmp_path / "missing.safetensors")
    pt = tmp_path / "model.pt"
    pt.write_bytes(b"x")
    with pytest.raises(CheckpointError, match=".safetensors"):
        read_checkpoint(pt)


def test_atomic_write_leaves_no_partial_file(tmp_path):
    from corrviz.core.io import atomic_write

    target = tmp_path / "results.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target, "w") as fh:
        fh.write("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_sphere_mapper_checkpoint_drives_the_combined_matcher(tmp_path):
    """A sphere-mapper checkpoint gives unit 3-vectors per cell; combined similarity mixes both cosines."""
    from corrviz.core.matching import match_points, similarity_map

    bb = create_backbone("test_dinov2_tiny")
    mapper = AdaptedBackbone(bb, [{"type": "sphere_mapper", "channels": 32, "heads": 2}])
    assert mapper.is_sphere_mapper and mapper.feature_dim() == 3
    path = save_checkpoint(tmp_path / "sph.safetensors", mapper, "sph", feature={"facet": "prenorm"})
    opts = FeatureOptions(resolution=224, canvas="resize")
    feat = FeatureExtractor("test_dinov2_tiny", opts, cache=None)
    sph = FeatureExtractor("test_dinov2_tiny", opts, checkpoint=path, cache=None)
    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 256, (224, 224, 3), dtype=np.uint8) for _ in range(2))
    fa, fb, sa, sb = feat.extract(a), feat.extract(b), sph.extract(a), sph.extract(b)
    assert sa.dim == 3 and torch.allclose(sa.features.norm(dim=0), torch.ones(16, 16), atol=1e-5)
    pts = np.array([[50.0, 60.0], [150.0, 100.0]])
    m = match_points(fa, fb, pts, "combined", sphere=(sa, sb), alpha=0.2)
    expected = 0.8 * similarity_map(fa, pts, fb) + 0.2 * similarity_map(sa, pts, sb)
    peak = expected.reshape(2, -1).max(dim=1).values.numpy()
    assert np.allclose(m.score, peak, atol=1e-6)
    with pytest.raises(ValueError, match="needs sphere maps"):
        match_points(fa, fb, pts, "combined")
