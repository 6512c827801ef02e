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
    code = eval_main(["pose", "--data", "default", "--limit", "1", "--backbone", "dense_sift", "--resolution", "160",
                      "--references", "6", "--queries", "4", "--render-resolution", "160", "--appearance",
                      "lighting", "--out", str(tmp_path), "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "1cm-1deg" in out and "ADD(-S)@0.1d" in out and "viewpoint" in out
    doc = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert doc["protocol"]["pose"]["queries"]["appearance"] == "lighting"
    assert doc["protocol"]["matcher"]["method"] == "mnn"
    assert doc["protocol"]["databases"]["mug"]["n_views"] == 6
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
        assert (tmp_path / f"pose_dense_sift_160_mnn_{kind}.png").is_file()
    assert (tmp_path / "pose_dense_sift_160_mnn.csv").read_text().count("\n") == len(doc["results"]) + 1


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
