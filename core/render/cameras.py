"""Cameras: intrinsics, look-at extrinsics, view directions and video camera paths.

Conventions (used everywhere in :mod:`corrviz.core.render`):

* ``world_to_cam`` is a 4x4 matrix in the OpenCV convention: camera x points right, y down,
  z forward (into the scene). A world point ``X`` maps to ``R @ X + t``.
* Pixel coordinates are continuous ``(x, y)``; the image spans ``[0, W] x [0, H]`` and the
  centre of pixel (row r, column c) is ``(c + 0.5, r + 0.5)``. The principal point of
  :func:`intrinsics` is the image centre ``(W / 2, H / 2)``.
* The world is y-up: look-at cameras keep world +y pointing up in the image.
* Focal lengths are given "at 512 px" (the multiview-equivariance protocol: 560 px at 512 px)
  and scaled with the image width.
"""

from __future__ import annotations

import numpy as np

WORLD_UP = np.array([0.0, 1.0, 0.0])


def scaled_focal(focal_at_512: float, width: int) -> float:
    """Focal length in pixels for an image ``width`` pixels wide."""
    return float(focal_at_512) * float(width) / 512.0


def intrinsics(width: int, height: int, focal: float) -> np.ndarray:
    """3x3 pinhole matrix with square pixels and the principal point at the image centre."""
    return np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]])


def look_at(eye: np.ndarray, target: np.ndarray | None = None, up: np.ndarray | None = None,
            roll_deg: float = 0.0) -> np.ndarray:
    """OpenCV ``world_to_cam`` (4x4) of a camera at ``eye`` looking at ``target``.

    ``up`` (default world +y) points up in the image; when the viewing direction is parallel to
    it, world -z is used instead. ``roll_deg`` rotates the camera about its optical axis.
    """
    eye = np.asarray(eye, dtype=np.float64)
    target = np.zeros(3) if target is None else np.asarray(target, dtype=np.float64)
    up = WORLD_UP if up is None else np.asarray(up, dtype=np.float64)
    z = target - eye
    z = z / np.linalg.norm(z)
    if abs(float(np.dot(z, up))) > 0.999 * np.linalg.norm(up):
        up = np.array([0.0, 0.0, -1.0]) if abs(z[2]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = np.cross(z, up)
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    if roll_deg:
        a = np.deg2rad(roll_deg)
        x, y = np.cos(a) * x + np.sin(a) * y, -np.sin(a) * x + np.cos(a) * y
    rot = np.stack([x, y, z])
    w2c = np.eye(4)
    w2c[:3, :3] = rot
    w2c[:3, 3] = -rot @ eye
    return w2c


def camera_center(world_to_cam: np.ndarray) -> np.ndarray:
    """Camera position in world coordinates."""
    rot, t = world_to_cam[:3, :3], world_to_cam[:3, 3]
    return -rot.T @ t


def cam_to_world(world_to_cam: np.ndarray) -> np.ndarray:
    """Inverse of a rigid ``world_to_cam``."""
    rot, t = world_to_cam[:3, :3], world_to_cam[:3, 3]
    out = np.eye(4)
    out[:3, :3] = rot.T
    out[:3, 3] = -rot.T @ t
    return out


# --------------------------------------------------------------------------- directions ---
def icosphere_directions(subdivisions: int = 1) -> np.ndarray:
    """Unit vertex directions of a subdivided icosahedron: 12, 42, 162, 642, ... points."""
    phi = (1.0 + 5.0 ** 0.5) / 2.0
    verts = [[-1, phi, 0], [1, phi, 0], [-1, -phi, 0], [1, -phi, 0], [0, -1, phi], [0, 1, phi],
             [0, -1, -phi], [0, 1, -phi], [phi, 0, -1], [phi, 0, 1], [-phi, 0, -1], [-phi, 0, 1]]
    faces = [[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4],
             [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8],
             [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]]
    points = [np.asarray(v, dtype=np.float64) / np.linalg.norm(v) for v in verts]
    for _ in range(subdivisions):
        midpoint: dict[tuple[int, int], int] = {}
        new_faces = []
        for a, b, c in faces:
            ids = []
            for i, j in ((a, b), (b, c), (c, a)):
                key = (min(i, j), max(i, j))
                if key not in midpoint:
                    m = points[i] + points[j]
                    points.append(m / np.linalg.norm(m))
                    midpoint[key] = len(points) - 1
                ids.append(midpoint[key])
            ab, bc, ca = ids
            new_faces += [[a, ab, ca], [b, bc, ab], [c, ca, bc], [ab, bc, ca]]
        faces = new_faces
    return np.stack(points)


def fibonacci_directions(n: int) -> np.ndarray:
    """``n`` near-uniform unit directions on a Fibonacci spiral (y is the polar axis)."""
    i = np.arange(n, dtype=np.float64) + 0.5
    y = 1.0 - 2.0 * i / n
    r = np.sqrt(np.clip(1.0 - y * y, 0.0, 1.0))
    theta = np.pi * (3.0 - 5.0 ** 0.5) * i
    return np.stack([r * np.cos(theta), y, r * np.sin(theta)], axis=1)


def view_directions(n_views: int) -> np.ndarray:
    """Icosphere vertices when ``n_views`` is 12, 42, 162 or 642, else a Fibonacci sphere."""
    if n_views < 1:
        raise ValueError(f"n_views must be at least 1, got {n_views}")
    for sub, count in enumerate((12, 42, 162, 642)):
        if n_views == count:
            return icosphere_directions(sub)
    return fibonacci_directions(n_views)


def sphere_poses(n_views: int = 42, distance: float = 2.0) -> np.ndarray:
    """(n, 4, 4) look-at cameras at ``distance`` from the origin along :func:`view_directions`."""
    return np.stack([look_at(d * distance) for d in view_directions(n_views)])


# ---------------------------------------------------------------------------- video paths ---
def _spherical_eye(distance: float, azimuth_deg: np.ndarray, elevation_deg: np.ndarray) -> np.ndarray:
    az, el = np.deg2rad(azimuth_deg), np.deg2rad(elevation_deg)
    return np.stack([distance * np.cos(el) * np.sin(az), distance * np.sin(el),
                     distance * np.cos(el) * np.cos(az)], axis=-1)


def orbit_poses(n_frames: int, distance: float = 2.0, elevation_deg: float = 20.0,
                azimuth_start_deg: float = 0.0, sweep_deg: float = 360.0) -> np.ndarray:
    """Camera circling the object at fixed elevation; ``sweep_deg`` of azimuth over the clip.

    With a full 360 degree sweep the last frame stops one step short of the first.
    """
    steps = n_frames if abs(sweep_deg) >= 360.0 else max(n_frames - 1, 1)
    az = azimuth_start_deg + sweep_deg * np.arange(n_frames) / steps
    eyes = _spherical_eye(distance, az, np.full(n_frames, elevation_deg))
    return np.stack([look_at(e) for e in eyes])


def arc_poses(n_frames: int, distance: float = 2.0, azimuth_deg: tuple[float, float] = (-45.0, 45.0),
              elevation_deg: tuple[float, float] = (10.0, 40.0)) -> np.ndarray:
    """Camera moving along an arc, azimuth and elevation interpolated linearly."""
    s = np.linspace(0.0, 1.0, n_frames)
    az = azimuth_deg[0] + (azimuth_deg[1] - azimuth_deg[0]) * s
    el = elevation_deg[0] + (elevation_deg[1] - elevation_deg[0]) * s
    return np.stack([look_at(e) for e in _spherical_eye(distance, az, el)])


def _smooth_noise(rng: np.random.Generator, n: int, width: float) -> np.ndarray:
    """Unit-variance noise smoothed with a Gaussian of ``width`` frames."""
    pad = int(np.ceil(3 * width)) + 1
    raw = rng.standard_normal(n + 2 * pad)
    k = np.arange(-pad, pad + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (k / max(width, 1e-6)) ** 2)
    kernel /= np.sqrt(np.sum(kernel ** 2))
    return np.convolve(raw, kernel, mode="same")[pad:pad + n]


def handheld_poses(n_frames: int, distance: float = 2.0, seed: int = 0, azimuth_deg: float = 30.0,
                   elevation_deg: float = 20.0, drift_deg: float = 30.0, jitter_deg: float = 3.0,
                   target_jitter: float = 0.03, roll_jitter_deg: float = 2.0) -> np.ndarray:
    """Hand-held-like path: a slow azimuth drift plus smooth random shake (deterministic by seed)."""
    rng = np.random.default_rng(seed)
    s = np.linspace(0.0, 1.0, n_frames)
    width = max(n_frames / 8.0, 1.0)
    az = azimuth_deg + drift_deg * s + jitter_deg * _smooth_noise(rng, n_frames, width)
    el = elevation_deg + jitter_deg * _smooth_noise(rng, n_frames, width)
    dist = distance * (1.0 + 0.03 * _smooth_noise(rng, n_frames, width))
    target = target_jitter * np.stack([_smooth_noise(rng, n_frames, width) for _ in range(3)], axis=1)
    roll = roll_jitter_deg * _smooth_noise(rng, n_frames, width)
    poses = []
    for i in range(n_frames):
        eye = _spherical_eye(float(dist[i]), np.array(az[i]), np.array(el[i]))
        poses.append(look_at(eye, target[i], roll_deg=float(roll[i])))
    return np.stack(poses)


def camera_path(kind: str, n_frames: int, distance: float = 2.0, seed: int = 0) -> np.ndarray:
    """Named camera path: ``orbit``, ``arc`` or ``handheld``."""
    if kind == "orbit":
        return orbit_poses(n_frames, distance)
    if kind == "arc":
        return arc_poses(n_frames, distance)
    if kind == "handheld":
        return handheld_poses(n_frames, distance, seed=seed)
    raise ValueError(f"unknown camera path {kind!r} (choose orbit, arc or handheld)")


CAMERA_PATHS = ("orbit", "arc", "handheld")


# ---------------------------------------------------------------------------------- rays ---
def pixel_rays(xy: np.ndarray, K: np.ndarray, world_to_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World-space rays through continuous pixel coordinates ``xy`` (N, 2).

    Returns ``origins`` (N, 3), unit ``directions`` (N, 3) and ``cos_axis`` (N,), the z
    component of each unit direction in the camera frame: z-depth = ray distance * cos_axis.
    """
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    kinv = np.linalg.inv(K)
    d_cam = np.concatenate([xy, np.ones((len(xy), 1))], axis=1) @ kinv.T
    d_cam /= np.linalg.norm(d_cam, axis=1, keepdims=True)
    rot = world_to_cam[:3, :3]
    directions = d_cam @ rot  # rot.T @ d for each row
    origins = np.broadcast_to(camera_center(world_to_cam), directions.shape)
    return np.ascontiguousarray(origins), directions, d_cam[:, 2]


def pixel_centers(width: int, height: int) -> np.ndarray:
    """(H*W, 2) continuous coordinates of all pixel centres in row-major order."""
    xs, ys = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def project(points: np.ndarray, K: np.ndarray, world_to_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project world points (N, 3) to continuous pixel coordinates; returns ``(xy, z_depth)``."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    cam = p @ world_to_cam[:3, :3].T + world_to_cam[:3, 3]
    z = cam[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uvw = cam @ np.asarray(K, dtype=np.float64).T
        xy = uvw[:, :2] / uvw[:, 2:3]
    return xy, z
