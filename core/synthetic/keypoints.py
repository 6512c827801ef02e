"""Renders of category instances with keypoint projections, visibility and SPair-like metadata.

Cameras: look-at cameras on a sphere around the instance (y up, camera at azimuth 0 on +z looking
at the object's front). Azimuth bin ``k`` in 0-7 (45 degrees each, as SPair's ``azimuth_id``)
renders at ``45 k`` degrees plus a uniform jitter of +-``azimuth_jitter_deg``; the elevation is
drawn uniformly in ``elevation_deg``. Azimuth increases counter-clockwise seen from above
(from +z towards +x), so bin 2 looks at the object's left side.

Keypoint visibility comes from the renderer's depth test
(:func:`corrviz.core.render.correspondence.visible_in`, exact ray cast): a keypoint is visible when
it is in front of the camera, inside the frame and the first surface hit along its pixel's ray is
the keypoint itself (relative depth tolerance :data:`KEYPOINT_DEPTH_TOL`), and the pixel containing
it is on the object's mask (a point seen exactly edge-on, on the silhouette, can pass the depth
test at a sub-pixel position whose pixel centre misses the object: it counts as hidden, as an
annotator would not mark it).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..render import ViewSet, look_at, render_poses
from ..render.correspondence import visible_in
from .categories import Instance, get_category, make_instance, split_of_seed
from .textures import noise

N_AZIMUTH_BINS = 8
BIN_DEG = 360.0 / N_AZIMUTH_BINS
KEYPOINT_DEPTH_TOL = 1e-3


@dataclass(frozen=True)
class RenderSettings:
    """How instances are rendered (written into the data set's index)."""

    resolution: int = 256
    distance: float = 1.9
    focal: float = 560.0  # px at 512 px, scaled with the resolution
    elevation_deg: tuple[float, float] = (5.0, 35.0)
    azimuth_jitter_deg: float = 15.0
    background: str = "texture"  # "texture" (procedural noise, a different one per image) or "black"

    def to_dict(self) -> dict[str, Any]:
        return {"resolution": self.resolution, "distance": self.distance, "focal_at_512": self.focal,
                "elevation_deg": list(self.elevation_deg), "azimuth_jitter_deg": self.azimuth_jitter_deg,
                "background": self.background}


@dataclass
class SyntheticView:
    """One render of an instance.

    rgb (H, W, 3) uint8; mask (H, W) bool; depth (H, W) float32 z-depth, 0 on background;
    kps_xy (K, 2) projections of every keypoint in pixel (x, y) (also hidden ones; NaN for
    keypoints the instance lacks); visible (K,) bool from the depth test; bbox [x1, y1, x2, y2]
    of the mask; K (3, 3) and world_to_cam (4, 4) OpenCV cameras.
    """

    rgb: np.ndarray
    mask: np.ndarray
    depth: np.ndarray
    kps_xy: np.ndarray
    visible: np.ndarray
    azimuth_bin: int
    azimuth_deg: float
    elevation_deg: float
    category: str
    instance_id: str
    seed: int
    split: str
    K: np.ndarray
    world_to_cam: np.ndarray
    bbox: np.ndarray
    keypoint_names: tuple[str, ...] = field(default=())

    @property
    def image_name(self) -> str:
        return f"{self.instance_id}-az{self.azimuth_bin}"


def camera_pose(azimuth_deg: float, elevation_deg: float, distance: float) -> np.ndarray:
    """OpenCV world_to_cam of a look-at camera at (azimuth, elevation) around the origin."""
    az, el = np.deg2rad(azimuth_deg), np.deg2rad(elevation_deg)
    eye = distance * np.array([np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)])
    return look_at(eye)


def azimuth_bin_of(azimuth_deg: float) -> int:
    """The 45-degree bin (0-7) an azimuth falls in, bins centred on 0, 45, 90, ..."""
    return int(np.floor(((azimuth_deg % 360.0) + BIN_DEG / 2) / BIN_DEG)) % N_AZIMUTH_BINS


def viewpoints(seed: int, bins: list[int], settings: RenderSettings, category: str = "") -> list[tuple[int, float, float]]:
    """(bin, azimuth, elevation) of each render, deterministic from the instance (category, seed)."""
    salt = zlib.crc32(category.encode())
    out = []
    for b in bins:
        if not 0 <= b < N_AZIMUTH_BINS:
            raise ValueError(f"azimuth bins are 0-{N_AZIMUTH_BINS - 1}, got {b}")
        rng = np.random.default_rng([int(seed), 7001, int(b), salt])  # the same view whichever bins are asked
        az = b * BIN_DEG + rng.uniform(-settings.azimuth_jitter_deg, settings.azimuth_jitter_deg)
        el = rng.uniform(*settings.elevation_deg)
        out.append((b, float(az), float(el)))
    return out


def keypoint_visibility(viewset: ViewSet, index: int, keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Projections (K, 2) and depth-test visibility (K,) of object-space keypoints in one view."""
    return visible_in(viewset, index, keypoints, depth_tol=KEYPOINT_DEPTH_TOL, exact=True)


def on_mask(mask: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """(N,) True where the pixel containing ``xy`` is on the object (False for NaN / outside)."""
    h, w = mask.shape
    out = np.zeros(len(xy), dtype=bool)
    ok = np.isfinite(xy).all(axis=1)
    ok[ok] = (xy[ok, 0] >= 0) & (xy[ok, 0] < w) & (xy[ok, 1] >= 0) & (xy[ok, 1] < h)
    cols, rows = np.floor(xy[ok, 0]).astype(int), np.floor(xy[ok, 1]).astype(int)
    out[ok] = mask[rows, cols]
    return out


def mask_bbox(mask: np.ndarray) -> np.ndarray:
    """[x1, y1, x2, y2] of a mask's pixels (x2, y2 exclusive edges); zeros for an empty mask."""
    rows, cols = np.nonzero(mask)
    if len(rows) == 0:
        return np.zeros(4)
    return np.array([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], dtype=np.float64)


def _background(rgb: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    back = noise(rng, size=rgb.shape[0], cells=int(rng.integers(3, 7)))
    if back.shape[:2] != rgb.shape[:2]:
        back = np.resize(back, rgb.shape)
    return np.where(mask[..., None], rgb, (back.astype(np.float32) * 0.8).astype(np.uint8))


def render_instance(instance: Instance, bins: list[int] | None = None,
                    settings: RenderSettings | None = None) -> tuple[list[SyntheticView], ViewSet]:
    """Render ``instance`` from each azimuth bin (default all 8); returns the views and the view set
    (its exact ray caster answers correspondence queries between the renders)."""
    settings = settings or RenderSettings()
    bins = list(range(N_AZIMUTH_BINS)) if bins is None else list(bins)
    vps = viewpoints(instance.seed, bins, settings, instance.category)
    poses = np.stack([camera_pose(az, el, settings.distance) for _, az, el in vps])
    viewset = render_poses(instance.mesh, poses, resolution=settings.resolution, focal=settings.focal)
    out = []
    for i, (b, az, el) in enumerate(vps):
        v = viewset.views[i]
        rng = np.random.default_rng([int(instance.seed), 7002, int(b), zlib.crc32(instance.category.encode())])
        xy, vis = keypoint_visibility(viewset, i, instance.keypoints)
        vis = vis & on_mask(v.mask, xy)
        rgb = _background(v.rgb, v.mask, rng) if settings.background == "texture" else v.rgb
        out.append(SyntheticView(
            rgb=rgb, mask=v.mask, depth=v.depth, kps_xy=xy, visible=vis & instance.present, azimuth_bin=b,
            azimuth_deg=az, elevation_deg=el, category=instance.category, instance_id=instance.instance_id,
            seed=instance.seed, split=split_of_seed(instance.seed), K=v.K, world_to_cam=v.world_to_cam,
            bbox=mask_bbox(v.mask), keypoint_names=instance.names))
    return out, viewset


def render_sample(category: str, seed: int, azimuth_bin: int, settings: RenderSettings | None = None) -> SyntheticView:
    """One render: instance ``seed`` of ``category`` seen from ``azimuth_bin``."""
    get_category(category)
    return render_instance(make_instance(category, seed), [azimuth_bin], settings)[0][0]
