"""A quadruped built from geons: capsule body, four legs, neck, head with snout, ears, tail and
(for some instances) horns. Proportions span dog-like to giraffe-like; coats are noise, stripes
or patches.

Canonical frame (see :mod:`.base`): the head points to +z, up +y, the animal's left +x.
"""

from __future__ import annotations

import numpy as np

from .. import geons as g
from ..textures import checker, noise, paint, stripes
from .base import (
    Assembly,
    Category,
    Frame,
    cylinder_side_point,
    direction_angle,
    jitter,
    mirrored,
    rot_x,
    rot_z,
    sphere_point,
)

QUADRUPED_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear_tip", "right_ear_tip",
    "left_front_paw", "right_front_paw", "left_back_paw", "right_back_paw",
    "left_front_knee", "right_front_knee", "left_back_knee", "right_back_knee",
    "withers", "rump", "tail_tip", "left_horn_tip", "right_horn_tip",
)


def _quadruped(rng: np.random.Generator) -> Assembly:
    a = Assembly()
    coat = (noise, lambda r: stripes(r, vertical=True), lambda r: checker(r, cells=4))[int(rng.integers(0, 3))](rng)
    r_body, length = jitter(rng, 0.22, 0.2), jitter(rng, 1.2, 0.2)
    leg_h, leg_r = jitter(rng, 0.6, 0.35), jitter(rng, 0.06, 0.25)
    body_y = leg_h + r_body * 0.6
    body = a.add("body", g.capsule(r_body, length, 32, 8), coat, Frame(rot_x(90), np.array([0.0, body_y, 0.0])))
    half = length / 2 - r_body
    a.keypoint("withers", body, (0.0, half, -r_body))  # local -z is up after rot_x(90)
    a.keypoint("rump", body, (0.0, -half, -r_body))
    leg_tex = paint(rng) if rng.random() < 0.5 else coat
    for end, z in (("front", half * 0.95), ("back", -half * 0.95)):
        left = Frame(translation=np.array([r_body * 0.55, (leg_h + r_body * 0.4) / 2, z]))
        right = mirrored(left)
        height = leg_h + r_body * 0.4
        a.add(f"left_{end}_leg", g.cylinder(leg_r, height, 24), leg_tex, left)
        a.add(f"right_{end}_leg", g.cylinder(leg_r, height, 24), leg_tex, right)
        out = (1.0, 1.0 if end == "front" else -1.0)
        a.twin_keypoints(f"{end}_paw", (left, right), cylinder_side_point(leg_r, height, direction_angle(out), -0.9))
        a.twin_keypoints(f"{end}_knee", (left, right), cylinder_side_point(leg_r, height, direction_angle(out), -0.1))
    neck_l, neck_tilt = jitter(rng, 0.45, 0.5), rng.uniform(20.0, 55.0)  # tilt from vertical, forwards
    neck_r = r_body * jitter(rng, 0.5, 0.2)
    direction = np.array([0.0, np.cos(np.deg2rad(neck_tilt)), np.sin(np.deg2rad(neck_tilt))])
    base = np.array([0.0, body_y + r_body * 0.3, half + r_body * 0.4])
    a.add("neck", g.capsule(neck_r, neck_l, 24, 6), coat, Frame(rot_x(neck_tilt), base + direction * neck_l / 2))
    r_head = jitter(rng, 0.15, 0.2)
    head_c = base + direction * (neck_l - neck_r + r_head * 0.6)
    head = a.add("head", g.sphere(r_head, 32, 16), coat, Frame(translation=head_c))
    a.twin_keypoints("eye", (head, head), sphere_point(r_head, (0.5, 0.35, 0.75)))
    snout_l, snout_r = jitter(rng, 0.2, 0.4), r_head * jitter(rng, 0.55, 0.2)
    snout = a.add("snout", g.capsule(snout_r, snout_l + snout_r, 24, 6), coat,
                  Frame(rot_x(90), head_c + np.array([0.0, -r_head * 0.25, r_head * 0.5 + snout_l / 2])))
    a.keypoint("nose", snout, (0.0, (snout_l + snout_r) / 2, 0.0))
    ear_h, ear_r = jitter(rng, 0.12, 0.4), jitter(rng, 0.045, 0.3)
    ear_tex = paint(rng)
    left = Frame(rot_z(-rng.uniform(10.0, 40.0)), head_c + np.array([r_head * 0.55, r_head * 0.75 + ear_h * 0.35, -0.02]))
    right = mirrored(left)
    a.add("left_ear", g.cone(ear_r, ear_h, 24), ear_tex, left)
    a.add("right_ear", g.cone(ear_r, ear_h, 24), ear_tex, right)
    a.twin_keypoints("ear_tip", (left, right), (0.0, ear_h / 2, 0.0))
    if rng.random() < 0.3:  # horns
        horn_h = jitter(rng, 0.18, 0.3)
        hl = Frame(rot_z(-15.0) @ rot_x(-20.0), head_c + np.array([r_head * 0.3, r_head * 0.85 + horn_h * 0.4, 0.03]))
        hr = mirrored(hl)
        horn_tex = paint(rng, color=np.array([230, 225, 200]))
        a.add("left_horn", g.cone(ear_r * 0.7, horn_h, 24), horn_tex, hl)
        a.add("right_horn", g.cone(ear_r * 0.7, horn_h, 24), horn_tex, hr)
        a.twin_keypoints("horn_tip", (hl, hr), (0.0, horn_h / 2, 0.0))
    tail_l, tail_angle = jitter(rng, 0.45, 0.4), -rng.uniform(20.0, 70.0)  # from up, towards the back
    tail_dir = np.array([0.0, np.cos(np.deg2rad(tail_angle)), np.sin(np.deg2rad(tail_angle))])
    tail_base = np.array([0.0, body_y + r_body * 0.4, -half - r_body * 0.6])
    tail = a.add("tail", g.cylinder(leg_r * 0.5, tail_l, 16), coat, Frame(rot_x(tail_angle), tail_base + tail_dir * tail_l / 2))
    a.keypoint("tail_tip", tail, (0.0, tail_l / 2, 0.0))
    return a


CATEGORIES = (
    Category("quadruped", QUADRUPED_KEYPOINTS, _quadruped,
             "capsule body, 4 legs, neck, head, snout, ears, tail, optional horns; dog- to giraffe-like"),
)
