"""Features of tiny random-init DINOv2-style ViTs equal an independent computation from their weights.

The reference below re-implements the ViT forward from the block parameters (patch embedding as a
matrix product, LayerNorm, attention, LayerScale, MLP) in float64, and BOTH official position rules
from their definitions as explicit 1-D resampling matrices (no ``F.interpolate``):

- ``bicubic_offset_0.1`` (plain DINOv2 / DINO): bicubic convolution (Keys, a = -0.75), antialias off,
  scale factor s = (new + 0.1) / old: output cell i samples the source at (i + 0.5) / s - 0.5, with
  the four taps clamped to the border;
- ``bicubic_antialias_size`` (DINOv2 register models, timm): resize to the target SIZE with an
  antialiased bicubic filter (a = -0.5) stretched by max(old / new, 1), taps cut at the border and
  the weights renormalised.
"""

import copy
import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from corrviz.core.backbones import POS_RULES, create_backbone, get_config, list_backbones

FACETS = ("prenorm", "norm", "key", "query", "value")
SIZES = [(224, 224), (448, 448), (518, 518), (840, 840), (448, 644)]  # (H, W)


def _keys_cubic(x: np.ndarray, a: float) -> np.ndarray:
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((x - 5) * x + 8) * x * a - 4 * a
    return np.where(x < 1, near, np.where(x < 2, far, 0.0))


def resize_matrix_offset(old: int, new: int) -> np.ndarray:
    """(new, old) matrix of the bicubic, antialias-off resize with scale factor (new + 0.1) / old."""
    s = (new + 0.1) / old
    assert math.floor(old * s) == new
    w = np.zeros((new, old))
    for i in range(new):
        x = (i + 0.5) / s - 0.5
        x0 = math.floor(x)
        t = x - x0
        for k in range(-1, 3):
            w[i, min(max(x0 + k, 0), old - 1)] += _keys_cubic(np.array(t - k), -0.75)
    return w


def resize_matrix_antialias(old: int, new: int) -> np.ndarray:
    """(new, old) matrix of the antialiased bicubic resize to ``new`` cells."""
    scale = old / new
    stretch = max(scale, 1.0)
    support = 2.0 * stretch
    w = np.zeros((new, old))
    for i in range(new):
        centre = (i + 0.5) * scale
        lo, hi = max(int(centre - support + 0.5), 0), min(int(centre + support + 0.5), old)
        j = np.arange(lo, hi)
        k = _keys_cubic((j - centre + 0.5) / stretch, -0.5)
        w[i, lo:hi] = k / k.sum()
    return w


REFERENCE_RULES = {"bicubic_offset_0.1": resize_matrix_offset, "bicubic_antialias_size": resize_matrix_antialias}


def reference_pos(patch_pos: torch.Tensor, gh: int, gw: int, rule: str) -> torch.Tensor:
    """(1, M*M, D) -> (1, gh*gw, D) in float64; the native grid is kept as is (both official codes do)."""
    m = math.isqrt(patch_pos.shape[1])
    if (gh, gw) == (m, m):
        return patch_pos.double()
    grid = patch_pos.double().reshape(m, m, -1).numpy()
    rh, rw = REFERENCE_RULES[rule](m, gh), REFERENCE_RULES[rule](m, gw)
    out = np.einsum("im,mnd,jn->ijd", rh, grid, rw)
    return torch.from_numpy(out.reshape(1, gh * gw, -1))


def _perturbed(name: str, seed: int = 0):
    bb = create_backbone(name)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for pname, p in bb.model.named_parameters():  # non-trivial biases, norms, LayerScale, positions
            p.add_(torch.randn(p.shape, generator=g) * (0.5 if "pos_embed" in pname else 0.02))
    return bb


def _ln(x, m):
    return F.layer_norm(x, (x.shape[-1],), m.weight.double(), m.bias.double(), m.eps)


def reference_features(bb, img) -> dict[tuple[int, str], torch.Tensor]:
    """Independent forward in float64: {(layer, facet): (D, gh, gw)} for every tap, in one pass."""
    m = copy.deepcopy(bb.model).double()
    mean = torch.tensor(bb.config.mean, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(bb.config.std, dtype=torch.float64).view(1, 3, 1, 1)
    x = (img.double() - mean) / std
    p = bb.config.patch_size
    _, _, h, w = x.shape
    gh, gw = h // p, w // p
    patches = x.unfold(2, p, p).unfold(3, p, p)  # 1, 3, gh, gw, p, p
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(1, gh * gw, 3 * p * p)
    wpe = m.patch_embed.proj.weight.reshape(m.patch_embed.proj.weight.shape[0], -1)
    tok = patches @ wpe.T + m.patch_embed.proj.bias
    rule = bb.config.pos_interpolation
    regs = bb.config.num_registers
    if regs:  # timm stores DINOv2-reg with the class position folded into cls_token
        tok = tok + reference_pos(m.pos_embed, gh, gw, rule)
        prefix = torch.cat([m.cls_token, m.reg_token], dim=1)
    else:
        tok = tok + reference_pos(m.pos_embed[:, 1:], gh, gw, rule)
        prefix = m.cls_token + m.pos_embed[:, :1]
    x = torch.cat([prefix, tok], dim=1)
    nh = m.blocks[0].attn.num_heads
    out = {}

    def grid(t):
        return t[0, 1 + regs:].T.reshape(-1, gh, gw)

    for i, blk in enumerate(m.blocks):
        hdn = _ln(x, blk.norm1)
        qkv = hdn @ blk.attn.qkv.weight.T + blk.attn.qkv.bias
        q, k, v = qkv.chunk(3, dim=-1)
        out.update({(i, "query"): grid(q), (i, "key"): grid(k), (i, "value"): grid(v)})
        d = q.shape[-1] // nh

        def heads(t, d=d):
            return t.reshape(1, -1, nh, d).transpose(1, 2)

        att = torch.softmax(heads(q) @ heads(k).transpose(-1, -2) / math.sqrt(d), dim=-1)
        o = (att @ heads(v)).transpose(1, 2).reshape(1, -1, nh * d)
        o = o @ blk.attn.proj.weight.T + blk.attn.proj.bias
        x = x + blk.ls1.gamma * o
        hdn = _ln(x, blk.norm2)
        hdn = F.gelu(hdn @ blk.mlp.fc1.weight.T + blk.mlp.fc1.bias)
        x = x + blk.ls2.gamma * (hdn @ blk.mlp.fc2.weight.T + blk.mlp.fc2.bias)
        out[(i, "prenorm")] = grid(x)
        out[(i, "norm")] = grid(_ln(x, m.norm))
    return out


@pytest.fixture(scope="module")
def models():
    return {"bicubic_offset_0.1": _perturbed("test_dinov2_tiny"),
            "bicubic_antialias_size": _perturbed("test_dinov2_tiny_reg4", seed=3)}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("rule", list(REFERENCE_RULES))
def test_all_facets_and_layers_match_reference(models, rule, size):
    bb = models[rule]
    assert bb.config.pos_interpolation == rule
    torch.manual_seed(1)
    img = torch.rand(1, 3, *size)
    ref = reference_features(bb, img)
    worst = 0.0
    with torch.no_grad():
        for layer in range(bb.config.depth):
            for facet in FACETS:
                ours = bb.forward_features(img, layer=layer, facet=facet)[0]
                r = ref[(layer, facet)].float()
                assert ours.shape == r.shape == (bb.config.embed_dim, size[0] // 14, size[1] // 14)
                worst = max(worst, (ours - r).abs().max().item())
    assert worst < 2e-5


@pytest.mark.parametrize("grid", [(16, 16), (32, 32), (37, 37), (60, 60), (32, 46), (46, 32), (8, 70)])
@pytest.mark.parametrize("rule", list(REFERENCE_RULES))
def test_position_rule_equals_its_definition(models, rule, grid):
    bb = models[rule]
    ours = bb.patch_pos_embed(*grid)
    ref = reference_pos(bb.model.pos_embed[:, bb._pos_prefix:], *grid, rule)
    assert ours.shape == (1, grid[0] * grid[1], bb.config.embed_dim)
    assert (ours.double() - ref).abs().max().item() < 1e-5


@pytest.mark.parametrize("size", [(224, 224), (840, 840)])
def test_the_two_rules_give_different_features(models, size):
    """The test tells the rules apart: the register model under the plain rule is measurably off."""
    bb = models["bicubic_antialias_size"]
    img = torch.rand(1, 3, *size)
    wrong = dataclasses.replace(bb.config, pos_interpolation="bicubic_offset_0.1")
    right_cfg = bb.config
    with torch.no_grad():
        right = bb.forward_features(img)
        bb.config = wrong
        try:
            off = bb.forward_features(img)
        finally:
            bb.config = right_cfg
    rel = ((off - right).norm() / right.norm()).item()
    assert rel > 0.02


def test_antialias_rule_is_timms_resample():
    from timm.layers import resample_abs_pos_embed

    from corrviz.core.backbones.vit import interpolate_pos_antialias

    pos = torch.randn(1, 37 * 37, 8, generator=torch.Generator().manual_seed(0))
    for grid in ((16, 16), (60, 60), (32, 46)):
        timm_out = resample_abs_pos_embed(pos, new_size=grid, old_size=(37, 37), num_prefix_tokens=0)
        assert torch.equal(interpolate_pos_antialias(pos, *grid), timm_out)


def test_every_official_release_has_its_rule():
    """Meta's hub: plain DINOv2 and DINO use the 0.1 offset; the register models antialias to the size."""
    for name in list_backbones(include_test=True):
        cfg = get_config(name)
        assert cfg.pos_interpolation in POS_RULES
        if name.startswith(("dinov2_", "dino_")) and "_reg" not in name:
            assert cfg.pos_interpolation == "bicubic_offset_0.1", name
        if "_reg" in name or name.startswith(("vit_tiny", "deit3", "mae", "clip")):
            assert cfg.pos_interpolation == "bicubic_antialias_size", name
        if cfg.family in ("classical", "convnext"):
            assert cfg.pos_interpolation == "none", name
    with pytest.raises(ValueError, match="unknown position-embedding rule"):
        dataclasses.replace(get_config("dinov2_vits14"), pos_interpolation="official")


def test_negative_layer_equals_positive_index(models):
    tiny = models["bicubic_offset_0.1"]
    img = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(tiny.forward_features(img, layer=-1), tiny.forward_features(img, layer=2))


def test_the_rule_is_recorded_in_feature_maps_and_evaluation_results(tmp_path):
    import csv
    import io
    import json
    from pathlib import Path

    from corrviz.core.evaluate import ExtractorSpec, MatcherSpec, evaluate
    from corrviz.core.features import FeatureExtractor, FeatureOptions

    img = (np.random.default_rng(0).random((60, 80, 3)) * 255).astype(np.uint8)
    for name, rule in (("test_dinov2_tiny", "bicubic_offset_0.1"), ("test_dinov2_tiny_reg4", "bicubic_antialias_size"),
                       ("dense_sift", "none")):
        fm = FeatureExtractor(name, FeatureOptions(resolution=224), cache=None).extract(img)
        assert fm.pos_interpolation == rule, name
    willow = Path(__file__).resolve().parents[3] / "shared" / "data" / "PF-WILLOW"
    if not willow.is_dir():
        pytest.skip(f"PF-WILLOW not found at {willow}")
    res = evaluate("pfwillow", willow, ExtractorSpec("test_dinov2_tiny_reg4", resolution=224), MatcherSpec("nn"),
                   limit=2, cache_root=tmp_path / "cache")
    paths = res.save(tmp_path / "out", plots=False)
    data = json.loads(paths["json"].read_text())
    assert data["protocol"]["position_interpolation"] == "bicubic_antialias_size"
    assert all(r["protocol"]["position_interpolation"] == "bicubic_antialias_size" for r in data["results"])
    rows = list(csv.DictReader(io.StringIO(paths["csv"].read_text())))
    assert rows and {r["position_interpolation"] for r in rows} == {"bicubic_antialias_size"}


def test_pos_rule_diff_script_prints_the_rule_difference(capsys):
    """scripts/pos_rule_diff.py: zero at the native 37x37 grid (both rules keep it), several % at 224 px."""
    import runpy
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "scripts" / "pos_rule_diff.py"
    main = runpy.run_path(str(script))["main"]
    assert main(["--backbone", "test_dinov2_tiny_reg4", "--random-init", "--resolution", "518", "224"]) == 0
    rows = {line.split(" | ")[1]: line for line in capsys.readouterr().out.splitlines() if "test_dinov2" in line}
    assert rows["518"].endswith("| 0.00 % |") and "37x37" in rows["518"]
    assert float(rows["224"].split(" | ")[-1].split()[0]) > 2.0
