"""6-DoF pose metrics: rotation / translation error, cm-deg accuracy (OnePose) and ADD(-S).

A pose is an OpenCV object-to-camera transform ``x_cam = R @ x_obj + t`` (``R`` (3, 3), ``t`` (3,)),
the same convention as a view's ``world_to_cam`` (corrviz's objects live in the world frame).

* rotation error: the angle of ``R_est^T R_gt`` in degrees, ``arccos((trace - 1) / 2)``;
* translation error: ``||t_est - t_gt||`` in object units, reported in object-diameter units and in
  cm for a stated object diameter (``object_size_cm``);
* ``n cm - n deg`` accuracy (OnePose, Sun et al. 2022): a pose is correct when its rotation error
  is below n degrees AND its translation error below n cm; thresholds 1, 3 and 5;
* ADD (Hinterstoisser et al. 2012): the mean distance between the model points moved by the
  estimate and by the ground truth; ADD-S: the mean distance from each point moved by the
  estimate to the CLOSEST point moved by the ground truth (symmetric objects). A pose is correct
  when the value is below ``0.1 * diameter``; ADD(-S) takes ADD-S for symmetric objects, ADD otherwise.

A query without a pose has infinite errors: it counts as incorrect in every accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CM_DEG_THRESHOLDS: tuple[float, ...] = (1.0, 3.0, 5.0)
ADD_FRACTION = 0.1


def rotation_error_deg(r_est: np.ndarray, r_gt: np.ndarray) -> float:
    """Geodesic angle (degrees) between two rotations."""
    rel = np.asarray(r_est, dtype=np.float64).T @ np.asarray(r_gt, dtype=np.float64)
    cos = (np.trace(rel) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def translation_error(t_est: np.ndarray, t_gt: np.ndarray) -> float:
    """Euclidean distance between two translations (object units)."""
    return float(np.linalg.norm(np.asarray(t_est, np.float64).reshape(3) - np.asarray(t_gt, np.float64).reshape(3)))


def transform(points: np.ndarray, rot: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``R @ x + t`` for every row of ``points`` (N, 3)."""
    return np.asarray(points, np.float64) @ np.asarray(rot, np.float64).T + np.asarray(t, np.float64).reshape(1, 3)


def add_distance(points: np.ndarray, r_est: np.ndarray, t_est: np.ndarray, r_gt: np.ndarray,
                 t_gt: np.ndarray) -> float:
    """ADD: mean ||(R_e x + t_e) - (R_g x + t_g)|| over the model points."""
    return float(np.mean(np.linalg.norm(transform(points, r_est, t_est) - transform(points, r_gt, t_gt), axis=1)))


def add_s_distance(points: np.ndarray, r_est: np.ndarray, t_est: np.ndarray, r_gt: np.ndarray,
                   t_gt: np.ndarray) -> float:
    """ADD-S: mean over x of min over y of ||(R_e x + t_e) - (R_g y + t_g)||."""
    from scipy.spatial import cKDTree

    moved_gt = transform(points, r_gt, t_gt)
    dist, _ = cKDTree(moved_gt).query(transform(points, r_est, t_est), k=1)
    return float(np.mean(dist))


def diameter(points: np.ndarray) -> float:
    """Largest distance between two of ``points`` (N, 3) (over their convex hull)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(pts) < 2:
        return 0.0
    try:
        from scipy.spatial import ConvexHull

        pts = pts[ConvexHull(pts).vertices]
    except Exception:  # noqa: BLE001 - flat or degenerate sets: all points (qhull raises its own error type)
        pass
    best = 0.0
    for a in range(0, len(pts), 2048):
        d = np.linalg.norm(pts[a:a + 2048, None, :] - pts[None, :, :], axis=2)
        best = max(best, float(d.max()))
    return best


def sample_surface(vertices: np.ndarray, faces: np.ndarray, n: int = 2000, seed: int = 0) -> np.ndarray:
    """``n`` points uniform over the mesh surface (area-weighted triangles, seeded): ADD's model points."""
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64)
    area = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1)
    rng = np.random.default_rng(seed)
    tri = rng.choice(len(f), size=n, p=area / area.sum())
    r1, r2 = rng.random(n), rng.random(n)
    s = np.sqrt(r1)
    w = np.stack([1.0 - s, s * (1.0 - r2), s * r2], axis=1)
    return np.einsum("nk,nkd->nd", w, v[f[tri]])


@dataclass(frozen=True)
class PoseErrors:
    """Errors of one query; ``found`` False means no pose (all errors infinite)."""

    found: bool
    rotation_deg: float
    translation: float  # object units
    translation_diam: float  # in object diameters
    translation_cm: float  # for the stated object diameter in cm
    add: float  # object units
    add_s: float
    diameter: float
    symmetric: bool

    @property
    def add_or_s(self) -> float:
        return self.add_s if self.symmetric else self.add

    def cm_deg_correct(self, threshold: float) -> bool:
        """``threshold`` cm - ``threshold`` deg accuracy (strict inequalities)."""
        return self.found and self.rotation_deg < threshold and self.translation_cm < threshold

    def add_correct(self, kind: str = "add(-s)", fraction: float = ADD_FRACTION) -> bool:
        value = {"add": self.add, "add_s": self.add_s, "add(-s)": self.add_or_s}[kind]
        return self.found and value < fraction * self.diameter


def pose_errors(r_est: np.ndarray | None, t_est: np.ndarray | None, r_gt: np.ndarray, t_gt: np.ndarray,
                model_points: np.ndarray, object_diameter: float, object_size_cm: float,
                symmetric: bool = False) -> PoseErrors:
    """Every error of one estimate against the ground truth (``r_est`` None: no pose)."""
    if object_diameter <= 0:
        raise ValueError(f"object diameter must be positive, got {object_diameter}")
    if r_est is None or t_est is None:
        inf = float("inf")
        return PoseErrors(False, inf, inf, inf, inf, inf, inf, float(object_diameter), symmetric)
    te = translation_error(t_est, t_gt)
    return PoseErrors(True, rotation_error_deg(r_est, r_gt), te, te / object_diameter,
                      te / object_diameter * object_size_cm,
                      add_distance(model_points, r_est, t_est, r_gt, t_gt),
                      add_s_distance(model_points, r_est, t_est, r_gt, t_gt), float(object_diameter), symmetric)
