"""DIY-SC losses (method spec section 5), each checked against a hand-computed case in the tests.

* :func:`clip_loss`: sparse symmetric contrastive loss over one pair's K labelled points. Logits
  ``exp(logit_scale) * <f_s_i, f_t_j>`` on L2-normalised features; the mean of the row-wise
  cross-entropy (source i should pick target i) and the column-wise one (target j -> source j).
* :func:`soft_argmax_loss`: the dense loss. For each source point, the cosine similarity of its
  feature to every target cell, window soft-argmax (softmax of sim / beta inside a (2r+1)^2 window at
  the argmax: :func:`corrviz.core.matching.window_soft_argmax`, the inference matcher), mapped to
  image pixels, against the pseudo-label plus Gaussian noise (std ``noise_std`` pixels, the method's
  0.1 x bbox / 2; zero in validation); the mean Euclidean distance divided by ``scale`` (the target
  image's longer side, so the loss is in units of the image and independent of its size).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from corrviz.core.matching import window_soft_argmax


def clip_loss(src: torch.Tensor, trg: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """src, trg (K, C) features of corresponding points (row i <-> row i); scalar loss."""
    if src.shape != trg.shape or src.dim() != 2:
        raise ValueError(f"clip_loss expects two (K, C) tensors of one shape, got {tuple(src.shape)}, {tuple(trg.shape)}")
    logits = logit_scale.exp() * F.normalize(src, dim=1) @ F.normalize(trg, dim=1).T
    target = torch.arange(len(src), device=src.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def soft_argmax_points(src_feats: torch.Tensor, trg_grid: torch.Tensor, radius: int, beta: float) -> torch.Tensor:
    """Window soft-argmax grid coordinates (K, 2) as (u, v) of source point features (K, C) over a target grid (C, h, w)."""
    c, h, w = trg_grid.shape
    sim = F.normalize(src_feats, dim=1) @ F.normalize(trg_grid.reshape(c, -1), dim=0)
    return window_soft_argmax(sim.reshape(-1, h, w), radius, beta)


def soft_argmax_loss(pred_xy: torch.Tensor, label_xy: torch.Tensor, scale: float,
                     noise: torch.Tensor | None = None) -> torch.Tensor:
    """Mean || pred - (label + noise) || / scale over the K points (pixels in, image units out)."""
    target = label_xy if noise is None else label_xy + noise
    return torch.linalg.vector_norm(pred_xy - target, dim=1).mean() / float(scale)
