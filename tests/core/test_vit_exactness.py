"""Features of a tiny random-init DINOv2-style ViT equal an independent computation from its weights.

The reference below re-implements the ViT forward from the block parameters (patch embedding as a
matrix product, LayerNorm, attention, LayerScale, MLP) and the official DINOv2 position rule from
its definition: bicubic, antialias off, scale factor (new + 0.1) / old.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from corrviz.core.backbones import create_backbone

FACETS = ("prenorm", "norm", "key", "query", "value")


def _perturbed(name: str, seed: int = 0):
    bb = create_backbone(name)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in bb.model.named_parameters():  # non-trivial biases, norms, LayerScale, positions
            p.add_(torch.randn(p.shape, generator=g) * (0.5 if "pos_embed" in name else 0.02))
    return bb


def _ln(x, m):
    return F.layer_norm(x, (x.shape[-1],), m.weight, m.bias, m.eps)


def _official_pos(patch_pos, gh, gw):
    """The official rule; like DINOv2's code it interpolates in float32 (``pos_embed.float()``)."""
    dtype = patch_pos.dtype
    patch_pos = patch_pos.float()
    n, d = patch_pos.shape[1], patch_pos.shape[2]
    m = int(math.isqrt(n))
    if (gh, gw) == (m, m):
        return patch_pos.to(dtype)
    grid = patch_pos.reshape(1, m, m, d).permute(0, 3, 1, 2)
    out = F.interpolate(grid, scale_factor=((gh + 0.1) / m, (gw + 0.1) / m), mode="bicubic", antialias=False)
    assert out.shape[-2:] == (gh, gw)
    return out.permute(0, 2, 3, 1).reshape(1, gh * gw, d).to(dtype)


def reference_features(bb, img, layer, facet):
    """Independent forward in float64: returns (D, gh, gw) for the tap."""
    import copy

    m = copy.deepcopy(bb.model).double()
    img = img.double()
    mean = torch.tensor(bb.config.mean, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(bb.config.std, dtype=torch.float64).view(1, 3, 1, 1)
    x = (img - mean) / std
    p = bb.config.patch_size
    _, _, h, w = x.shape
    gh, gw = h // p, w // p
    patches = x.unfold(2, p, p).unfold(3, p, p)  # 1, 3, gh, gw, p, p
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(1, gh * gw, 3 * p * p)
    wpe = m.patch_embed.proj.weight.reshape(m.patch_embed.proj.weight.shape[0], -1)
    tok = patches @ wpe.T + m.patch_embed.proj.bias
    regs = bb.config.num_registers
    if regs:  # timm stores DINOv2-reg with the class position folded into cls_token
        tok = tok + _official_pos(m.pos_embed, gh, gw)
        prefix = torch.cat([m.cls_token, m.reg_token], dim=1)
    else:
        tok = tok + _official_pos(m.pos_embed[:, 1:], gh, gw)
        prefix = m.cls_token + m.pos_embed[:, :1]
    x = torch.cat([prefix, tok], dim=1)
    nh = m.blocks[0].attn.num_heads
    for i in range(layer + 1):
        blk = m.blocks[i]
        hdn = _ln(x, blk.norm1)
        qkv = hdn @ blk.attn.qkv.weight.T + blk.attn.qkv.bias
        q, k, v = qkv.chunk(3, dim=-1)
        if i == layer and facet in ("key", "query", "value"):
            out = {"query": q, "key": k, "value": v}[facet]
            return out[0, 1 + regs:].T.reshape(-1, gh, gw)
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
    if facet == "norm":
        x = _ln(x, m.norm)
    return x[0, 1 + regs:].T.reshape(-1, gh, gw)


@pytest.fixture(scope="module")
def tiny():
    return _perturbed("test_dinov2_tiny")


@pytest.mark.parametrize("size", [(518, 518), (224, 224), (448, 448), (840, 840), (224, 308)])
def test_all_facets_and_layers_match_reference(tiny, size):
    torch.manual_seed(1)
    img = torch.rand(1, 3, *size)
    worst = 0.0
    with torch.no_grad():
        for layer in range(tiny.config.depth):
            for facet in FACETS:
                ours = tiny.forward_features(img, layer=layer, facet=facet)[0]
                ref = reference_features(tiny, img, layer, facet).float()
                assert ours.shape == ref.shape == (tiny.config.embed_dim, size[0] // 14, size[1] // 14)
                worst = max(worst, (ours - ref).abs().max().item())
    assert worst < 1e-5


def test_registers_model_matches_reference():
    bb = _perturbed("test_dinov2_tiny_reg4", seed=3)
    img = torch.rand(1, 3, 448, 448)
    with torch.no_grad():
        for facet in FACETS:
            ours = bb.forward_features(img, layer=-1, facet=facet)[0]
            ref = reference_features(bb, img, bb.config.depth - 1, facet).float()
            assert (ours - ref).abs().max().item() < 1e-5


def test_negative_layer_equals_positive_index(tiny):
    img = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(tiny.forward_features(img, layer=-1), tiny.forward_features(img, layer=2))


def test_timm_style_resizing_differs_from_official(tiny):
    """The test can fail: timm's size-based antialiased resize is measurably different."""
    from timm.layers import resample_abs_pos_embed

    patch_pos = tiny.model.pos_embed[:, 1:]
    official = _official_pos(patch_pos.double(), 16, 16).float()
    timm_style = resample_abs_pos_embed(patch_pos, new_size=(16, 16), old_size=(37, 37), num_prefix_tokens=0)
    assert (official - timm_style).abs().max().item() > 1e-3
    assert torch.allclose(tiny.patch_pos_embed(16, 16), official, atol=1e-5)
