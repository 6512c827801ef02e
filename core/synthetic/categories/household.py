"""Household categories: mug (straight or tapered, round or square handle at the back) and bottle
(profile, cap shape, front label).

Canonical frame (see :mod:`.base`): front +z, up +y, the object's left +x. Both are surfaces of
revolution about y; their front is set by a part (the mug's handle at the back, the bottle's
label on the front), so left and right are semantically defined.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import geons as g
from ..textures import checker, noise, paint, stripes
from .base import Assembly, Category, Frame, cylinder_side_point, direction_angle, jitter, mirrored, rot_y

FRONT, BACK, LEFT = (0.0, 1.0), (0.0, -1.0), (1.0, 0.0)


def _cup(r_bottom: float, r_top: float, height: float, wall: float) -> list[g.Patch]:
    """Open cup, centred at half height: outer wall, rim, inner wall, inner floor and base."""
    h = height / 2
    return [
        g.revolve(np.array([r_bottom, r_top]), np.array([-h, h])),
        g.revolve(np.array([r_top, r_top - wall]), np.array([h, h])),
        g.revolve(np.array([r_top - wall, r_bottom - wall]), np.array([h, -h + wall])),
        g.disc(r_bottom - wall, -h + wall),
        g.disc(r_bottom, -h),
    ]


MUG_KEYPOINTS = (
    "rim_front", "rim_back", "left_rim", "right_rim", "base_front", "left_base", "right_base",
    "handle_top", "handle_bottom", "handle_back",
)


def _mug(rng: np.random.Generator) -> Assembly:
    a = Assembly()
    r_b, h = jitter(rng, 0.38, 0.2), jitter(rng, 0.9, 0.2)
    r_t = r_b * (1.0 if rng.random() < 0.5 else rng.uniform(1.05, 1.3))
    wall = jitter(rng, 0.04, 0.2)
    body = a.add("body", _cup(r_b, r_t, h, wall), stripes(rng, vertical=False) if rng.random() < 0.5 else noise(rng))

    def rim(direction: tuple[float, float]) -> np.ndarray:
        ang = np.deg2rad(direction_angle(direction))
        r = r_t - wall / 2
        return np.array([r * np.cos(ang), h / 2, -r * np.sin(ang)])

    def base(direction: tuple[float, float]) -> np.ndarray:
        return cylinder_side_point(r_b + (r_t - r_b) * 0.05, h, direction_angle(direction), -0.9)

    a.keypoint("rim_front", body, rim(FRONT))
    a.keypoint("rim_back", body, rim(BACK))
    a.twin_keypoints("rim", (body, body), rim(LEFT))
    a.keypoint("base_front", body, base(FRONT))
    a.twin_keypoints("base", (body, body), base(LEFT))
    span, grip = jitter(rng, 0.22, 0.2) * h / 0.45, jitter(rng, 0.05, 0.2)
    r_mid = (r_b + r_t) / 2
    handle_tex = paint(rng)
    if rng.random() < 0.6:  # round handle: half a torus in the y-z plane behind the mug
        major = span
        frame = Frame(rot_y(90), np.array([0.0, 0.0, -(r_mid + grip - wall / 2)]))
        handle = a.add("handle", g.partial_torus(major, grip, -np.pi / 2, np.pi / 2), handle_tex, frame)
        a.keypoint("handle_top", handle, (0.0, major + grip, 0.0))
        a.keypoint("handle_bottom", handle, (0.0, -major - grip, 0.0))
        a.keypoint("handle_back", handle, (major + grip, 0.0, 0.0))
    else:  # square handle: two bars out of the wall and one upright
        reach = jitter(rng, 0.2, 0.2)
        bar = (2 * grip, 2 * grip, reach + wall)
        zc = -(r_mid + reach / 2 - wall / 2)
        top = a.add("handle_top_bar", g.box(*bar), handle_tex, Frame(translation=np.array([0, span - grip, zc])))
        bottom = a.add("handle_bottom_bar", g.box(*bar), handle_tex, Frame(translation=np.array([0, -span + grip, zc])))
        up = (2 * grip, 2 * span, 2 * grip)
        upright = a.add("handle_upright", g.box(*up), handle_tex,
                        Frame(translation=np.array([0, 0, -(r_mid + reach - wall / 2)])))
        a.keypoint("handle_top", top, (0.0, grip, 0.0))
        a.keypoint("handle_bottom", bottom, (0.0, -grip, 0.0))
        a.keypoint("handle_back", upright, (0.0, 0.0, -grip))
    return a


BOTTLE_KEYPOINTS = (
    "cap_top", "neck_front", "left_shoulder", "right_shoulder", "left_base", "right_base", "base_front",
    "left_label_top", "right_label_top", "left_label_bottom", "right_label_bottom",
)


def _label(radius: Callable[[np.ndarray], np.ndarray], half_angle_deg: float, y0: float, y1: float) -> list[g.Patch]:
    """A curved label on the front (+z) of a surface of revolution of profile ``radius(y)``."""
    centre = direction_angle(FRONT)

    def surface(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        ang = np.deg2rad(centre - half_angle_deg + 2 * half_angle_deg * u)
        y = y0 + (y1 - y0) * v
        r = radius(y)
        return np.stack([r * np.cos(ang), y, -r * np.sin(ang)], axis=-1)

    return [g.grid_patch(surface, 16, 8)]


def _bottle(rng: np.random.Generator) -> Assembly:
    a = Assembly()
    r_body, h_body = jitter(rng, 0.3, 0.2), jitter(rng, 0.9, 0.25)
    r_neck, h_shoulder, h_neck = r_body * jitter(rng, 0.35, 0.25), jitter(rng, 0.25, 0.4), jitter(rng, 0.25, 0.4)
    bulge = rng.uniform(1.0, 1.15)  # 1: straight sides; >1: a bulging body
    heights = [0.0, 0.02, h_body * 0.5, h_body, h_body + h_shoulder, h_body + h_shoulder + h_neck]
    radii = [r_body * 0.9, r_body, r_body * bulge, r_body, r_neck, r_neck]
    glass = checker(rng, cells=2) if rng.random() < 0.3 else paint(rng)
    body = a.add("body", [g.revolve(np.array(radii), np.array(heights)), g.disc(radii[0], 0.0)], glass)
    top = heights[-1]
    cap_r, cap_h = r_neck * jitter(rng, 1.2, 0.1), jitter(rng, 0.08, 0.3)
    cap_tex = paint(rng)
    if rng.random() < 0.5:
        cap = a.add("cap", g.cylinder(cap_r, cap_h, 32), cap_tex, Frame(translation=np.array([0, top + cap_h / 2, 0])))
        a.keypoint("cap_top", cap, (0.0, cap_h / 2, 0.0))
    else:
        cap = a.add("cap", g.cone(cap_r, cap_h * 2, 32), cap_tex, Frame(translation=np.array([0, top + cap_h, 0])))
        a.keypoint("cap_top", cap, (0.0, cap_h, 0.0))

    def on_profile(direction: tuple[float, float], y: float) -> np.ndarray:
        r = float(np.interp(y, heights, radii))
        ang = np.deg2rad(direction_angle(direction))
        return np.array([r * np.cos(ang), y, -r * np.sin(ang)])

    a.keypoint("neck_front", body, on_profile(FRONT, heights[4] + h_neck * 0.5))
    a.twin_keypoints("shoulder", (body, body), on_profile(LEFT, h_body + h_shoulder * 0.4))
    a.twin_keypoints("base", (body, body), on_profile(LEFT, 0.06))
    a.keypoint("base_front", body, on_profile(FRONT, 0.06))
    half = jitter(rng, 45.0, 0.3)
    y0, y1 = h_body * rng.uniform(0.15, 0.3), h_body * rng.uniform(0.55, 0.8)
    def label_radius(y: np.ndarray) -> np.ndarray:
        return np.interp(y, heights, radii) * 1.01

    label = a.add("label", _label(label_radius, half, y0, y1), noise(rng), Frame())
    for name, y in (("label_top", y1 - 0.1 * (y1 - y0)), ("label_bottom", y0 + 0.1 * (y1 - y0))):
        ang = np.deg2rad(direction_angle(FRONT) + 0.85 * half)
        r = float(label_radius(np.array(y)))
        a.twin_keypoints(name, (label, mirrored(label)), (r * np.cos(ang), y, -r * np.sin(ang)))
    return a


CATEGORIES = (
    Category("mug", MUG_KEYPOINTS, _mug, "straight or tapered cup, round or square handle at the back"),
    Category("bottle", BOTTLE_KEYPOINTS, _bottle, "revolved profile (straight or bulging), flat or conical cap, front label"),
)
