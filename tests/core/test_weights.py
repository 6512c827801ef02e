"""Weight resolution: weights directory, fake Hugging Face cache, where-I-looked errors, mismatches."""

import json

import pytest
import torch
from safetensors.torch import save_file

from corrviz.core.backbones import create_backbone, find_weights, get_config, weights_available
from corrviz.core.errors import CheckpointMismatchError, WeightsNotFoundError


def _random_state(name: str, seed: int = 0, dtype=torch.float32) -> dict[str, torch.Tensor]:
    """Weights that differ from any fresh (seed-0) init, so a test passes only if they were really loaded."""
    g = torch.Generator().manual_seed(1000 + seed)
    bb = create_backbone(name, pretrained=False)
    return {k: (v + torch.randn(v.shape, generator=g) * 0.01).to(dtype).contiguous()
            for k, v in bb.model.state_dict().items()}


def _assert_loaded(bb, state):
    fresh = create_backbone(bb.name, pretrained=False).model.state_dict()
    assert not torch.equal(fresh["blocks.0.attn.qkv.weight"], bb.model.state_dict()["blocks.0.attn.qkv.weight"])
    for k, v in bb.model.state_dict().items():
        assert torch.equal(v, state[k].to(v.dtype)), k


def test_weights_directory_loads_bit_exact(tmp_path, monkeypatch):
    state = _random_state("dinov2_vits14", seed=1)
    save_file(state, str(tmp_path / "dinov2_vits14.safetensors"))
    (tmp_path / "dinov2_vits14.json").write_text(json.dumps({"backbone": "dinov2_vits14"}))
    monkeypatch.setenv("CORRVIZ_WEIGHTS", str(tmp_path))
    bb = create_backbone("dinov2_vits14")
    assert bb.weights_source == f"weights_dir:{tmp_path / 'dinov2_vits14.safetensors'}"
    _assert_loaded(bb, state)
    assert weights_available("dinov2_vits14")[0]


def test_fp16_weights_directory_file_loads(tmp_path, monkeypatch):
    state = _random_state("dinov2_vits14_reg4", seed=2, dtype=torch.float16)
    save_file(state, str(tmp_path / "dinov2_vits14_reg4.safetensors"))
    monkeypatch.setenv("CORRVIZ_WEIGHTS", str(tmp_path))
    bb = create_backbone("dinov2_vits14_reg4")
    _assert_loaded(bb, state)
    assert bb.model.pos_embed.dtype == torch.float32


def test_fake_hugging_face_cache_offline(tmp_path, monkeypatch):
    """A hub cache laid out as huggingface_hub writes it is found with HF_HUB_OFFLINE=1."""
    state = _random_state("dinov2_vits14", seed=3)
    repo = tmp_path / "models--timm--vit_small_patch14_dinov2.lvd142m"
    snap = repo / "snapshots" / ("a" * 40)
    snap.mkdir(parents=True)
    save_file(state, str(snap / "model.safetensors"))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    bb = create_backbone("dinov2_vits14")
    assert bb.weights_source.startswith("hub:")
    _assert_loaded(bb, state)


def test_official_dinov2_layout_is_converted(tmp_path):
    """A checkpoint in facebookresearch's layout (register_tokens, cls pos) loads into timm's layout."""
    state = _random_state("dinov2_vits14_reg4", seed=4)
    official = {k: v for k, v in state.items() if k not in ("reg_token", "cls_token", "pos_embed")}
    cls_pos = torch.randn(1, 1, 384)
    official["register_tokens"] = state["reg_token"]
    official["pos_embed"] = torch.cat([cls_pos, state["pos_embed"]], dim=1)
    official["cls_token"] = state["cls_token"] - cls_pos
    official["mask_token"] = torch.zeros(1, 384)
    path = tmp_path / "official.pth"
    torch.save(official, path)
    bb = create_backbone("dinov2_vits14_reg4", weights=path)
    assert torch.allclose(bb.model.cls_token, state["cls_token"], atol=1e-6)
    assert torch.equal(bb.model.reg_token, state["reg_token"])


def test_missing_weights_say_where_they_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("CORRVIZ_WEIGHTS", str(tmp_path))
    with pytest.raises(WeightsNotFoundError) as exc:
        find_weights(get_config("dinov2_vitb14"))
    msg = str(exc.value)
    assert str(tmp_path / "dinov2_vitb14.safetensors") in msg
    assert "timm/vit_base_patch14_dinov2.lvd142m" in msg and "HF_HUB_OFFLINE" in msg
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        create_backbone("dinov2_vits14", weights=tmp_path / "nope.safetensors")


def test_vit_b_file_for_vit_s_name_is_rejected(tmp_path, monkeypatch):
    state = _random_state("dinov2_vitb14", seed=5, dtype=torch.float16)
    save_file(state, str(tmp_path / "dinov2_vits14.safetensors"))  # wrong file under the S name
    monkeypatch.setenv("CORRVIZ_WEIGHTS", str(tmp_path))
    with pytest.raises(CheckpointMismatchError) as exc:
        create_backbone("dinov2_vits14")
    msg = str(exc.value)
    assert "dinov2_vitb14" in msg and "dinov2_vits14" in msg
    assert "embed dim 768" in msg and "embed dim 384" in msg


def test_metadata_naming_another_backbone_is_rejected(tmp_path):
    state = _random_state("dinov2_vits14", seed=6)
    save_file(state, str(tmp_path / "w.safetensors"), metadata={"backbone": "dinov2_vits14_reg4"})
    with pytest.raises(CheckpointMismatchError, match="dinov2_vits14_reg4"):
        create_backbone("dinov2_vits14", weights=tmp_path / "w.safetensors")


class _Payload:
    """Unpickling this would run a shell command; weights_only loading must refuse it."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_pickle_with_code_is_refused(tmp_path):
    from corrviz.core.errors import CheckpointError

    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pth"
    torch.save({"model": {"w": torch.zeros(1)}, "payload": _Payload(str(marker))}, path)
    with pytest.raises(CheckpointError, match="cannot read weights"):
        create_backbone("dinov2_vits14", weights=path)
    assert not marker.exists()


def test_hub_repo_is_timms_for_every_registered_backbone():
    from timm.models import get_pretrained_cfg

    from corrviz.core.backbones import list_backbones
    from corrviz.core.backbones.weights import hub_repo

    checked = 0
    for name in list_backbones():
        cfg = get_config(name)
        if cfg.pretrained_tag:
            assert hub_repo(cfg) == get_pretrained_cfg(cfg.timm_id).hf_hub_id, name
            checked += 1
    assert checked >= 19
    assert hub_repo(get_config("vit_tiny_patch16_224")) == "timm/vit_tiny_patch16_224.augreg_in21k_ft_in1k"
