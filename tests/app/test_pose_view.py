"""Pose mode: the controller with a mocked view (no display), then the real view under pytest-qt.

With the renderer oracle the drawn estimate (red) lies on the drawn ground truth (green); with real
features the inlier lines are drawn; bad input is a message, never a traceback; work runs in a worker.
"""

from __future__ import annotations

from types import SimpleNamespace
from unittest.mock import Mock

import numpy as np
import pytest
from scipy.spatial import cKDTree

from corrviz.app.controller_pose import PoseContext, PoseController, pose_query
from corrviz.app.pose_view import PoseViewValues
from corrviz.core.evaluate import ExtractorSpec
from corrviz.core.progress import Progress


@pytest.fixture(scope="module")
def mug(tmp_path_factory):
    from corrviz.core.render import save_mesh_npz
    from corrviz.core.synthetic import make_object

    path = tmp_path_factory.mktemp("pose") / "mug.npz"
    save_mesh_npz(make_object("mug", 0), path)
    return str(path)


def values(source: str, **kw) -> PoseViewValues:
    base = dict(source=source, query_kind="render", query_image="", azimuth_deg=35.0, elevation_deg=40.0,
                distance=2.2, matcher="oracle", n_references=6, threshold_px=8.0, render_resolution=160)
    base.update(kw)
    return PoseViewValues(**base)


class SyncRunner:
    """Runs a job at once on the calling thread (the real runner is exercised by the GUI test)."""

    def __init__(self) -> None:
        self.channels: list[str] = []

    def submit(self, channel, fn, on_result=None, on_error=None, on_cancelled=None, **_kw):
        self.channels.append(channel)
        try:
            result = fn(Progress())
        except Exception as exc:  # noqa: BLE001
            on_error(exc)
            return 1
        on_result(result, 0.0)
        return 1

    def cancel(self, _channel) -> bool:
        return False


def make(options=None):
    view = Mock()
    view.source_text.return_value = ""
    session = SimpleNamespace(options=options or ExtractorSpec("dense_sift", 128), sigMeshChanged=Mock(),
                              mesh_path=None)
    ctx = PoseContext(session, SyncRunner(), Mock(), Mock())
    return PoseController(ctx, view, pick_path=lambda kind: f"/picked/{kind}"), view, ctx


def outline_distance(red: np.ndarray, green: np.ndarray) -> float:
    """Largest distance (px) from a red outline point to the nearest green one, and back."""
    return max(cKDTree(green).query(red)[0].max(), cKDTree(red).query(green)[0].max())


def test_oracle_estimate_is_drawn_on_the_ground_truth(mug):
    ctrl, view, ctx = make()
    assert ctrl.estimate(values(mug)) is True
    assert ctx.runner.channels == ["pose"]
    drawing = view.show_drawing.call_args.args[0]
    assert drawing.found and len(drawing.estimate_outline) > 100
    assert outline_distance(drawing.estimate_outline, drawing.truth_outline) <= 1.0
    assert "0.00 deg" in drawing.text
    r = ctrl.last_result
    assert r.errors.rotation_deg < 0.5 and r.errors.translation_diam < 0.005


def test_a_wrong_pose_is_drawn_off_the_ground_truth(mug):
    """The outline test can fail: the same drawing at a pose turned 10 degrees is far from green."""
    from corrviz.core.pose.interactive import outline, silhouette
    from corrviz.core.render import load_mesh

    ctrl, view, _ = make()
    ctrl.estimate(values(mug))
    r = ctrl.last_result
    c, s = np.cos(np.radians(10)), np.sin(np.radians(10))
    turned = r.ground_truth.copy()
    turned[:3, :3] = turned[:3, :3] @ np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    size = (r.query_rgb.shape[1], r.query_rgb.shape[0])
    moved = outline(silhouette(load_mesh(mug), turned, r.K, size))
    assert outline_distance(moved, r.truth_outline) > 4.0


def test_features_give_inlier_lines_to_the_best_reference(mug):
    ctrl, view, _ = make()
    ctrl.estimate(values(mug, matcher="features", azimuth_deg=20.0, elevation_deg=25.0))
    r = ctrl.last_result
    assert r.estimate.n_matches >= 6
    d = view.show_drawing.call_args.args[0]
    if r.estimate.found:  # lines go from query pixels to pixels of one reference view
        assert len(d.lines_query) == len(d.lines_reference) > 0 and d.reference_rgb is not None
        views = r.estimate.ref_view[r.estimate.inliers]
        assert len(d.lines_query) == np.bincount(views).max()
        h, w = d.reference_rgb.shape[:2]
        assert np.all((d.lines_reference >= 0) & (d.lines_reference <= [w, h]))
    else:
        assert d.text.startswith("no pose")


def test_bad_input_is_a_message_and_starts_nothing(tmp_path, mug):
    ctrl, view, ctx = make()
    assert not ctrl.estimate(values(str(tmp_path / "missing.obj")))
    assert "does not exist" in view.show_message.call_args.args[0] and view.show_message.call_args.kwargs["error"]
    assert not ctrl.estimate(values(mug, query_kind="image", query_image=str(tmp_path / "none.png")))
    assert not ctrl.estimate(values(str(tmp_path), matcher="features"))  # a folder: no mesh to render from
    assert "reference folder has no mesh" in view.show_message.call_args.args[0]
    img = tmp_path / "q.png"
    from corrviz.core.io import save_image

    save_image(img, np.zeros((64, 64, 3), np.uint8))
    assert not ctrl.estimate(values(mug, query_kind="image", query_image=str(img), matcher="oracle"))
    assert ctx.runner.channels == []
    # an image without the object: a clear "no pose" with the reason, never a wrong pose
    assert ctrl.estimate(values(mug, query_kind="image", query_image=str(img), matcher="features"))
    d = view.show_drawing.call_args.args[0]
    assert not d.found and d.text.startswith("no pose") and len(d.estimate_outline) == 0


def test_pure_mapping_and_browse_and_open_mesh(mug):
    q = pose_query(values(mug, query_kind="image", query_image="/x.png", n_references=9))
    assert q.query == "/x.png" and q.n_references == 9 and q.render_resolution == 160
    assert pose_query(values(mug, query_image="/x.png")).query is None  # rendered: the file is ignored
    assert pose_query(values(mug, appearance="lighting+texture")).appearance == "lighting+texture"
    ctrl, view, ctx = make()
    ctrl.browse("image")
    view.set_query_image.assert_called_with("/picked/image")
    ctrl.browse("mesh")
    view.set_source.assert_called_with("/picked/mesh")
    ctx.session.mesh_path = mug
    ctrl._on_mesh()
    view.set_source.assert_called_with(mug)


@pytest.mark.gui
def test_pose_tab_draws_the_oracle_estimate_on_the_ground_truth(make_controller, qtbot, mug):
    c = make_controller(backbone="dense_sift")
    w = c.window
    view = w.pose_view
    assert w.tabs.tabText(w.tabs.indexOf(view)) == "Pose"
    w.tabs.setCurrentWidget(view)
    view.set_source(mug)
    view.matcher.setCurrentIndex(view.matcher.findData("oracle"))
    view.render_px.setValue(160)
    qtbot.mouseClick(view.run_button, _left())
    assert c.runner.busy("pose") or c.pose.last_result is not None  # a worker, not the GUI thread
    qtbot.waitUntil(lambda: c.pose.last_result is not None, timeout=60000)
    red, green = view.drawn_outline("estimate"), view.drawn_outline("truth")
    assert len(red) > 100 and outline_distance(red, green) <= 1.0
    assert "pose found" in view.status.text()
    view.set_source(mug + ".missing")
    qtbot.mouseClick(view.run_button, _left())
    assert "does not exist" in view.status.text() and w.errors_shown == 0


def _left():
    from PyQt6.QtCore import Qt

    return Qt.MouseButton.LeftButton


def test_reference_folder_and_image_file_query(mug, tmp_path):
    """A user reference set (a corrviz view-set folder: RGB + depth + pose) and a query image file: the
    estimate is drawn from the projected database points (no mesh), and no ground truth is claimed."""
    from corrviz.core.evaluate.pose import PoseSettings, _rendered, query_appearance
    from corrviz.core.io import save_image
    from corrviz.core.render import load_mesh, look_at, orbit_poses, render_poses, write_view_set

    mesh = load_mesh(mug)
    refs = _rendered(mesh, orbit_poses(8, 2.0, 20.0), PoseSettings(resolution=160), "ref")
    write_view_set(refs, tmp_path / "refs", write_mesh=False)
    q_mesh, _ = query_appearance(mesh, "same")
    view = render_poses(q_mesh, look_at(np.array([0.9, 0.8, 1.8]))[None], resolution=160).views[0]
    save_image(tmp_path / "query.png", view.rgb)
    ctrl, v, _ = make()
    assert ctrl.estimate(values(str(tmp_path / "refs"), query_kind="image", query_image=str(tmp_path / "query.png"),
                                matcher="features"))
    r = ctrl.last_result
    d = v.show_drawing.call_args.args[0]
    assert r.ground_truth is None and r.errors is None and len(d.truth_outline) == 0
    assert np.allclose(r.K, view.K)  # default focal: 560 px at 512 px, as the renders
    assert r.database_points > 0
    assert r.estimate.found and len(d.estimate_outline) > 0 and "no ground truth" in d.text
    assert len(d.lines_query) > 0 and d.reference_rgb.shape == (160, 160, 3)


def test_a_cancelled_query_stops_with_cancelled(mug):
    from corrviz.core.errors import Cancelled
    from corrviz.core.pose.interactive import run_pose_query

    p = Progress()
    p.cancel()
    with pytest.raises(Cancelled):
        run_pose_query(pose_query(values(mug, matcher="oracle")), None, p)


def test_view_offers_every_query_appearance_of_the_benchmark():
    from corrviz.app import pose_view
    from corrviz.core.evaluate.pose import APPEARANCES

    assert pose_view.APPEARANCES == APPEARANCES  # kept local: the window must not import torch at start
