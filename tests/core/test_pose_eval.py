"""``corrviz-eval pose``: the oracle gives the exact pose on every test object (held-out procedural
objects and the real meshes), real features run end to end with JSON / CSV / plots, bad input fails first."""

import json

import numpy as np
import pytest

from corrviz.core.commands.eval import main as eval_main
from corrviz.core.errors import DatasetError, InputMismatchError
from corrviz.core.evaluate import OracleMatcher, evaluate
from corrviz.core.evaluate.pose import (
    HELD_OUT_OBJECTS,
    PoseSettings,
    pose_sources,
    query_poses,
    viewpoint_bin,
)

TINY = PoseSettings(n_references=4, n_queries=3, resolution=160)


def check_oracle(result, n_objects):
    assert result.protocol["n_evaluated"] == n_objects and len(result.items) == 3 * n_objects
    for it in result.items:
        assert it["found"], it
        assert it["rotation_error_deg"] < 0.5 and it["translation_error_diam"] < 0.005, it
    assert result.value("cm_deg_accuracy", 1.0) == 1.0 and result.value("add(-s)", 0.1) == 1.0


def test_oracle_exact_on_every_held_out_object():
    res = evaluate("pose", "default", "dense_sift", OracleMatcher(), pose=TINY)
    assert res.protocol["objects"] == list(HELD_OUT_OBJECTS)
    check_oracle(res, len(HELD_OUT_OBJECTS))


def test_oracle_exact_on_every_real_mesh(shared_data):
    meshes = shared_data / "meshes"
    names = [s.name for s in pose_sources(meshes)]
    assert len(names) == 6 and "pytorch3d_cow" in names  # cow.obj and cow.glb are one object
    res = evaluate("pose", meshes, "dense_sift", OracleMatcher(), pose=TINY)
    check_oracle(res, 6)


def test_queries_are_seeded_and_off_the_reference_orbit():
    a, b = query_poses("mug", PoseSettings(n_queries=20)), query_poses("mug", PoseSettings(n_queries=20))
    assert np.array_equal(a, b) and not np.array_equal(a, query_poses("bowl", PoseSettings(n_queries=20)))
    elevations = np.degrees(np.arcsin(-a[:, 2, 1]))  # camera z axis points at the object: -y of its eye
    assert elevations.min() < 0 < 40 < elevations.max()
    assert [viewpoint_bin(x) for x in (0.0, 9.9, 10.0, 29.9, 30.0, 180.0)] == \
        ["small", "small", "medium", "medium", "large", "large"]


def test_command_writes_results_consistent_with_its_items(tmp_path, capsys):
    code = eval_main(["pose", "--data", "default", "--limit", "1", "--backbone", "dense_sift", "--resolution", "128",
                      "--references", "4", "--queries", "4", "--render-resolution", "128", "--appearance",
                      "lighting", "--out", str(tmp_path), "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "1cm-1deg" in out and "ADD(-S)@0.1d" in out and "viewpoint" in out
    doc = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert doc["protocol"]["pose"]["queries"]["appearance"] == "lighting"
    assert doc["protocol"]["matcher"]["method"] == "mnn"
    assert doc["protocol"]["databases"]["mug"]["n_views"] == 4
    items = doc["items"]
    assert len(items) == 4
    rows = {(r["metric"], r["alpha"], r["norm"]): r["value"] for r in doc["results"]
            if r["category"] == "all" and r["viewpoint"] == "all"}
    for t in (1.0, 3.0, 5.0):
        want = np.mean([it["found"] and it["rotation_error_deg"] < t and it["translation_error_cm"] < t
                        for it in items])
        assert rows[("cm_deg_accuracy", t, "cm-deg")] == pytest.approx(want)
    assert rows[("pose_found", None, None)] == pytest.approx(np.mean([it["found"] for it in items]))
    for kind in ("viewpoints", "objects", "accuracy_curve"):
        assert (tmp_path / f"pose_dense_sift_128_mnn_{kind}.png").is_file()
    assert (tmp_path / "pose_dense_sift_128_mnn.csv").read_text().count("\n") == len(doc["results"]) + 1


def test_bad_input_fails_before_work(tmp_path):
    with pytest.raises(InputMismatchError, match="--references must be at least 1"):
        from corrviz.core.commands.eval import build_parser, check_args

        check_args(build_parser().parse_args(["pose", "--data", "default", "--backbone", "dense_sift",
                                              "--references", "0"]))
    assert eval_main(["pose", "--data", str(tmp_path / "nope"), "--backbone", "dense_sift", "--quiet"]) != 0
    with pytest.raises(DatasetError, match="holds no meshes"):
        pose_sources(tmp_path)
    with pytest.raises(InputMismatchError, match="mutual nearest neighbours"):
        evaluate("pose", "default", "dense_sift", "soft-argmax", pose=TINY)


def test_bench_pose_tiny(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "bench_pose.py"
    spec = importlib.util.spec_from_file_location("script_bench_pose", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--references", "3", "--queries", "2", "--render-resolution", "96", "--resolution", "96"]) == 0
    out = capsys.readouterr().out
    assert "onboarding 3 reference views (extract + build)" in out and "query: dense mutual-NN" in out
    assert "queries with a pose:" in out and "database:" in out


def test_rows_from_built_outcomes():
    from corrviz.core.evaluate.pose import QueryOutcome
    from corrviz.core.evaluate.pose_report import group_rows, pose_rows
    from corrviz.core.pose import pose_errors

    cross = np.array([[1.0, 0, 0], [-1.0, 0, 0], [0, 1.0, 0], [0, -1.0, 0]])  # diameter 2: 1 unit = 10 cm

    def outcome(obj, vp, rot_deg, shift, found=True):
        a = np.deg2rad(rot_deg)
        r = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1.0]])
        t = np.array([0.0, 0.0, 3.0])
        e = pose_errors(r if found else None, t + [shift, 0, 0] if found else None, np.eye(3), t, cross, 2.0, 20.0,
                        symmetric=obj == "sym")
        return QueryOutcome(obj, 0, 5.0 if vp == "small" else 40.0, vp,
                            {"found": found, "inlier_ratio": 0.5 if found else 0.0, "reason": ""}, e)

    outs = [outcome("a", "small", 0.5, 0.05),  # 0.5 deg, 0.5 cm: right at every threshold
            outcome("a", "large", 2.0, 0.25),  # 2 deg, 2.5 cm: 3 and 5
            outcome("sym", "large", 180.0, 0.0),  # half turn of a symmetric object: ADD-S 0, cm-deg wrong
            outcome("a", "large", 0.0, 0.0, found=False),
            outcome("a", "small", 0.2, 0.8)]  # 0.2 deg but 8 cm: wrong in every cm-deg accuracy
    rows = {(r["metric"], r["alpha"], r["norm"]): r["value"] for r in group_rows(outs)}
    assert rows[("pose_found", None, None)] == 0.8
    assert rows[("cm_deg_accuracy", 1.0, "cm-deg")] == 0.2
    assert rows[("cm_deg_accuracy", 3.0, "cm-deg")] == 0.4 and rows[("cm_deg_accuracy", 5.0, "cm-deg")] == 0.4
    # threshold 0.1 d = 0.2 units: the first query is within (ADD ~0.05), the second and last not (shift
    # 0.25, 0.8); the symmetric half turn has ADD-S 0 (ADD(-S) takes it) but ADD 2
    assert rows[("add(-s)", 0.1, "diameter")] == 0.4
    assert rows[("add", 0.1, "diameter")] == 0.2 and rows[("add_s", 0.1, "diameter")] == 0.4
    assert rows[("rotation_error_deg", None, None)] == pytest.approx(2.0)  # median of 0.2, 0.5, 2, 180, inf
    assert rows[("translation_error", None, "cm")] == pytest.approx(2.5)  # median of 0, 0.5, 2.5, 8, inf
    assert rows[("inlier_ratio", None, None)] == pytest.approx(0.4)
    by_vp = {(r["viewpoint"], r["category"]): r["value"] for r in pose_rows(outs)
             if r["metric"] == "cm_deg_accuracy" and r["alpha"] == 1.0}
    assert by_vp[("small", "all")] == 0.5 and by_vp[("large", "all")] == 0.0 and by_vp[("all", "a")] == 0.25


def test_query_appearance_changes_colour_not_geometry():
    from corrviz.core.evaluate.pose import query_appearance
    from corrviz.core.render import look_at, render_poses
    from corrviz.core.synthetic import make_object

    mesh = make_object("mug")
    pose = look_at(np.array([1.0, 0.8, 1.4]))[None]
    base = render_poses(mesh, pose, resolution=64).views[0]
    for kind in ("lighting", "texture", "lighting+texture"):
        m, light = query_appearance(mesh, kind)
        view = render_poses(m, pose, resolution=64, lighting=light).views[0]
        assert np.array_equal(view.mask, base.mask) and np.array_equal(view.depth, base.depth)
        diff = np.abs(view.rgb.astype(int) - base.rgb.astype(int))[base.mask].mean()
        assert diff > 5, kind
    same, light = query_appearance(mesh, "same")
    assert same is mesh and light is None
