"""The multiview benchmark: APE / PCDP through the runner on renders with exact ground truth."""

import numpy as np
import pytest

from corrviz.core.commands.eval import main as eval_main
from corrviz.core.errors import DatasetError
from corrviz.core.evaluate import OracleMatcher, evaluate
from corrviz.core.evaluate.multiview import MultiviewSettings, multiview_sources
from corrviz.core.render.storage import write_view_set

SMALL = MultiviewSettings(n_views=6, resolution=128, n_pairs=3, n_points=60, max_rotation_deg=90.0)


@pytest.fixture(scope="module")
def mesh_folder(tmp_path_factory, shared_data):
    """A folder with one real mesh, one synthetic view set and one broken mesh."""
    from corrviz.core.render import render_views
    from corrviz.core.synthetic import make_object

    root = tmp_path_factory.mktemp("meshes")
    (root / "bunny.ply").write_bytes((shared_data / "meshes/stanford_bunny/bunny.ply").read_bytes())
    (root / "broken.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")  # vertices, no faces
    views = render_views(make_object("mug"), n_views=6, resolution=128)
    write_view_set(views, root / "mug_views")
    return root


def test_oracle_scores_ape_zero_pcdp_one(mesh_folder):
    res = evaluate("multiview", mesh_folder / "bunny.ply", "dense_sift", OracleMatcher(), multiview=SMALL)
    assert res.value("ape", norm="min(W,H)", aggregation="mean over points") == 0.0
    for d in SMALL.deltas:
        assert res.value("pcdp", d, aggregation="mean over points") == 1.0
    assert res.protocol["n_points"] == 3 * 60


def test_sources_and_skips(mesh_folder):
    names = [s.name for s in multiview_sources(mesh_folder, SMALL)]
    assert names == ["broken.obj", "bunny.ply"]
    view_set = multiview_sources(mesh_folder / "mug_views", SMALL)
    assert len(view_set) == 1 and len(view_set[0].load()) == 6
    res = evaluate("multiview", mesh_folder, "dense_sift", "nn", multiview=SMALL)
    assert res.protocol["n_skipped"] == 1 and "no faces" in res.skipped[0]["reason"]
    with pytest.raises(DatasetError, match="does not exist"):
        multiview_sources(mesh_folder / "nope", SMALL)


def test_real_matcher_is_between_floor_and_oracle(mesh_folder):
    sift = evaluate("multiview", mesh_folder / "mug_views", "dense_sift", "nn",
                    multiview=MultiviewSettings(n_views=6, resolution=128, n_pairs=4, n_points=80,
                                                max_rotation_deg=90.0))
    ape = sift.value("ape", aggregation="mean over points")
    pcdp = sift.value("pcdp", 0.2, aggregation="mean over points")
    assert 0.0 < ape < 0.5 and 0.2 < pcdp < 1.0
    per_object = sift.value("ape", aggregation="object", category="mug_views")
    assert np.isclose(per_object, ape)


def test_command_prints_multiview_scores(mesh_folder, tmp_path, capsys):
    code = eval_main(["multiview", "--data", str(mesh_folder / "mug_views"), "--backbone", "dense_sift",
                      "--out", str(tmp_path), "--pairs", "2", "--points", "40", "--quiet", "--max-rotation", "90"])
    assert code == 0
    out = capsys.readouterr().out
    assert "pcdp@0.1" in out and "ape" in out
    assert list(tmp_path.glob("*_objects.png")) and list(tmp_path.glob("*.csv"))
