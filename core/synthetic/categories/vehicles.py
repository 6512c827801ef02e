"""Vehicle categories: car (sedan / hatchback / van bodies) and airplane (wing and tail variants).

Canonical frame (see :mod:`.base`): front +z, up +y, the object's left +x.
"""

from __future__ import annotations

import numpy as np

from .. import geons as g
from ..textures import checker, noise, paint, pick_colors, stripes
from .base import Assembly, Category, Frame, box_point, jitter, mirrored, rot_x, rot_y, rot_z

CAR_KEYPOINTS = (
    "left_front_wheel", "right_front_wheel", "left_back_wheel", "right_back_wheel",
    "left_headlight", "right_headlight", "left_taillight", "right_taillight",
    "left_mirror", "right_mirror", "left_front_roof", "right_front_roof",
    "left_back_roof", "right_back_roof", "front_plate", "back_plate",
    "left_front_bumper", "right_front_bumper", "left_back_bumper", "right_back_bumper",
)


def _car(rng: np.random.Generator) -> Assembly:
    a = Assembly()
    kind = ("sedan", "hatchback", "van")[int(rng.integers(0, 3))]
    length, width = jitter(rng, 2.0, 0.12), jitter(rng, 0.9, 0.1)
    body_h = jitter(rng, 0.42 if kind != "van" else 0.55, 0.15)
    wheel_r, wheel_w = jitter(rng, 0.2, 0.2), jitter(rng, 0.14, 0.15)
    clearance = jitter(rng, 0.1, 0.3)
    body_y = clearance + wheel_r * 0.5 + body_h / 2
    body_size = (width, body_h, length)
    body = a.add("body", g.box(*body_size), paint(rng, color=pick_colors(rng, 1)[0]), Frame(translation=np.array([0, body_y, 0])))
    # Cabin: sedans sit in the middle, hatchbacks run to the back, vans are tall and long.
    cabin_l = {"sedan": jitter(rng, 0.5), "hatchback": jitter(rng, 0.55), "van": jitter(rng, 0.75, 0.08)}[kind] * length
    cabin_h = jitter(rng, 0.36 if kind != "van" else 0.45, 0.15)
    back_edge = {"sedan": -0.3, "hatchback": -0.5, "van": -0.5}[kind] * length
    cabin_z = back_edge + cabin_l / 2 + (0.02 * length if kind != "sedan" else 0.0)
    cabin_size = (width * jitter(rng, 0.86, 0.05), cabin_h, cabin_l)
    cabin_y = body_y + body_h / 2 + cabin_h / 2
    cabin = a.add("cabin", g.box(*cabin_size), checker(rng), Frame(translation=np.array([0, cabin_y, cabin_z])))
    wheel_tex = checker(rng, cells=4, colors=np.array([[35, 35, 40], [140, 140, 150]]))
    axle = jitter(rng, 0.33, 0.1) * length
    for end, z in (("front", axle), ("back", -axle)):
        left = Frame(rot_z(-90), np.array([width / 2 - wheel_w / 2 + 0.03, wheel_r, z]))
        right = mirrored(left)
        a.add(f"left_{end}_wheel", g.cylinder(wheel_r, wheel_w, 32), wheel_tex, left)
        a.add(f"right_{end}_wheel", g.cylinder(wheel_r, wheel_w, 32), wheel_tex, right)
        a.twin_keypoints(f"{end}_wheel", (left, right), (0.0, wheel_w / 2, 0.0))  # outer cap centre
    lamp = (jitter(rng, 0.16), jitter(rng, 0.08), 0.04)
    lamp_x, lamp_y = width * jitter(rng, 0.32, 0.1), body_y + body_h * jitter(rng, 0.2, 0.5)
    head_tex, tail_tex = paint(rng, color=np.array([250, 240, 160])), paint(rng, color=np.array([200, 25, 25]))
    for name, z, face, tex in (("headlight", length / 2 + lamp[2] / 2, "+z", head_tex),
                               ("taillight", -length / 2 - lamp[2] / 2, "-z", tail_tex)):
        left = Frame(translation=np.array([lamp_x, lamp_y, z]))
        right = mirrored(left)
        a.add(f"left_{name}", g.box(*lamp), tex, left)
        a.add(f"right_{name}", g.box(*lamp), tex, right)
        a.twin_keypoints(name, (left, right), box_point(lamp, face, 0.0, 0.0))
    mirror = (jitter(rng, 0.1), 0.05, 0.04)
    left = Frame(translation=np.array([cabin_size[0] / 2 + mirror[0] / 2, cabin_y - cabin_h * 0.3,
                                       cabin_z + cabin_l / 2 - 0.05]))
    right = mirrored(left)
    a.add("left_mirror", g.box(*mirror), paint(rng), left)
    a.add("right_mirror", g.box(*mirror), a.parts[-1][1], right)
    a.twin_keypoints("mirror", (left, right), box_point(mirror, "+x", 0.0, 0.0))
    for end, v in (("front", 0.9), ("back", -0.9)):
        a.twin_keypoints(f"{end}_roof", (cabin, cabin), box_point(cabin_size, "+y", 0.92, v))
        a.twin_keypoints(f"{end}_bumper", (body, body), box_point(body_size, "+z" if end == "front" else "-z", 0.9, -0.6))
    a.keypoint("front_plate", body, box_point(body_size, "+z", 0.0, -0.5))
    a.keypoint("back_plate", body, box_point(body_size, "-z", 0.0, -0.5))
    return a


AIRPLANE_KEYPOINTS = (
    "nose", "tail_top", "left_wing_tip", "right_wing_tip", "left_wing_root_front", "right_wing_root_front",
    "left_stabilizer_tip", "right_stabilizer_tip", "left_engine", "right_engine", "cockpit",
)


def _airplane(rng: np.random.Generator) -> Assembly:
    a = Assembly()
    length, radius = jitter(rng, 2.0, 0.1), jitter(rng, 0.12, 0.2)
    fuselage_tex = stripes(rng, vertical=False)
    body = a.add("fuselage", g.capsule(radius, length, 32, 8), fuselage_tex, Frame(rot_x(90)))
    a.keypoint("nose", body, (0.0, length / 2, 0.0))
    a.keypoint("cockpit", body, (0.0, length / 2 - radius * 1.2, -radius * 0.8))
    span, chord, thick = jitter(rng, 0.85, 0.15), jitter(rng, 0.35, 0.2), 0.04
    sweep = jitter(rng, 0.15, 0.8)
    wing_z, wing_y = jitter(rng, 0.08, 1.0) * length, -radius * rng.uniform(-0.5, 0.6)
    wing_tex = noise(rng)
    wing_size = (span, thick, chord)
    left = Frame(translation=np.array([span / 2 + radius * 0.6, wing_y, wing_z]))
    # Swept wings: a rotation about y puts the tip further back.
    left = Frame(rot_y(np.degrees(np.arctan2(sweep, span))), left.translation)
    right = mirrored(left)
    a.add("left_wing", g.box(*wing_size), wing_tex, left)
    a.add("right_wing", g.box(*wing_size), wing_tex, right)
    a.twin_keypoints("wing_tip", (left, right), box_point(wing_size, "+y", 0.95, 0.0))
    a.twin_keypoints("wing_root_front", (left, right), box_point(wing_size, "+y", -0.9, 0.8))
    if rng.random() < 0.7:  # engines under the wings (part count varies)
        eng_r, eng_l = jitter(rng, 0.06, 0.2), jitter(rng, 0.3, 0.2)
        eng_x = span * 0.35 + radius * 0.6
        le = Frame(rot_x(90), np.array([eng_x, wing_y - thick / 2 - eng_r, wing_z + 0.05]))
        re = mirrored(le)
        eng_tex = paint(rng)
        a.add("left_engine", g.cylinder(eng_r, eng_l, 24), eng_tex, le)
        a.add("right_engine", g.cylinder(eng_r, eng_l, 24), eng_tex, re)
        a.twin_keypoints("engine", (le, re), (0.0, eng_l / 2, 0.0))  # intake centre (front cap)
    fin_h, fin_c = jitter(rng, 0.35, 0.2), jitter(rng, 0.3, 0.2)
    fin_size = (0.03, fin_h, fin_c)
    fin = a.add("fin", g.box(*fin_size), wing_tex, Frame(translation=np.array([0, radius + fin_h / 2 - 0.02,
                                                                                 -length / 2 + fin_c / 2 + 0.05])))
    a.keypoint("tail_top", fin, box_point(fin_size, "+y", 0.0, -0.6))
    st_span, st_c = jitter(rng, 0.3, 0.2), jitter(rng, 0.18, 0.2)
    st_size = (st_span, 0.03, st_c)
    left = Frame(translation=np.array([st_span / 2 + radius * 0.5, 0.0, -length / 2 + st_c / 2 + 0.08]))
    right = mirrored(left)
    a.add("left_stabilizer", g.box(*st_size), wing_tex, left)
    a.add("right_stabilizer", g.box(*st_size), wing_tex, right)
    a.twin_keypoints("stabilizer_tip", (left, right), box_point(st_size, "+y", 0.9, 0.0))
    return a


CATEGORIES = (
    Category("car", CAR_KEYPOINTS, _car, "sedan / hatchback / van body, cabin, 4 wheels, lights, mirrors"),
    Category("airplane", AIRPLANE_KEYPOINTS, _airplane, "capsule fuselage, swept wings, optional engines, tail"),
)
