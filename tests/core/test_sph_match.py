"""``corrviz-match --matcher combined --sphere-checkpoint``: the combined similarity of the features and
a sphere mapper's maps, the same matches core.matching gives; bad checkpoints refused before work."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from corrviz.core.commands.match import main


def _images(tmp_path):
    rng = np.random.default_rng(0)
    base = np.kron((rng.random((14, 20, 3)) * 255).astype(np.uint8), np.ones((8, 8, 1), np.uint8))
    Image.fromarray(np.ascontiguousarray(base[:, :140])).save(tmp_path / "a.png")
    Image.fromarray(np.ascontiguousarray(base[:, 20:160])).save(tmp_path / "b.png")
    return str(tmp_path / "a.png"), str(tmp_path / "b.png")


def _mapper(tmp_path, last="sphere_mapper"):
    from corrviz.core.backbones import create_backbone
    from corrviz.core.checkpoint import save_checkpoint
    from corrviz.core.heads import AdaptedBackbone

    bb = create_backbone("test_dinov2_tiny", pretrained=False)
    spec = {"type": "sphere_mapper", "channels": 32, "heads": 4} if last == "sphere_mapper" else \
        {"type": "conv", "channels": 32}
    torch_seed = __import__("torch").manual_seed(3)  # noqa: F841 - a fixed random mapper
    return str(save_checkpoint(tmp_path / f"{last}.safetensors", AdaptedBackbone(bb, [spec]), "sph"))


def test_combined_matches_equal_core_matching(tmp_path):
    from corrviz.core.backbones import create_backbone
    from corrviz.core.features import FeatureExtractor, FeatureOptions
    from corrviz.core.io import load_image
    from corrviz.core.matching import match_points

    a, b = _images(tmp_path)
    ck = _mapper(tmp_path)
    pts = ["30,40", "70,60", "100,90"]
    common = [a, b, "--backbone", "test_dinov2_tiny", "--resolution", "112", "--points", *pts]
    js = tmp_path / "c.json"
    assert main([*common, "--matcher", "combined", "--sphere-checkpoint", ck, "--sphere-alpha", "0.5",
                 "--json", str(js)]) == 0
    got = json.loads(js.read_text())
    assert got["matcher"] == "combined" and got["sphere_alpha"] == 0.5
    bb = create_backbone("test_dinov2_tiny", pretrained=False)
    ims = [load_image(a), load_image(b)]
    fs, ft = FeatureExtractor(bb, FeatureOptions(resolution=112)).extract_many(ims)
    ss, st = FeatureExtractor(bb, FeatureOptions(resolution=112), checkpoint=ck).extract_many(ims)
    xy = np.array([[30, 40], [70, 60], [100, 90]], float)
    want = match_points(fs, ft, xy, "combined", sphere=(ss, st), alpha=0.5)
    assert np.allclose([[r["trg_x"], r["trg_y"]] for r in got["matches"]], want.trg_xy, atol=1e-3)
    # alpha matters: the features-only soft-argmax lands elsewhere for at least one point
    plain = match_points(fs, ft, xy, "soft-argmax")
    assert not np.allclose(plain.trg_xy, want.trg_xy, atol=1e-3)


def test_combined_needs_a_sphere_mapper(tmp_path, capsys):
    a, b = _images(tmp_path)
    common = [a, b, "--backbone", "test_dinov2_tiny", "--resolution", "112"]
    assert main([*common, "--matcher", "combined"]) == 2
    assert "needs --sphere-checkpoint" in capsys.readouterr().err
    assert main([*common, "--matcher", "combined", "--sphere-checkpoint", _mapper(tmp_path, "conv")]) == 2
    err = capsys.readouterr().err
    assert "not a sphere mapper" in err and "Traceback" not in err
