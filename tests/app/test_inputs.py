"""Bad inputs show clear messages; sessions, video tracking and the 3-D view work end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from .conftest import astronaut_pair, click_image

pytestmark = pytest.mark.gui


def wait_error(qtbot, c, count: int) -> str:
    qtbot.waitUntil(lambda: c.window.errors_shown >= count, timeout=30000)
    text = c.window.error_box.text()
    assert "Traceback" not in text
    c.window.error_box.close()
    return text


def write_video(path, n_frames: int = 12, shift: int = 4) -> None:
    import cv2
    from skimage import data

    a = data.astronaut()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (256, 256))
    assert writer.isOpened()
    for k in range(n_frames):
        frame = a[100:356, 100 + shift * k: 356 + shift * k]
        writer.write(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR))
    writer.release()


def test_bad_inputs_show_clear_messages(qtbot, make_controller, tmp_path):
    import torch
    from safetensors.torch import save_file

    from corrviz.core.io import save_image

    c = make_controller()
    tiny = tmp_path / "tiny.png"
    save_image(tiny, np.zeros((8, 8, 3), np.uint8))
    c.open_paths([str(tiny)])
    assert "too small" in wait_error(qtbot, c, 1)

    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    c.open_paths([str(video)])
    assert "clip.mp4" in wait_error(qtbot, c, 2)

    ply = tmp_path / "points.ply"
    ply.write_text("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
                   "property float z\nend_header\n0 0 0\n1 0 0\n0 1 0\n")
    c.open_paths([str(ply)])
    assert "face" in wait_error(qtbot, c, 3).lower()

    ckpt = tmp_path / "other.safetensors"
    meta = {"format": "corrviz-checkpoint", "format_version": 1, "backbone": "dinov2_vits14", "method": "mef",
            "modules": [], "config": {}, "feature": {}, "metrics": {}}
    save_file({"heads.0.weight": torch.zeros(2, 2)}, str(ckpt), metadata={"corrviz": json.dumps(meta)})
    assert not c.checkpoints.set_checkpoint(str(ckpt))
    text = wait_error(qtbot, c, 4)
    assert "dinov2_vits14" in text and "dense_sift" in text
    assert c.session.options.checkpoint is None
    assert "dinov2_vits14" in c.window.options.checkpoint_info.text()

    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a checkpoint")
    assert not c.checkpoints.set_checkpoint(str(junk))
    assert "junk.safetensors" in wait_error(qtbot, c, 5)

    # Unavailable weights: picking a backbone without weights explains where corrviz looked.
    combo = c.window.options.backbone
    from PyQt6.QtCore import Qt

    combo.setCurrentIndex(combo.findData("dinov2_vits14", Qt.ItemDataRole.UserRole))
    src, trg, _ = astronaut_pair(tmp_path)
    c.open_paths([str(src), str(trg)])
    assert "weights" in wait_error(qtbot, c, 6).lower()
    assert c.window.isVisible()


def test_session_roundtrip(qtbot, make_controller, tmp_path):
    from corrviz.app.session_io import save_session

    c = make_controller()
    src, trg, _ = astronaut_pair(tmp_path)
    c.open_paths([str(src), str(trg)])
    qtbot.waitUntil(lambda: c.session.features is not None, timeout=60000)
    click_image(qtbot, c, 0, 200.0, 150.0)
    click_image(qtbot, c, 1, 100.0, 80.0)
    c.session.set_method("nn")
    qtbot.waitUntil(lambda: c.session.matches is not None and len(c.session.matches.matches) == 2, timeout=20000)
    path = save_session(tmp_path / "s.corrviz.json", c.session)

    c2 = make_controller()
    c2.open_paths([str(path)])
    qtbot.waitUntil(lambda: c2.session.matches is not None and len(c2.session.matches.matches) == 2, timeout=60000)
    assert [im.path for im in c2.session.images] == [str(src), str(trg)]
    assert [(p.image, round(p.x), round(p.y)) for p in c2.session.points] == \
        [(p.image, round(p.x), round(p.y)) for p in c.session.points]
    assert c2.session.method == "nn"

    broken = tmp_path / "broken.corrviz.json"
    broken.write_text("{not json")
    c2.open_paths([str(broken)])
    assert "broken.corrviz.json" in wait_error(qtbot, c2, 1)


def test_video_track(qtbot, make_controller, tmp_path):
    c = make_controller()
    video = tmp_path / "pan.avi"
    write_video(video)
    c.window.video_view.step.setValue(1)
    c.open_paths([str(video)])
    qtbot.waitUntil(lambda: c.session.video_maps is not None, timeout=60000)
    assert len(c.session.video) == 12
    assert c.window.tabs.currentWidget() is c.window.video_view
    c.window.video_view.slider.setValue(3)
    assert c.session.frame == 3
    c.video.track_point(148.0, 90.0)
    qtbot.waitUntil(lambda: c.session.track is not None, timeout=30000)
    t = c.session.track
    assert t.query_frame == 3 and t.num_frames == 12
    # The content moves 4 px left per frame, so the tracked point does too.
    expected_x = 148.0 - 4.0 * (np.arange(12) - 3)
    ok = np.abs(t.xy[:, 0, 0] - expected_x) < 6
    assert ok.mean() >= 0.75, t.xy[:, 0]
    assert "track(s) through 12 frames" in c.window.video_view.status.text()


def test_3d_view_linked_selection(qtbot, make_controller, tmp_path):
    from corrviz.app.main_window import TAB_3D

    c = make_controller()
    src, trg, _ = astronaut_pair(tmp_path)
    c.open_paths([str(src), str(trg)])
    qtbot.waitUntil(lambda: c.session.features is not None, timeout=60000)
    c.window.tabs.setCurrentIndex(TAB_3D)
    v = c.scene.view
    assert v is not None and len(v._clouds) == 2
    # 2-D -> 3-D: clicking a point highlights its cell (and its match) in the cloud.
    click_image(qtbot, c, 0, 200.0, 150.0)
    qtbot.waitUntil(lambda: c.session.matches is not None, timeout=20000)
    assert v._highlight.visible
    # 3-D -> 2-D: picking a cloud point adds a query point at that cell.
    v.set_mode("sphere")
    assert v.banner.isVisible() and "PLACEHOLDER" in v.banner.text()
    qtbot.wait(50)
    pos = v._cloud_pos[1][10]
    screen = v._clouds[1].get_transform("visual", "canvas").map(pos[None])[0]
    picked = v.pick_at(screen[0] / screen[3], screen[1] / screen[3])
    assert picked is not None
    qtbot.waitUntil(lambda: len(c.session.points) == 2, timeout=5000)
    assert c.session.points[1].image == picked[0]
    png = c.figure.export_figure(tmp_path / "snap.png", dpi=96)
    assert png.stat().st_size > 1000
