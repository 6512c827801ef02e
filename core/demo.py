"""The built-in demo pair: a photo and a warped copy with an exactly known affine transform.

The source is scikit-image's ``chelsea`` photo (CC0), shipped in ``resources/demo/``; the target
is the same photo scaled by 0.8 and shifted, made by ``scripts/make_demo_assets.py``. Because the
transform is known, ``corrviz-match`` can report the PCK it achieves without any annotation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from .io import load_image


@dataclass(frozen=True)
class DemoPair:
    src: np.ndarray  # (H, W, 3) uint8
    trg: np.ndarray
    affine: np.ndarray  # (2, 3): trg_xy = A[:, :2] @ src_xy + A[:, 2] (continuous pixel coordinates)
    description: str

    def ground_truth(self, src_xy: np.ndarray) -> np.ndarray:
        return apply_affine(self.affine, src_xy)

    def inside_target(self, trg_xy: np.ndarray, margin: float = 0.0) -> np.ndarray:
        h, w = self.trg.shape[:2]
        xy = np.asarray(trg_xy)
        return (xy[:, 0] >= margin) & (xy[:, 0] <= w - margin) & (xy[:, 1] >= margin) & (xy[:, 1] <= h - margin)

    def target_content(self) -> np.ndarray:
        """(H, W) bool of the target: pixels that show the warped source, not the warp's fill border."""
        h, w = self.trg.shape[:2]
        ys, xs = np.mgrid[0:h, 0:w]
        a = np.vstack([self.affine, [0.0, 0.0, 1.0]])
        src = apply_affine(np.linalg.inv(a)[:2], np.stack([xs + 0.5, ys + 0.5], axis=-1).reshape(-1, 2))
        sh, sw = self.src.shape[:2]
        ok = (src[:, 0] >= 0) & (src[:, 0] <= sw) & (src[:, 1] >= 0) & (src[:, 1] <= sh)
        return ok.reshape(h, w)

    def score(self, src_xy: np.ndarray, trg_pred: np.ndarray, alphas: tuple[float, ...] = (0.05, 0.1),
              alpha_correct: float = 0.1) -> DemoScore:
        """PCK (img: alpha x max(W, H) of the target) of predicted matches of ``src_xy``.

        The PCK counts the points whose true match lies inside the target; ``correct`` marks every
        point whose prediction is within ``alpha_correct`` x max(W, H) of its true match.
        """
        from .metrics.pck import keypoint_errors, pair_errors, pck_correct, pck_summary

        gt = self.ground_truth(src_xy)
        inside = self.inside_target(gt)
        h, w = self.trg.shape[:2]
        pred = np.asarray(trg_pred, dtype=np.float64)
        pe = pair_errors(pred[inside], gt[inside], pair_id="demo", category="demo", trg_bbox=None,
                         trg_image_size=(w, h))
        pck = {float(a): pck_summary([pe], a, "img").per_keypoint for a in alphas}
        correct = pck_correct(keypoint_errors(pred, gt), max(w, h), alpha_correct)
        return DemoScore(pck, correct, int(inside.sum()), float(alpha_correct))


@dataclass(frozen=True)
class DemoScore:
    pck: dict[float, float]  # alpha -> PCK (img) over the n points whose true match is inside the target
    correct: np.ndarray  # (N,) bool: within alpha_correct x max(W, H) of the true match
    n_points: int
    alpha_correct: float

    def line(self) -> str:
        vals = "   ".join(f"PCK@{a:g} (image) = {v:.3f}" for a, v in self.pck.items())
        return f"{vals}   over {self.n_points} points whose true match is inside the target"


def apply_affine(affine: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine to (N, 2) points."""
    a = np.asarray(affine, dtype=np.float64)
    pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    return pts @ a[:, :2].T + a[:, 2]


def warp_affine(image: np.ndarray, affine: np.ndarray, out_size: tuple[int, int],
                border: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """Warp an image by a continuous-coordinate affine (pixel centres at +0.5) into ``out_size=(W, H)``.

    OpenCV works in pixel-index coordinates (centres at integers), so the translation is adjusted:
    ``t' = A @ (0.5, 0.5) + t - 0.5``.
    """
    import cv2

    a = np.asarray(affine, dtype=np.float64)
    m = a.copy()
    m[:, 2] = a[:, :2] @ np.array([0.5, 0.5]) + a[:, 2] - 0.5
    return cv2.warpAffine(image, m, out_size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=border)


def demo_pair() -> DemoPair:
    """Load the shipped demo pair and its ground-truth transform."""
    from corrviz.resources import resource_path

    meta = json.loads(resource_path("demo", "demo_pair.json").read_text())
    return DemoPair(load_image(resource_path("demo", meta["source"])),
                    load_image(resource_path("demo", meta["target"])),
                    np.asarray(meta["affine"], dtype=np.float64), meta["description"])
