"""Drive the app as a user: open images, pick a backbone, click, export, errors, cancel, responsiveness."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QImage

from .conftest import astronaut_pair, click_image, noise_images

pytestmark = pytest.mark.gui


def pick_backbone(controller, name: str) -> None:
    combo = controller.window.options.backbone
    index = combo.findData(name, Qt.ItemDataRole.UserRole)
    assert index >= 0, f"{name} not in the backbone picker"
    combo.setCurrentIndex(index)


def wait_features(qtbot, c, backbone: str) -> None:
    qtbot.waitUntil(lambda: c.session.features is not None and c.session.features.maps[0].backbone == backbone
                    and not c.runner.busy("extract"), timeout=60000)


def test_open_pick_click_match(qtbot, make_controller, tmp_path):
    c = make_controller(backbone="daisy")
    src, trg, shift = astronaut_pair(tmp_path)
    c.open_paths([str(src), str(trg)])
    qtbot.waitUntil(lambda: len(c.session.images) == 2, timeout=20000)
    assert c.window.pair_view.image_count() == 2
    pick_backbone(c, "dense_sift")
    assert c.session.options.backbone == "dense_sift"
    wait_features(qtbot, c, "dense_sift")
    assert "features ready" in c.window.status_label.text()
    assert c.window.pair_view._slots[0].overlay.isVisible()  # PCA overlay shown

    click_image(qtbot, c, 0, 200.0, 150.0)
    qtbot.waitUntil(lambda: c.session.matches is not None and len(c.session.matches.matches) == 1, timeout=20000)
    p = c.session.points[0]
    assert abs(p.x - 200) < 2 and abs(p.y - 150) < 2  # the click landed where we aimed
    m = c.session.matches.matches[0]
    expected = np.array([p.x, p.y]) + shift
    assert np.linalg.norm(np.array(m.xy) - expected) < 4.0, (m.xy, expected)
    assert m.target == 1 and m.confidence is not None
    assert 1 in c.session.matches.heatmaps  # similarity heatmap on the other image
    assert c.window.pair_view._slots[1].heat.isVisible()
    qtbot.waitUntil(lambda: "click→display" in c.window.timing_label.text(), timeout=5000)
    assert "extraction" in c.window.timing_label.text()

    # A second point gets its own colour; dense mode draws mutual-NN lines.
    click_image(qtbot, c, 0, 250.0, 100.0)
    qtbot.waitUntil(lambda: c.session.matches is not None and len(c.session.matches.matches) == 2, timeout=20000)
    assert c.session.points[0].color != c.session.points[1].color
    c.window.options.dense.setChecked(True)
    qtbot.waitUntil(lambda: c.session.dense is not None, timeout=20000)
    assert len(c.session.dense) > 10


def test_export_png_svg_pdf_and_matches(qtbot, make_controller, tmp_path):
    from corrviz.app.export import figure_pixel_size

    c = make_controller()
    src, trg, _ = astronaut_pair(tmp_path)
    c.open_paths([str(src), str(trg)])
    wait_features(qtbot, c, "dense_sift")
    click_image(qtbot, c, 0, 200.0, 150.0)
    qtbot.waitUntil(lambda: c.session.matches is not None, timeout=20000)

    png = c.figure.export_figure(tmp_path / "out" / "figure.png", dpi=192)
    assert png.exists() and png.stat().st_size > 1000
    img = QImage(str(png))
    view = c.window.pair_view
    w, h = figure_pixel_size(view, 192)  # the tight crop around the images, at 2x the on-screen size
    assert (img.width(), img.height()) == (w, h)
    # a crop of the view: never larger than the view at 2x (+2 px for rounding the scene rectangle)
    assert w <= 2 * view.width() + 2 and h <= 2 * view.height() + 2, (w, h, view.width(), view.height())
    svg = c.figure.export_figure(tmp_path / "out" / "figure.svg", dpi=192)
    text = svg.read_text()
    assert svg.stat().st_size > 1000 and "<svg" in text
    pdf = c.figure.export_figure(tmp_path / "out" / "figure.pdf", dpi=150)
    assert pdf.read_bytes().startswith(b"%PDF")
    csv_path = c.figure.export_matches(tmp_path / "out" / "matches.csv")
    lines = csv_path.read_text().strip().splitlines()
    assert lines[0].startswith("point,src_image") and len(lines) == 2
    js = c.figure.export_matches(tmp_path / "out" / "matches.json")
    assert '"trg_x"' in js.read_text()
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temp files left


def test_corrupt_image_shows_error_and_app_stays_usable(qtbot, make_controller, tmp_path):
    c = make_controller()
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"this is not really a png" * 10)
    c.open_paths([str(bad)])
    qtbot.waitUntil(lambda: c.window.errors_shown == 1, timeout=10000)
    box = c.window.error_box
    assert box is not None and box.isVisible()
    assert "broken.png" in box.text() and "Traceback" not in box.text()
    assert "broken.png" in c.window.status_label.text()
    box.close()
    src, trg, _ = astronaut_pair(tmp_path)
    c.open_paths([str(src), str(trg)])
    wait_features(qtbot, c, "dense_sift")
    click_image(qtbot, c, 0, 200.0, 150.0)
    qtbot.waitUntil(lambda: c.session.matches is not None, timeout=20000)


def test_cancel_extraction_midway(qtbot, make_controller, tmp_path):
    from dataclasses import replace

    c = make_controller()
    c.session.set_options(replace(c.session.options, resolution=896))
    c.open_paths([str(p) for p in noise_images(tmp_path, 12)])
    w = c.window
    qtbot.waitUntil(lambda: w.progress.isVisible() and w.progress.maximum() == 12 and w.progress.value() >= 1,
                    timeout=30000)
    assert w.cancel_button.isVisible()
    qtbot.mouseClick(w.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not c.runner.busy("extract"), timeout=30000)
    assert c.session.features is None
    assert "ancel" in w.status_label.text()
    assert not w.progress.isVisible()
    qtbot.wait(100)
    assert c.session.features is None  # the cancelled job's result is never applied


def test_event_loop_runs_during_extraction(qtbot, make_controller, tmp_path):
    from dataclasses import replace

    c = make_controller()
    c.session.set_options(replace(c.session.options, resolution=896))
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(20)
    try:
        c.open_paths([str(p) for p in noise_images(tmp_path, 5)])
        qtbot.waitUntil(lambda: c.runner.busy("extract"), timeout=20000)
        t0 = time.perf_counter()
        qtbot.waitUntil(lambda: c.session.features is not None, timeout=60000)
        elapsed = time.perf_counter() - t0
    finally:
        timer.stop()
    during = [t for t in ticks if t >= t0]
    assert elapsed > 0.5, "extraction too fast to test responsiveness"
    assert len(during) >= 0.25 * elapsed / 0.02, (len(during), elapsed)
    gaps = np.diff(during)
    # extraction on the GUI thread would stall it for a whole image (>= 2 s here); the bound tolerates
    # scheduler hiccups on a loaded 2-core machine (0.53 s seen once) without hiding that
    limit = max(0.5, 0.1 * elapsed)
    assert gaps.max() < limit, f"GUI thread blocked for {gaps.max():.2f} s (limit {limit:.2f} s)"
