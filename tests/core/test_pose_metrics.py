"""Pose metrics against hand-computed values: rotation / translation errors, cm-deg accuracy, ADD, ADD-S."""

import numpy as np
import pytest

from corrviz.core.pose import (
    add_distance,
    add_s_distance,
    diameter,
    pose_errors,
    rotation_error_deg,
    sample_surface,
    translation_error,
)


def rot_z(deg):
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1.0]])


def rot_x(deg):
    a = np.deg2rad(deg)
    return np.array([[1.0, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])


# four points symmetric under a half turn about z; diameter 2
CROSS = np.array([[1.0, 0, 0], [-1.0, 0, 0], [0, 1.0, 0], [0, -1.0, 0]])


def test_rotation_and_translation_errors():
    r_gt = rot_x(20.0)
    assert rotation_error_deg(r_gt @ rot_z(30.0), r_gt) == pytest.approx(30.0, abs=1e-9)
    assert rotation_error_deg(rot_z(-170.0), np.eye(3)) == pytest.approx(170.0, abs=1e-9)
    assert rotation_error_deg(r_gt, r_gt) == pytest.approx(0.0, abs=1e-6)
    assert translation_error([1.0, 2.0, 3.0], [4.0, 6.0, 3.0]) == pytest.approx(5.0)


def test_add_and_add_s_on_a_symmetric_object():
    t = np.array([0.0, 0.0, 3.0])
    # a half turn maps the cross onto itself: ADD sees every point moved by 2, ADD-S sees nothing
    assert add_distance(CROSS, rot_z(180.0), t, np.eye(3), t) == pytest.approx(2.0)
    assert add_s_distance(CROSS, rot_z(180.0), t, np.eye(3), t) == pytest.approx(0.0, abs=1e-12)
    dt = np.array([0.0, 0.0, 0.05])
    assert add_distance(CROSS, rot_z(180.0), t + dt, np.eye(3), t) == pytest.approx(np.sqrt(4.0 + 0.05 ** 2))
    assert add_s_distance(CROSS, rot_z(180.0), t + dt, np.eye(3), t) == pytest.approx(0.05)
    # a quarter turn: ADD = mean |R x - x| = sqrt(2); ADD-S again 0 (the cross has 4-fold symmetry)
    assert add_distance(CROSS, rot_z(90.0), t, np.eye(3), t) == pytest.approx(np.sqrt(2.0))
    assert add_s_distance(CROSS, rot_z(90.0), t, np.eye(3), t) == pytest.approx(0.0, abs=1e-12)


def test_pose_errors_thresholds_on_a_built_case():
    t_gt = np.array([0.1, -0.2, 2.5])
    d = diameter(CROSS)
    assert d == pytest.approx(2.0)
    # 20 cm object of diameter 2 units: 1 unit = 10 cm; offsets 2 deg and 0.25 units = 2.5 cm
    e = pose_errors(rot_z(2.0), t_gt + [0.15, 0.2, 0.0], np.eye(3), t_gt, CROSS, d, 20.0, symmetric=False)
    assert e.found and e.rotation_deg == pytest.approx(2.0)
    assert e.translation == pytest.approx(0.25) and e.translation_diam == pytest.approx(0.125)
    assert e.translation_cm == pytest.approx(2.5)
    assert not e.cm_deg_correct(1.0) and e.cm_deg_correct(3.0) and e.cm_deg_correct(5.0)
    # ADD: each point moves by its rotation chord 2 sin(1 deg) plus the shift (0.15, 0.2, 0)
    moved = CROSS @ rot_z(2.0).T + [0.15, 0.2, 0.0]
    assert e.add == pytest.approx(np.mean(np.linalg.norm(moved - CROSS, axis=1)))
    assert e.add < 0.2 * d and e.add_correct("add", 0.2) and not e.add_correct("add", 0.1)
    # symmetric object: ADD(-S) takes ADD-S; a half turn is then no error at all
    s = pose_errors(rot_z(180.0), t_gt, np.eye(3), t_gt, CROSS, d, 20.0, symmetric=True)
    assert s.add_or_s == pytest.approx(0.0, abs=1e-12) and s.add_correct("add(-s)")
    assert not s.add_correct("add") and s.rotation_deg == pytest.approx(180.0)
    assert not s.cm_deg_correct(5.0)  # rotation error stays 180 deg for the cm-deg metric


def test_no_pose_is_wrong_everywhere():
    e = pose_errors(None, None, np.eye(3), np.zeros(3), CROSS, 2.0, 20.0)
    assert not e.found and np.isinf(e.rotation_deg) and np.isinf(e.translation_cm)
    assert not any(e.cm_deg_correct(t) for t in (1, 3, 5)) and not e.add_correct("add(-s)")
    with pytest.raises(ValueError, match="diameter"):
        pose_errors(np.eye(3), np.zeros(3), np.eye(3), np.zeros(3), CROSS, 0.0, 20.0)


def test_diameter_and_surface_samples():
    cube = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], float)
    assert diameter(cube) == pytest.approx(np.sqrt(3.0))
    # unit square in z=0 from two triangles of equal area: samples uniform over it
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], float)
    pts = sample_surface(v, np.array([[0, 1, 2], [0, 2, 3]]), n=4000, seed=1)
    assert np.all(pts[:, 2] == 0) and pts[:, :2].min() >= 0 and pts[:, :2].max() <= 1
    assert np.allclose(pts[:, :2].mean(axis=0), 0.5, atol=0.02)
    assert np.mean(pts[:, 0] < 0.5) == pytest.approx(0.5, abs=0.03)
