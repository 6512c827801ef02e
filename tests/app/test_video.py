"""Video tracking in the app: several tracks, the occlusion rule, confidence, the query marker."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PyQt6.QtCore import Qt

from .test_inputs import write_video

pytestmark = pytest.mark.gui


def click_frame(qtbot, c, x: float, y: float) -> None:
    vv = c.window.video_view
    qtbot.mouseClick(vv.graphics.viewport(), Qt.MouseButton.LeftButton, pos=vv.view_to_widget(x, y).toPoint())


def wait_tracks(qtbot, c, n: int) -> None:
    qtbot.waitUntil(lambda: c.session.track is not None and c.session.track.num_points == n
                    and not c.runner.busy("track"), timeout=60000)


def test_two_tracks_confidence_and_occlusion(qtbot, make_controller, tmp_path):
    c = make_controller()  # dense_sift: weight-free, similarity peaks high everywhere
    video = tmp_path / "pan.avi"
    write_video(video)  # 12 frames, content moves 4 px left per frame
    c.window.video_view.step.setValue(1)
    c.open_paths([str(video)])
    qtbot.waitUntil(lambda: c.session.video_maps is not None, timeout=60000)
    vv = c.window.video_view
    assert vv.occlusion_rule() == "cycle"
    c.session.set_frame(3)
    click_frame(qtbot, c, 148.0, 90.0)
    wait_tracks(qtbot, c, 1)
    click_frame(qtbot, c, 14.0, 128.0)  # near the left border: it leaves the frame after frame 6
    wait_tracks(qtbot, c, 2)
    t = c.session.track
    assert vv.track_count() == 2 and t.rule == "cycle"
    assert list(t.point_query_frames()) == [3, 3]
    assert abs(t.xy[3, 0, 0] - 148) < 1.5 and abs(t.xy[3, 1, 0] - 14) < 1.5  # the clicks landed
    expected = 148.0 - 4.0 * (np.arange(12) - 3)
    assert (np.abs(t.xy[:, 0, 0] - expected) < 6).mean() >= 0.75
    assert t.visible[:, 0].all()  # the interior point stays in view
    assert t.visible[1:6, 1].all() and not t.visible[8:, 1].any(), t.visible[:, 1]  # out of the frame from 7 on
    assert "2 track(s) through 12 frames" in vv.status.text()

    # Confidence along each track: one curve per track in the strip below the frame.
    trail, query, now, label, curve = vv._items[1]
    cx, cy = curve.getData()
    assert len(cx) == 12 and np.allclose(cy, t.confidence[:, 1]) and cy[3] == 1.0 and (cy[9:] == 0).all()
    # The query "+" only on the query's own frame; a hidden point is a hollow cross, labelled.
    assert len(query.data) == 1
    c.session.set_frame(10)
    assert len(query.data) == 0 and len(vv._items[0][1].data) == 0
    assert "occluded" in label.toPlainText() and "occluded" not in vv._items[0][3].toPlainText()
    assert now.opts["symbol"] == "x" and vv._items[0][2].opts["symbol"] == "o"

    # A.10's absolute rule flags nothing here (the symptom of issue 14); switching rules re-tracks both.
    vv.occlusion.setCurrentIndex(vv.occlusion.findData("absolute"))
    qtbot.waitUntil(lambda: c.session.track is not None and c.session.track.rule == "absolute"
                    and not c.runner.busy("track"), timeout=60000)
    assert c.session.track.num_points == 2 and c.session.track.visible.all()

    # New features (another backbone): the tracks are recomputed with them, not left stale.
    vv.occlusion.setCurrentIndex(vv.occlusion.findData("cycle"))
    c.session.set_options(replace(c.session.options, backbone="daisy"))
    qtbot.waitUntil(lambda: c.session.video_maps is not None and c.session.video_maps[0].backbone == "daisy"
                    and c.session.track is not None and not c.runner.busy("track"), timeout=90000)
    assert c.session.track.num_points == 2 and c.session.track.rule == "cycle"

    vv.clear.click()
    assert c.session.track is None and vv.track_count() == 0


def test_a_finetuned_checkpoint_tracks_with_its_own_features(qtbot, make_controller, tmp_path):
    """A 3DPoV-style checkpoint (trainable blocks + MLP head) in the picker: the video is re-extracted through
    it, the view says so, and the tracks are recomputed from its features."""
    from corrviz.core.backbones import create_backbone
    from corrviz.core.checkpoint import save_checkpoint
    from corrviz.core.heads import AdaptedBackbone

    bb = create_backbone("test_dinov2_tiny")
    specs = [{"type": "blocks", "blocks": [2]}, {"type": "mlp", "channels": bb.feature_dim(), "hidden": [32],
                                                 "out_channels": 16}]
    ck = save_checkpoint(tmp_path / "pov_like.safetensors", AdaptedBackbone(bb, specs), "3dpov")
    c = make_controller(backbone="test_dinov2_tiny")
    video = tmp_path / "pan.avi"
    write_video(video)
    c.window.video_view.step.setValue(1)
    c.open_paths([str(video)])
    qtbot.waitUntil(lambda: c.session.video_maps is not None, timeout=60000)
    c.session.set_frame(3)
    click_frame(qtbot, c, 148.0, 90.0)
    wait_tracks(qtbot, c, 1)
    plain = c.session.track.xy.copy()
    assert c.session.video_maps[0].features.shape[0] == bb.feature_dim()
    assert c.checkpoints.set_checkpoint(str(ck))
    qtbot.waitUntil(lambda: c.session.video_maps is not None and c.session.video_maps[0].features.shape[0] == 16
                    and c.session.track is not None and not c.runner.busy("track"), timeout=90000)
    assert "pov_like.safetensors" in c.window.video_view.status.text()
    assert c.session.track.num_points == 1 and not np.allclose(c.session.track.xy, plain)
