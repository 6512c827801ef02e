"""Dense grid matcher with confidence (VGGT-SC, seed 003; method spec section 4): architecture and inference.

Architecture (:class:`GridMatcherHead`, checkpoint module type ``grid_matcher``), built from any
ViT of the registry:

* the backbone's first ``frozen`` blocks run once on both images (frozen, shared, no gradient);
* the later blocks are DUPLICATED into a trainable semantic branch, initialised from the
  backbone's own blocks, that alternates frame-wise attention (each image's tokens alone: even
  branch blocks) and global attention (the two images' tokens concatenated: odd branch blocks),
  as VGGT's aggregator does. A learned frame embedding (zero at init, so step 0 runs the
  backbone's own blocks) is added to each image's tokens at the branch input so that global
  attention can tell the two images apart (their position embeddings are identical);
* a DPT-style head (:mod:`.grid_matcher_dpt`) on four block outputs ``taps`` predicts, for every
  canvas pixel of each image, a 2-channel sampling grid in [-1, 1] (where the pixel lies in the
  OTHER image's canvas, ``grid_sample`` coordinates, ``align_corners=False``: see
  :func:`corrviz.core.transforms.grid_to_pixels`) and a confidence in [0, 1]. Both directions
  come from one forward (s->t from image s's head output, t->s from image t's).

The grid is parametrised around the identity: ``grid = tanh(atanh(identity) + raw)``, so an
untrained head (raw = 0) predicts "every pixel stays where it is" and the grid never leaves
[-1, 1]; confidence = ``sigmoid(raw_conf)``.

Paper sizes (24 blocks, first 4 frozen, taps 4/11/17/23, DPT width 256) and small-backbone sizes
are two configs of the same class (:func:`scaled_taps`). Inference: :func:`predict_flow` (a pair
of images -> dense flow + confidence in both directions, in original image pixels) and
:meth:`DenseFlow.match` (point matches read from the grid).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .backbones.base import Backbone
from .grid_matcher_dpt import DPTHead
from .heads import AdaptedBackbone, register_head
from .transforms import CanvasTransform, grid_to_pixels, identity_grid, render_canvas

PAPER_DEPTH, PAPER_FROZEN, PAPER_TAPS = 24, 4, (4, 11, 17, 23)


def scaled_taps(depth: int, taps: tuple[int, ...] = PAPER_TAPS, paper_depth: int = PAPER_DEPTH) -> list[int]:
    """The paper's taps (block indices of a 24-block ViT) scaled to ``depth`` blocks; the last stays last.

    12 blocks -> [2, 5, 8, 11]; 24 -> [4, 11, 17, 23].
    """
    out = [int(t * depth // paper_depth) for t in taps]
    out[-1] = depth - 1
    return out


def warp_by_grid(image: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Sample ``image`` (B, C, H, W) at ``grid`` (B, h, w, 2): bilinear, zeros outside, align_corners=False.

    The ONE warping function of the grid matcher: its losses, its metric and its tests use it.
    ``out[b, :, i, j]`` is ``image[b]`` at the point ``grid[b, i, j]`` (so to bring image s into
    image t's frame, pass the t -> s grid).
    """
    return F.grid_sample(image, grid.to(image.dtype), mode="bilinear", padding_mode="zeros", align_corners=False)


class GridMatcherHead(nn.Module):
    """Semantic branch + DPT head (see the module docstring); holds no frozen base weight."""

    def __init__(self, backbone: Backbone, frozen: int, taps: list[int], features: int = 256) -> None:
        super().__init__()
        if backbone.config.family != "vit" or not hasattr(backbone, "model"):
            raise ValueError(f"the grid matcher needs a ViT backbone, {backbone.name} is {backbone.config.family}")
        depth = int(backbone.config.depth)
        taps = [int(t) + depth if int(t) < 0 else int(t) for t in taps]
        if len(taps) != 4 or sorted(taps) != taps or not all(0 <= t < depth for t in taps):
            raise ValueError(f"grid matcher taps {taps}: four increasing block indices in [0, {depth}) are needed")
        if not 0 <= int(frozen) <= taps[-1]:
            raise ValueError(f"grid matcher: {frozen} frozen blocks leave no trainable block before tap {taps[-1]}")
        self.frozen, self.taps, self.depth = int(frozen), taps, depth
        dim = int(backbone.config.embed_dim)
        # trainable copies of blocks frozen..last tap (the base blocks stay frozen in the backbone)
        self.branch = nn.ModuleList([copy.deepcopy(backbone.model.blocks[i]) for i in range(self.frozen, taps[-1] + 1)])
        self.frame_embed = nn.Parameter(torch.zeros(2, dim))
        self.head = DPTHead(dim, int(features), out_channels=3)
        last = self.head.head[-1]  # zero output layer: an untrained matcher predicts the identity, confidence 0.5
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    @staticmethod
    def is_global(k: int) -> bool:
        """Branch block ``k`` (0 = the first trainable block) attends across both images when odd."""
        return k % 2 == 1

    def forward(self, backbone: Backbone, canvases: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Canvases (2B, 3, H, W) ordered [s_0..s_B-1, t_0..t_B-1] -> grids (2B, H, W, 2), confidence (2B, H, W).

        Row ``k < B`` is the s->t grid of pair k (where each pixel of s lies in t); row ``B + k`` its t->s grid.
        """
        n2, _, height, width = canvases.shape
        if n2 % 2:
            raise ValueError(f"grid matcher: expected an even number of canvases (s then t), got {n2}")
        b = n2 // 2
        m = backbone.model  # type: ignore[attr-defined]
        collected: dict[int, torch.Tensor] = {}
        with torch.no_grad():
            x, gh, gw = backbone.prepare_tokens(backbone.normalize(canvases))  # type: ignore[attr-defined]
            for i in range(self.frozen):
                x = m.blocks[i](x)
                if i in self.taps:
                    collected[i] = x
        x = x.detach()
        frame = torch.cat([self.frame_embed[:1].expand(b, -1), self.frame_embed[1:].expand(b, -1)])
        x = x + frame[:, None, :].to(x.dtype)
        n = x.shape[1]
        for k, blk in enumerate(self.branch):
            if self.is_global(k):
                both = torch.cat([x[:b], x[b:]], dim=1)  # (B, 2N, D): tokens of s then t
                both = blk(both)
                x = torch.cat([both[:, :n], both[:, n:]], dim=0)
            else:
                x = blk(x)
            if self.frozen + k in self.taps:
                collected[self.frozen + k] = x
        prefix = int(backbone.num_prefix)  # type: ignore[attr-defined]
        grids = [collected[t][:, prefix:].transpose(1, 2).reshape(n2, -1, gh, gw) for t in self.taps]
        raw = self.head(grids, (height, width)).float()
        ident = identity_grid(height, width, device=raw.device).clamp(-1 + 1e-6, 1 - 1e-6)
        grid = torch.tanh(torch.atanh(ident)[None] + raw[:, :2].permute(0, 2, 3, 1))
        return grid, torch.sigmoid(raw[:, 2])


@register_head("grid_matcher")
def _grid_matcher(backbone: Backbone, spec: dict) -> nn.Module:
    depth = int(backbone.config.depth)
    taps = spec.get("taps") or scaled_taps(depth)
    frozen = int(spec.get("frozen", PAPER_FROZEN * depth // PAPER_DEPTH))
    return GridMatcherHead(backbone, frozen, list(taps), int(spec.get("features", 256)))


def grid_matcher_spec(backbone: Backbone, frozen: int | None = None, taps: list[int] | None = None,
                      features: int = 256) -> dict:
    """The checkpoint module spec of a grid matcher on ``backbone`` (paper sizes scaled to its depth by default)."""
    depth = int(backbone.config.depth)
    return {"type": "grid_matcher", "frozen": int(PAPER_FROZEN * depth // PAPER_DEPTH if frozen is None else frozen),
            "taps": list(taps) if taps else scaled_taps(depth), "features": int(features)}


def find_grid_matcher(model: Backbone) -> GridMatcherHead | None:
    """The grid matcher module of an adapted backbone (a checkpoint), or None."""
    if isinstance(model, AdaptedBackbone):
        for head in model.heads:
            if isinstance(head, GridMatcherHead):
                return head
    return None


def pair_forward(model: AdaptedBackbone, canvas_s: torch.Tensor, canvas_t: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, 3, H, W) canvases -> grid_st, conf_s, grid_ts, conf_t (grids (B, H, W, 2) in [-1, 1])."""
    head = find_grid_matcher(model)
    if head is None:
        raise ValueError(f"{model.name}: not a grid matcher checkpoint (no 'grid_matcher' module)")
    grid, conf = head(model.base_view(), torch.cat([canvas_s, canvas_t]))
    b = canvas_s.shape[0]
    return grid[:b], conf[:b], grid[b:], conf[b:]


@dataclass
class DenseFlow:
    """Dense correspondence of a pair in ORIGINAL image pixels.

    ``st[y, x]`` (canvas-pixel lattice of s, shape (Hc, Wc, 2)) is where canvas pixel (x, y) of s
    lies in image t, as t image pixels; ``conf_st`` its confidence; likewise ``ts`` / ``conf_ts``.
    ``transform_s`` / ``transform_t`` map image pixels to each canvas.
    """

    st: np.ndarray
    conf_st: np.ndarray
    ts: np.ndarray
    conf_ts: np.ndarray
    transform_s: CanvasTransform
    transform_t: CanvasTransform

    def match(self, xy_s: np.ndarray, reverse: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Points (N, 2) of s (or of t with ``reverse``) -> their matches (N, 2) in the other image and confidence (N,).

        The grid is read bilinearly at each point's canvas position (align_corners=False).
        """
        flow, conf, t = (self.ts, self.conf_ts, self.transform_t) if reverse else (self.st, self.conf_st,
                                                                                     self.transform_s)
        pts = np.asarray(xy_s, np.float64).reshape(-1, 2)
        c = t.image_to_canvas(pts)
        h, w = flow.shape[:2]
        g = torch.from_numpy(np.stack([2 * c[:, 0] / w - 1, 2 * c[:, 1] / h - 1], -1)).float()[None, None]
        maps = torch.from_numpy(np.concatenate([flow, conf[..., None]], -1)).float().permute(2, 0, 1)[None]
        out = F.grid_sample(maps, g, mode="bilinear", padding_mode="border", align_corners=False)[0, :, 0].T
        return out[:, :2].double().numpy(), out[:, 2].double().numpy()


def flow_matches(flow: DenseFlow, xy_s: np.ndarray, target_size: tuple[int, int]):  # noqa: ANN201
    """:class:`~corrviz.core.matching.Matches` of source points read from a flow: score = confidence, valid =
    the match lands inside the target image (``target_size`` = (W, H))."""
    from .matching import Matches

    pts = np.asarray(xy_s, np.float64).reshape(-1, 2)
    trg_xy, conf = flow.match(pts)
    w, h = target_size
    inside = (trg_xy[:, 0] >= 0) & (trg_xy[:, 0] <= w) & (trg_xy[:, 1] >= 0) & (trg_xy[:, 1] <= h)
    return Matches(pts, trg_xy, conf, inside, "grid", confidence=conf)


def _to_image_pixels(grid: torch.Tensor, t: CanvasTransform) -> np.ndarray:
    canvas_xy = grid_to_pixels(grid.float(), t.canvas_w, t.canvas_h).cpu().double().numpy()
    return t.canvas_to_image(canvas_xy)


@torch.no_grad()
def predict_flow(model: AdaptedBackbone, image_s: np.ndarray, image_t: np.ndarray, resolution: int | None = None,
                 canvas: str = "pad_center") -> DenseFlow:
    """Dense flow + confidence of a pair of (H, W, 3) uint8 images, both directions (see :class:`DenseFlow`)."""
    res = int(resolution or model.feature.get("resolution") or model.config.default_resolution)
    stride = model.feature_stride()
    ts = CanvasTransform.create((image_s.shape[1], image_s.shape[0]), res, stride, canvas)
    tt = CanvasTransform.create((image_t.shape[1], image_t.shape[0]), res, stride, canvas)
    dev = next(iter(model.parameters())).device

    def tensor(img: np.ndarray, tr: CanvasTransform) -> torch.Tensor:
        c = render_canvas(img, tr)
        c = c.astype(np.float32) / 255.0 if c.dtype == np.uint8 else c.astype(np.float32)
        return torch.from_numpy(c).permute(2, 0, 1)[None].to(dev)

    g_st, c_s, g_ts, c_t = pair_forward(model, tensor(image_s, ts), tensor(image_t, tt))
    return DenseFlow(_to_image_pixels(g_st[0], tt), c_s[0].float().cpu().numpy(),
                     _to_image_pixels(g_ts[0], ts), c_t[0].float().cpu().numpy(), ts, tt)
