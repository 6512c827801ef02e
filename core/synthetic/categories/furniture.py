"""Furniture categories: chair (panel or slatted back, optional armrests), table (leg shapes,
optional shelf) and desk lamp (base, pole, arm, shade shapes).

Canonical frame (see :mod:`.base`): front +z, up +y, the object's left +x; floor at y = 0
before normalisation.
"""

from __future__ import annotations

import numpy as np

from .. import geons as g
from ..textures import checker, noise, paint, stripes
from .base import (
    Assembly,
    Category,
    Frame,
    box_point,
    cylinder_side_point,
    direction_angle,
    jitter,
    mirrored,
    rot_x,
)


def _leg(kind: str, thickness: float, height: float) -> tuple[list[g.Patch], str]:
    if kind == "round":
        return g.cylinder(thickness / 2, height, 24), kind
    if kind == "tapered":
        r = np.array([thickness / 2, thickness / 3])
        return [g.revolve(r, np.array([-height / 2, height / 2]), 24), g.disc(thickness / 2, -height / 2, 24),
                g.disc(thickness / 3, height / 2, 24)], kind
    return g.box(thickness, height, thickness), "square"


def _leg_end(kind: str, thickness: float, height: float, outward_xz: tuple[float, float]) -> np.ndarray:
    """A point on the leg's outward side just above the floor (seen from the usual elevations)."""
    if kind == "square":
        return box_point((thickness, height, thickness), "+z" if outward_xz[1] > 0 else "-z",
                         0.5 * np.sign(outward_xz[0]), -0.85)
    r = thickness / 2 if kind == "round" else thickness / 2 - (thickness / 6) * 0.075
    return cylinder_side_point(r, height, direction_angle(outward_xz), -0.85)


def _four_legs(a: Assembly, rng: np.random.Generator, width: float, depth: float, height: float,
               inset: float, texture: np.ndarray) -> tuple[str, float]:
    kind = ("round", "square", "tapered")[int(rng.integers(0, 3))]
    thick = jitter(rng, 0.07, 0.3)
    for end, sz in (("front", 1), ("back", -1)):
        patches, kind = _leg(kind, thick, height)
        left = Frame(translation=np.array([width / 2 - inset, height / 2, sz * (depth / 2 - inset)]))
        right = mirrored(left)
        a.add(f"left_{end}_leg", patches, texture, left)
        a.add(f"right_{end}_leg", _leg(kind, thick, height)[0], texture, right)
        a.twin_keypoints(f"{end}_leg_end", (left, right), _leg_end(kind, thick, height, (1.0, float(sz))))
    return kind, thick


CHAIR_KEYPOINTS = (
    "left_front_leg_end", "right_front_leg_end", "left_back_leg_end", "right_back_leg_end",
    "left_front_seat", "right_front_seat", "left_back_seat", "right_back_seat",
    "left_backrest_top", "right_backrest_top", "backrest_center", "left_armrest_front", "right_armrest_front",
)


def _chair(rng: np.random.Generator) -> Assembly:
    a = Assembly()
    w, d, seat_h, t = jitter(rng, 0.9), jitter(rng, 0.85), jitter(rng, 0.5), jitter(rng, 0.08, 0.3)
    back_h = jitter(rng, 0.75, 0.25)
    leg_tex = paint(rng)
    _four_legs(a, rng, w, d, seat_h, jitter(rng, 0.07, 0.3), leg_tex)
    seat_size = (w, t, d)
    seat = a.add("seat", g.box(*seat_size), checker(rng), Frame(translation=np.array([0, seat_h + t / 2, 0])))
    for end, v in (("front", 0.9), ("back", -0.9)):
        a.twin_keypoints(f"{end}_seat", (seat, seat), box_point(seat_size, "+y", 0.9, v))
    back_tex = stripes(rng, vertical=True)
    base_y, bz = seat_h + t, -d / 2 + t / 2
    if rng.random() < 0.5:  # solid panel
        size = (w, back_h, t)
        panel = a.add("backrest", g.box(*size), back_tex, Frame(translation=np.array([0, base_y + back_h / 2, bz])))
        a.twin_keypoints("backrest_top", (panel, panel), box_point(size, "+y", 0.9, 0.0))
        a.keypoint("backrest_center", panel, box_point(size, "+z", 0.0, 0.2))
    else:  # two posts, a top rail and 1-4 slats
        post = (jitter(rng, 0.07, 0.2), back_h, t)
        left = Frame(translation=np.array([w / 2 - post[0] / 2, base_y + back_h / 2, bz]))
        a.add("left_post", g.box(*post), leg_tex, left)
        a.add("right_post", g.box(*post), leg_tex, mirrored(left))
        rail = (w, jitter(rng, 0.14, 0.3), t * 1.1)
        top = a.add("top_rail", g.box(*rail), back_tex,
                    Frame(translation=np.array([0, base_y + back_h - rail[1] / 2 + 0.01, bz])))
        a.twin_keypoints("backrest_top", (top, top), box_point(rail, "+y", 0.9, 0.0))
        a.keypoint("backrest_center", top, box_point(rail, "+z", 0.0, 0.0))
        n = int(rng.integers(1, 5))
        slat_w = (w - 2 * post[0]) / (2 * n + 1)
        for i in range(n):
            x = -w / 2 + post[0] + slat_w * (2 * i + 1.5)
            a.add(f"slat_{i}", g.box(slat_w, back_h - rail[1], t * 0.8), back_tex,
                  Frame(translation=np.array([x, base_y + (back_h - rail[1]) / 2, bz])))
    if rng.random() < 0.35:  # armrests
        arm = (jitter(rng, 0.08, 0.2), 0.05, d * 0.8)
        arm_y = base_y + jitter(rng, 0.22, 0.2)
        left = Frame(translation=np.array([w / 2 - arm[0] / 2, arm_y, 0.0]))
        right = mirrored(left)
        a.add("left_armrest", g.box(*arm), leg_tex, left)
        a.add("right_armrest", g.box(*arm), leg_tex, right)
        sup = (arm[0] * 0.7, arm_y - base_y, arm[0] * 0.7)
        sl = Frame(translation=np.array([left.translation[0], base_y + sup[1] / 2, d * 0.3]))
        a.add("left_arm_support", g.box(*sup), leg_tex, sl)
        a.add("right_arm_support", g.box(*sup), leg_tex, mirrored(sl))
        a.twin_keypoints("armrest_front", (left, right), box_point(arm, "+y", 0.0, 0.9))
    return a


TABLE_KEYPOINTS = (
    "left_front_top", "right_front_top", "left_back_top", "right_back_top",
    "left_front_leg_end", "right_front_leg_end", "left_back_leg_end", "right_back_leg_end",
    "front_edge_center", "back_edge_center",
)


def _table(rng: np.random.Generator) -> Assembly:
    a = Assembly()
    w, d, h, t = jitter(rng, 1.4, 0.2), jitter(rng, 0.8, 0.2), jitter(rng, 0.72), jitter(rng, 0.07, 0.3)
    leg_tex = paint(rng)
    inset = jitter(rng, 0.1, 0.4)
    _four_legs(a, rng, w, d, h - t, inset, leg_tex)
    size = (w, t, d)
    top = a.add("top", g.box(*size), noise(rng), Frame(translation=np.array([0, h - t / 2, 0])))
    for end, v in (("front", 0.9), ("back", -0.9)):
        a.twin_keypoints(f"{end}_top", (top, top), box_point(size, "+y", 0.92, v))
    a.keypoint("front_edge_center", top, box_point(size, "+z", 0.0, 0.0))
    a.keypoint("back_edge_center", top, box_point(size, "-z", 0.0, 0.0))
    if rng.random() < 0.4:  # lower shelf
        shelf = (w - 2 * inset, 0.03, d - 2 * inset)
        a.add("shelf", g.box(*shelf), leg_tex, Frame(translation=np.array([0, jitter(rng, 0.2, 0.3), 0])))
    return a


LAMP_KEYPOINTS = (
    "base_front", "base_back", "left_base", "right_base", "pole_top", "shade_top",
    "shade_front", "left_shade", "right_shade",
)


def _lamp(rng: np.random.Generator) -> Assembly:
    a = Assembly()
    base_r, base_t = jitter(rng, 0.3, 0.2), jitter(rng, 0.06, 0.3)
    base_tex, metal = noise(rng), paint(rng)
    if rng.random() < 0.5:
        base = a.add("base", g.cylinder(base_r, base_t, 48), base_tex, Frame(translation=np.array([0, base_t / 2, 0])))

        def on_base(direction: tuple[float, float]) -> np.ndarray:
            return cylinder_side_point(base_r, base_t, direction_angle(direction), 0.0)
    else:
        size = (2 * base_r, base_t, 2 * base_r * jitter(rng, 0.8, 0.1))
        base = a.add("base", g.box(*size), base_tex, Frame(translation=np.array([0, base_t / 2, 0])))

        def on_base(direction: tuple[float, float]) -> np.ndarray:
            face = {(1, 0): "+x", (-1, 0): "-x", (0, 1): "+z", (0, -1): "-z"}[direction]
            return box_point(size, face, 0.0, 0.0)
    a.keypoint("base_front", base, on_base((0, 1)))
    a.keypoint("base_back", base, on_base((0, -1)))
    a.twin_keypoints("base", (base, base), on_base((1, 0)))
    pole_r, pole_h = jitter(rng, 0.03, 0.2), jitter(rng, 0.9, 0.25)
    pole_z = -base_r * 0.5
    a.add("pole", g.cylinder(pole_r, pole_h, 24), metal, Frame(translation=np.array([0, base_t + pole_h / 2, pole_z])))
    arm_l = jitter(rng, 0.5, 0.3)
    top_y = base_t + pole_h
    arm = a.add("arm", g.cylinder(pole_r, arm_l, 24), metal, Frame(rot_x(90), np.array([0, top_y, pole_z + arm_l / 2])))
    a.keypoint("pole_top", arm, (0.0, -arm_l / 2 + pole_r, -pole_r))
    shade_r, shade_h = jitter(rng, 0.22, 0.25), jitter(rng, 0.28, 0.25)
    shade_tex = stripes(rng, vertical=True)
    centre = np.array([0.0, top_y - shade_h / 2 + pole_r, pole_z + arm_l])
    if rng.random() < 0.5:
        shade = a.add("shade", g.cone(shade_r, shade_h, 48), shade_tex, Frame(translation=centre))
        top_r = 0.0
    else:
        top_r = shade_r * jitter(rng, 0.7, 0.15)
        profile = np.array([shade_r, top_r])
        shade = a.add("shade", [g.revolve(profile, np.array([-shade_h / 2, shade_h / 2]), 48),
                                g.disc(top_r, shade_h / 2, 48)], shade_tex, Frame(translation=centre))
    a.keypoint("shade_top", shade, (0.0, shade_h / 2, 0.0))
    rim = 0.9  # just above the rim, on the outer wall
    r_at = shade_r + (top_r - shade_r) * (1 + (-rim)) / 2

    def wall(direction: tuple[float, float]) -> np.ndarray:
        return cylinder_side_point(r_at, shade_h, direction_angle(direction), -rim)
    a.keypoint("shade_front", shade, wall((0, 1)))
    a.twin_keypoints("shade", (shade, shade), wall((1, 0)))
    return a


CATEGORIES = (
    Category("chair", CHAIR_KEYPOINTS, _chair, "seat, 4 legs (round / square / tapered), panel or slatted back, armrests"),
    Category("table", TABLE_KEYPOINTS, _table, "top, 4 legs (round / square / tapered), optional shelf"),
    Category("lamp", LAMP_KEYPOINTS, _lamp, "round or square base, pole, arm, cone or drum shade"),
)
