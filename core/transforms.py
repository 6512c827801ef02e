"""Coordinate transforms between original image pixels, the model canvas and the patch grid.

Conventions (one place, used everywhere):

* Image coordinates are continuous ``(x, y)`` with the image spanning ``[0, W] x [0, H]``;
  ``x`` is the column axis, ``y`` the row axis. Arrays are row-major ``(H, W, ...)``.
* The *canvas* is what the backbone sees (``canvas_w x canvas_h`` pixels). The image is mapped
  onto it by a per-axis scale and offset: ``x_c = x * sx + ox``, ``y_c = y * sy + oy``.
* The *grid* is the patch grid of ``grid_w x grid_h`` cells of ``stride`` canvas pixels.
  Continuous grid coordinates put the centre of cell ``(i, j)`` (row ``i``, column ``j``) at
  ``(u, v) = (j, i)``, i.e. at canvas pixel ``((j + 0.5) * stride, (i + 0.5) * stride)`` -- the
  patch-centre convention of section 0 of the method spec. Probe3D's corner convention is
  available with ``cell_anchor="corner"``.
* *Normalised* coordinates are those of ``torch.nn.functional.grid_sample`` with
  ``align_corners=False`` on the patch grid: ``-1`` and ``1`` are the outer edges of the grid.

Three canvas modes:

``pad_center``  sd-dino lineage: resize keeping aspect so the long side is the canvas side, centre
                the result on a square canvas with zero (black) padding.
``pad_br_white`` Probe3D: pad bottom/right with white to a square, then resize to the canvas.
``resize``      plain resize of each axis to the canvas size (aspect not kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from .errors import ResolutionError

CanvasMode = Literal["pad_center", "pad_br_white", "resize"]
CANVAS_MODES: tuple[str, ...] = ("pad_center", "pad_br_white", "resize")


@dataclass(frozen=True)
class CanvasTransform:
    """Exact mapping between one image's pixels and a feature grid (and back)."""

    image_w: int
    image_h: int
    canvas_w: int
    canvas_h: int
    sx: float
    sy: float
    ox: float
    oy: float
    stride: int
    mode: str
    # Region of the canvas covered by the image (after resizing), in canvas pixels.
    content_w: int
    content_h: int
    cell_anchor: Literal["center", "corner"] = "center"

    # ------------------------------------------------------------------ construction ---
    @staticmethod
    def create(image_size: tuple[int, int], canvas: int | tuple[int, int], stride: int,
               mode: str = "pad_center", cell_anchor: Literal["center", "corner"] = "center"
               ) -> CanvasTransform:
        """Build the transform for an image of ``image_size = (W, H)``.

        ``canvas`` is the canvas side (square) or ``(canvas_w, canvas_h)``; each side must be a
        multiple of ``stride``. Padding modes need a square canvas.
        """
        w, h = int(image_size[0]), int(image_size[1])
        if w < 1 or h < 1:
            raise ResolutionError(f"image size must be positive, got {w}x{h}")
        cw, ch = (int(canvas), int(canvas)) if np.isscalar(canvas) else (int(canvas[0]), int(canvas[1]))
        if cw % stride or ch % stride or cw <= 0 or ch <= 0:
            raise ResolutionError(
                f"resolution {cw}x{ch} is not a multiple of the patch size {stride}; "
                f"use e.g. {max(stride, round(cw / stride) * stride)}")
        if mode not in CANVAS_MODES:
            raise ValueError(f"unknown canvas mode {mode!r}; choose one of {', '.join(CANVAS_MODES)}")
        if mode == "resize":
            return CanvasTransform(w, h, cw, ch, cw / w, ch / h, 0.0, 0.0, stride, mode, cw, ch,
                                   cell_anchor)
        if cw != ch:
            raise ResolutionError(f"canvas mode {mode!r} needs a square canvas, got {cw}x{ch}")
        if mode == "pad_center":
            s = cw / max(w, h)
            nw, nh = max(1, round(w * s)), max(1, round(h * s))
            ox, oy = (cw - nw) // 2, (ch - nh) // 2
            return CanvasTransform(w, h, cw, ch, nw / w, nh / h, float(ox), float(oy), stride, mode,
                                   nw, nh, cell_anchor)
        # pad_br_white: pad to a square of side L = max(W, H) at the top-left, then resize to cw.
        side = max(w, h)
        s = cw / side
        return CanvasTransform(w, h, cw, ch, s, s, 0.0, 0.0, stride, mode,
                               round(w * s), round(h * s), cell_anchor)

    # ------------------------------------------------------------------ properties -----
    @property
    def grid_w(self) -> int:
        return self.canvas_w // self.stride

    @property
    def grid_h(self) -> int:
        return self.canvas_h // self.stride

    @property
    def grid_shape(self) -> tuple[int, int]:
        """(rows, cols) of the patch grid."""
        return self.grid_h, self.grid_w

    @property
    def _anchor(self) -> float:
        return 0.5 if self.cell_anchor == "center" else 0.0

    # ------------------------------------------------------------------ image <-> canvas
    def image_to_canvas(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, dtype=np.float64)
        return np.stack([xy[..., 0] * self.sx + self.ox, xy[..., 1] * self.sy + self.oy], axis=-1)

    def canvas_to_image(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, dtype=np.float64)
        return np.stack([(xy[..., 0] - self.ox) / self.sx, (xy[..., 1] - self.oy) / self.sy], axis=-1)

    # ------------------------------------------------------------------ canvas <-> grid
    def canvas_to_grid(self, xy: np.ndarray) -> np.ndarray:
        """Canvas pixels -> continuous grid coordinates ``(u, v)`` (cell centre at integers)."""
        xy = np.asarray(xy, dtype=np.float64)
        return xy / self.stride - self._anchor

    def grid_to_canvas(self, uv: np.ndarray) -> np.ndarray:
        uv = np.asarray(uv, dtype=np.float64)
        return (uv + self._anchor) * self.stride

    # ------------------------------------------------------------------ image <-> grid
    def image_to_grid(self, xy: np.ndarray) -> np.ndarray:
        return self.canvas_to_grid(self.image_to_canvas(xy))

    def grid_to_image(self, uv: np.ndarray) -> np.ndarray:
        return self.canvas_to_image(self.grid_to_canvas(uv))

    def image_to_cell(self, xy: np.ndarray) -> np.ndarray:
        """Image pixels -> integer cell index ``(row, col)`` containing the point (clipped)."""
        c = self.image_to_canvas(xy) / self.stride
        col = np.clip(np.floor(c[..., 0]), 0, self.grid_w - 1).astype(np.int64)
        row = np.clip(np.floor(c[..., 1]), 0, self.grid_h - 1).astype(np.int64)
        return np.stack([row, col], axis=-1)

    def cell_to_image(self, rc: np.ndarray) -> np.ndarray:
        """Integer cell index ``(row, col)`` -> image pixel of the cell anchor (centre)."""
        rc = np.asarray(rc, dtype=np.float64)
        return self.grid_to_image(np.stack([rc[..., 1], rc[..., 0]], axis=-1))

    # ------------------------------------------------------------------ grid_sample space
    def image_to_normalized(self, xy: np.ndarray) -> np.ndarray:
        """Image pixels -> ``grid_sample`` coordinates in [-1, 1] (align_corners=False)."""
        c = self.image_to_canvas(xy)
        if self.cell_anchor == "corner":  # cell corner sits where the centre convention has centre
            c = c + 0.5 * self.stride
        return np.stack([2.0 * c[..., 0] / self.canvas_w - 1.0, 2.0 * c[..., 1] / self.canvas_h - 1.0],
                        axis=-1)

    # ------------------------------------------------------------------ helpers
    def cell_centers_image(self) -> np.ndarray:
        """Image coordinates of every cell anchor, shape (grid_h, grid_w, 2) as (x, y)."""
        jj, ii = np.meshgrid(np.arange(self.grid_w), np.arange(self.grid_h))
        return self.grid_to_image(np.stack([jj, ii], axis=-1).astype(np.float64))

    def content_mask(self) -> np.ndarray:
        """Boolean (grid_h, grid_w): cells whose anchor falls inside the image (not padding)."""
        xy = self.cell_centers_image()
        return (xy[..., 0] >= 0) & (xy[..., 0] < self.image_w) & (xy[..., 1] >= 0) & (xy[..., 1] < self.image_h)

    def inner_cell_mask(self) -> np.ndarray:
        """Boolean (grid_h, grid_w): cells whose whole patch lies on image content (touches no padding).

        Cells straddling the content edge carry padding in their features; displays leave them
        uncoloured. Falls back to :meth:`content_mask` when no cell is wholly inside (a sliver image).
        """
        if self.mode == "resize":
            return np.ones(self.grid_shape, dtype=bool)
        x0, y0 = self.ox, self.oy
        x1, y1 = x0 + self.content_w, y0 + self.content_h
        cols = np.arange(self.grid_w) * self.stride
        rows = np.arange(self.grid_h) * self.stride
        ok_c = (cols >= x0 - 1e-6) & (cols + self.stride <= x1 + 1e-6)
        ok_r = (rows >= y0 - 1e-6) & (rows + self.stride <= y1 + 1e-6)
        mask = ok_r[:, None] & ok_c[None, :]
        return mask if mask.any() else self.content_mask()

    def inside_image(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, dtype=np.float64)
        return (xy[..., 0] >= 0) & (xy[..., 0] <= self.image_w) & (xy[..., 1] >= 0) & (xy[..., 1] <= self.image_h)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _resize_float(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """PIL bicubic (antialiased) resize of a float32 (H, W, C) array to ``size = (W, H)``, per channel, in float."""
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(img[..., c])).resize(
        size, Image.Resampling.BICUBIC), dtype=np.float32) for c in range(img.shape[2])], axis=-1)


def render_canvas(image: np.ndarray, t: CanvasTransform) -> np.ndarray:
    """Place an RGB image (H, W, 3) on the canvas described by ``t``; float32 in [0, 1].

    Resizing uses bicubic interpolation (antialiased when shrinking, via PIL), consistent with the
    scale in ``t``: the resized content is exactly ``content_w x content_h`` pixels. A uint8 image
    goes through PIL's 8-bit resampling (the inference path); a float32 image in [0, 1] is resampled
    in float (PIL mode ``F``), which :func:`render_canvas_torch` reproduces to float precision.
    """
    from PIL import Image

    img = np.asarray(image)
    if img.shape[0] != t.image_h or img.shape[1] != t.image_w:
        raise ValueError(f"image is {img.shape[1]}x{img.shape[0]}, transform expects {t.image_w}x{t.image_h}")
    if img.dtype == np.float32:
        if t.mode == "pad_br_white":
            side = max(t.image_w, t.image_h)
            sq = np.ones((side, side, 3), dtype=np.float32)
            sq[: t.image_h, : t.image_w] = img
            return _resize_float(sq, (t.canvas_w, t.canvas_h))
        out = np.zeros((t.canvas_h, t.canvas_w, 3), dtype=np.float32)
        ox, oy = int(t.ox), int(t.oy)
        out[oy: oy + t.content_h, ox: ox + t.content_w] = _resize_float(img, (t.content_w, t.content_h))
        return out
    if t.mode == "pad_br_white":
        side = max(t.image_w, t.image_h)
        sq = np.full((side, side, 3), 255, dtype=np.uint8)
        sq[: t.image_h, : t.image_w] = img
        pil = Image.fromarray(sq).resize((t.canvas_w, t.canvas_h), Image.Resampling.BICUBIC)
        return np.asarray(pil, dtype=np.float32) / 255.0
    pil = Image.fromarray(img).resize((t.content_w, t.content_h), Image.Resampling.BICUBIC)
    out = np.zeros((t.canvas_h, t.canvas_w, 3), dtype=np.float32)
    ox, oy = int(t.ox), int(t.oy)
    out[oy: oy + t.content_h, ox: ox + t.content_w] = np.asarray(pil, dtype=np.float32) / 255.0
    return out


def mask_to_grid(mask: np.ndarray, t: CanvasTransform, threshold: float = 0.5) -> np.ndarray:
    """Resample a boolean image mask (H, W) to the patch grid: True where the covered fraction >= threshold."""
    from PIL import Image

    m = np.asarray(mask).astype(np.float32)
    if m.shape != (t.image_h, t.image_w):
        raise ValueError(f"mask is {m.shape[1]}x{m.shape[0]}, image is {t.image_w}x{t.image_h}")
    canvas = np.zeros((t.canvas_h, t.canvas_w), dtype=np.float32)
    if t.mode == "pad_br_white":
        side = max(t.image_w, t.image_h)
        sq = np.zeros((side, side), dtype=np.float32)
        sq[: t.image_h, : t.image_w] = m
        canvas = np.asarray(Image.fromarray(sq).resize((t.canvas_w, t.canvas_h), Image.Resampling.BILINEAR))
    else:
        ox, oy = int(t.ox), int(t.oy)
        canvas[oy: oy + t.content_h, ox: ox + t.content_w] = np.asarray(
            Image.fromarray(m).resize((t.content_w, t.content_h), Image.Resampling.BILINEAR))
    s = t.stride
    cells = canvas.reshape(t.grid_h, s, t.grid_w, s).mean(axis=(1, 3))
    return cells >= threshold


# ---------------------------------------------------------------------- torch twins (training) ---
def image_to_normalized_torch(t: CanvasTransform, xy: torch.Tensor) -> torch.Tensor:
    """Torch twin of :meth:`CanvasTransform.image_to_normalized`: image pixels (..., 2) -> grid_sample space.

    Differentiable, on ``xy``'s device and dtype; equal to the numpy version to float precision.
    """
    cx = xy[..., 0] * t.sx + t.ox
    cy = xy[..., 1] * t.sy + t.oy
    if t.cell_anchor == "corner":
        cx, cy = cx + 0.5 * t.stride, cy + 0.5 * t.stride
    return torch.stack([2.0 * cx / t.canvas_w - 1.0, 2.0 * cy / t.canvas_h - 1.0], dim=-1)


def resize_torch(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Bicubic antialiased resize of (B, C, H, W) in float: PIL's kernel (a = -0.5, support widened when shrinking)."""
    if x.shape[-2:] == (h, w):
        return x
    return F.interpolate(x, size=(h, w), mode="bicubic", antialias=True, align_corners=False)


def render_canvas_torch(images: torch.Tensor, t: CanvasTransform) -> torch.Tensor:
    """Torch twin of :func:`render_canvas` for a batch: (B, 3, H, W) -> (B, 3, canvas_h, canvas_w) float in [0, 1].

    Runs on the images' device and is differentiable. A float batch in [0, 1] equals
    :func:`render_canvas` of the same float32 image to float precision. A uint8 batch is divided by
    255 and resampled in float: it differs from :func:`render_canvas` of the uint8 image only by PIL's
    8-bit rounding and clipping within its passes (measured on 15 SPair / PF-WILLOW photos at 224 to
    840 px: mean 0.2 of 255 levels, up to 27 levels at clipped overshoots of sharp edges). A single
    (3, H, W) image is accepted and returned without the batch axis.
    """
    single = images.dim() == 3
    x = images[None] if single else images
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")
    if x.shape[-2:] != (t.image_h, t.image_w):
        raise ValueError(f"images are {x.shape[-1]}x{x.shape[-2]}, transform expects {t.image_w}x{t.image_h}")
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    if t.mode == "pad_br_white":
        side = max(t.image_w, t.image_h)
        sq = x.new_ones((x.shape[0], 3, side, side))
        sq[..., : t.image_h, : t.image_w] = x
        out = resize_torch(sq, t.canvas_h, t.canvas_w)
    else:
        content = resize_torch(x, t.content_h, t.content_w)
        ox, oy = int(t.ox), int(t.oy)
        out = F.pad(content, (ox, t.canvas_w - t.content_w - ox, oy, t.canvas_h - t.content_h - oy))
    return out[0] if single else out


# ---------------------------------------------------------------------- dense sampling grids ---
def grid_to_pixels(grid: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """``grid_sample`` coordinates (..., 2) in [-1, 1] of a ``width x height`` image -> pixels (x, y).

    Convention (``align_corners=False``): -1 and 1 are the OUTER EDGES of the image, so pixel
    column ``j`` (centre ``x = j + 0.5``) sits at ``g = (2 j + 1) / W - 1``; ``x = (g + 1) W / 2``.
    The one grid <-> pixel conversion of corrviz's dense grid matcher (its losses, metrics and
    point read-out); :func:`pixels_to_grid` is the inverse.
    """
    scale = grid.new_tensor([width / 2.0, height / 2.0])
    return (grid + 1.0) * scale


def pixels_to_grid(xy: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Inverse of :func:`grid_to_pixels`: pixels (x, y) (..., 2) -> ``grid_sample`` coordinates."""
    scale = xy.new_tensor([2.0 / width, 2.0 / height])
    return xy * scale - 1.0


def identity_grid(height: int, width: int, device: torch.device | str | None = None,
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(H, W, 2) grid of every pixel centre in its own image: ``grid_sample`` with it is the identity."""
    ys, xs = torch.meshgrid(torch.arange(height, dtype=dtype, device=device) + 0.5,
                            torch.arange(width, dtype=dtype, device=device) + 0.5, indexing="ij")
    return pixels_to_grid(torch.stack([xs, ys], dim=-1), width, height)
