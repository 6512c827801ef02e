"""VGGT-SC training data: rendered view pairs with EXACT dense correspondence and visibility.

Objects and held-out rules are MEF's (:mod:`.mef_data`: procedural objects, training seeds >=
1000, categories mug / table / torus / bowl never trained; the same render cache). Views are
rendered at the model resolution, so the canvas is the image (no resampling of the ground truth).

One item = one ordered view pair (s, t) with relative rotation <= ``data.max_rotation_deg``:

* ``images`` (2, 3, R, R) float in [0, 1] (s, t; optional colour jitter, the geometry untouched);
* ``masks`` (2, R, R): foreground of s and of t;
* ``gt`` (2, R, R, 2): for every pixel centre of s its exact position in t as grid coordinates
  (row 0; ray casting the mesh, :meth:`ViewSet.correspondence`), and the same for t -> s (row 1);
  ``valid`` (2, R, R): foreground AND visible in the other view (not occluded, inside its frame);
* sparse keypoints ``kp_src`` / ``kp_dst`` (2, K, 2) canvas pixels and ``kp_valid`` (2, K):
  K = ``data.keypoints`` points per direction drawn from the exact correspondences (the stage-2
  "sparse" signal on synthetic objects; see the results section for why these are surface points).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from corrviz.core.errors import DatasetError
from corrviz.core.render import ViewSet
from corrviz.core.transforms import pixels_to_grid

from ..method import TrainData
from .mef_data import _compact, cached_view_set, colour_jitter, object_list


def dense_correspondence(vs: ViewSet, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 2) pixel positions in view b of every pixel centre of view a, and (H, W) validity."""
    va = vs.views[a]
    px = va.foreground_pixels()
    xy = np.zeros((va.height, va.width, 2), np.float64)
    valid = np.zeros((va.height, va.width), bool)
    if len(px):
        gt, ok = vs.correspondence(a, b, px)
        cols, rows = np.floor(px).astype(int).T
        xy[rows, cols] = np.where(ok[:, None], gt, 0.0)
        valid[rows, cols] = ok
    return xy, valid


class VGGTSCData(TrainData):
    """Index-addressable view pairs with dense ground truth (see the module docstring)."""

    def __init__(self, cfg: Any) -> None:
        d = cfg.data
        self.cfg = cfg
        self.resolution = int(cfg.model.resolution)
        if int(d.render_resolution) != self.resolution:
            raise DatasetError(f"config keys 'data.render_resolution' ({d.render_resolution}) and 'model.resolution' "
                               f"({self.resolution}) must be equal: the dense ground truth is per canvas pixel")
        self.view_sets: list[ViewSet] = []
        self.items: list[tuple[int, int, int]] = []
        for o, (name, seed) in enumerate(object_list(d)):
            vs = _compact(cached_view_set(name, seed, int(d.n_views), self.resolution))
            self.view_sets.append(vs)
            self.items += [(o, a, b) for a, b in vs.view_pairs(float(d.max_rotation_deg))]
        if not self.items:
            raise DatasetError(f"no view pair within {d.max_rotation_deg} degrees in the training objects")

    def __len__(self) -> int:
        return len(self.items)

    def _keypoints(self, xy: np.ndarray, valid: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        k = int(self.cfg.data.keypoints)
        rows, cols = np.nonzero(valid)
        src = np.zeros((k, 2))
        dst = np.zeros((k, 2))
        ok = np.zeros(k, bool)
        if len(rows) and k:
            pick = rng.choice(len(rows), size=min(k, len(rows)), replace=False)
            n = len(pick)
            src[:n] = np.stack([cols[pick] + 0.5, rows[pick] + 0.5], 1)
            dst[:n] = xy[rows[pick], cols[pick]]
            ok[:n] = True
        return src, dst, ok

    def sample(self, index: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        o, a, b = self.items[index]
        vs = self.view_sets[o]
        r = self.resolution
        images, masks, gts, valids, kps, kpd, kpv = [], [], [], [], [], [], []
        for x, y in ((a, b), (b, a)):
            v = vs.views[x]
            img = torch.from_numpy(v.rgb).permute(2, 0, 1).float() / 255.0
            images.append(colour_jitter(img, rng, self.cfg.data.aug) * torch.from_numpy(v.mask)[None])
            masks.append(torch.from_numpy(v.mask.astype(np.float32)))
            xy, valid = dense_correspondence(vs, x, y)
            gts.append(pixels_to_grid(torch.from_numpy(xy).float(), r, r))
            valids.append(torch.from_numpy(valid))
            s, d, ok = self._keypoints(xy, valid, rng)
            kps.append(s)
            kpd.append(d)
            kpv.append(ok)
        f32 = torch.float32
        return {"images": torch.stack(images), "masks": torch.stack(masks), "gt": torch.stack(gts),
                "valid": torch.stack(valids), "kp_src": torch.as_tensor(np.stack(kps), dtype=f32),
                "kp_dst": torch.as_tensor(np.stack(kpd), dtype=f32), "kp_valid": torch.as_tensor(np.stack(kpv))}

    def collate(self, items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Stack pairs: every tensor (B, 2, ...) -> (2B, ...) ordered [s_0..s_B-1, t_0..t_B-1]."""
        out = {}
        for key in items[0]:
            x = torch.stack([it[key] for it in items])  # (B, 2, ...)
            out[key] = torch.cat([x[:, 0], x[:, 1]])
        return out
