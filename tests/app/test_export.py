"""Figure export of the 2-D view: vector SVG that renders like the PNG, backgrounds, tight crop, layers,
the last export folder, and the provenance recorded with exported matches."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PyQt6.QtCore import QPointF
from PyQt6.QtGui import QColor, QImage, QPainter

from corrviz.app.render_state import DrawLine, DrawPoint

from .conftest import astronaut_pair, click_image

pytestmark = pytest.mark.gui


def as_array(img: QImage) -> np.ndarray:
    """(H, W, 4) uint8 RGBA copy of a QImage."""
    q = img.convertToFormat(QImage.Format.Format_RGBA8888)
    buf = np.frombuffer(q.constBits().asstring(q.sizeInBytes()), np.uint8)
    return buf.reshape(q.height(), q.bytesPerLine() // 4, 4)[:, : q.width()].copy()


def rasterise_svg(path, width: int, height: int) -> np.ndarray:
    from PyQt6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(path))
    assert renderer.isValid(), f"{path} is not a valid SVG"
    img = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
    img.fill(QColor(0, 0, 0, 0))
    p = QPainter(img)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(p)
    p.end()
    return as_array(img)


@pytest.fixture
def drawn_view(qtbot):
    """A pair view with two astronaut crops, two query points, their matches, lines and a heatmap."""
    from skimage import data

    from corrviz.app.widgets.pair_view import PairView

    a = data.astronaut()
    view = PairView()
    qtbot.addWidget(view)
    view.resize(900, 520)
    view.show()
    qtbot.waitExposed(view)
    view.set_images([a[:300, :400].copy(), a[100:400, 50:300].copy()], ["left", "right"])
    heat = np.linspace(0.1, 0.9, 48 * 40, dtype=np.float32).reshape(48, 40)
    view.set_heatmaps({1: heat})
    pts = [DrawPoint(0, 100, 100, (230, 25, 75), True), DrawPoint(0, 300, 220, (60, 180, 75))]
    trg = [DrawPoint(1, 60, 70, (230, 25, 75), True), DrawPoint(1, 150, 200, (60, 180, 75), valid=False)]
    view.set_points(pts)
    view.set_targets(trg)
    view.set_lines([DrawLine(0, 100, 100, 1, 60, 70, (230, 25, 75), "sim 0.80", 3.0),
                    DrawLine(0, 300, 220, 1, 150, 200, (60, 180, 75))])
    qtbot.wait(50)
    return view, pts + trg


def matched_pair(qtbot, make_controller, tmp_path):
    """A controller with the astronaut pair open, one point clicked and its matches and heatmap shown."""
    c = make_controller()
    src, trg, _ = astronaut_pair(tmp_path)
    c.open_paths([str(src), str(trg)])
    qtbot.waitUntil(lambda: c.session.features is not None, timeout=60000)
    click_image(qtbot, c, 0, 200.0, 150.0)
    qtbot.waitUntil(lambda: c.session.matches is not None and 1 in c.session.matches.heatmaps, timeout=20000)
    return c


def figure_xy(view, image: int, x: float, y: float) -> tuple[float, float]:
    """Where an image pixel lands in the exported figure (96 DPI)."""
    rect, _ = view.figure_regions()
    sp = view.vb.mapViewToScene(QPointF(*view.to_scene(image, x, y)))
    return sp.x() - rect.left(), sp.y() - rect.top()


def test_svg_markers_are_vector_and_match_png(drawn_view, tmp_path):
    from corrviz.app.export import export_figure

    view, marks = drawn_view
    png = as_array(QImage(str(export_figure(view, tmp_path / "fig.png", dpi=96))))
    svg_path = export_figure(view, tmp_path / "fig.svg", dpi=96)
    text = svg_path.read_text()
    # raster <image>s only for the two photos and the heatmap; markers and lines are paths
    assert text.count("<image") == 3, text.count("<image")
    assert text.count("<path") >= len(marks) + 2
    svg = rasterise_svg(svg_path, png.shape[1], png.shape[0])
    diff = np.abs(png[..., :3].astype(int) - svg[..., :3].astype(int)).max(axis=-1)
    assert (diff > 40).mean() < 0.03, f"{(diff > 40).mean():.3f} of the pixels differ"
    for m in marks:  # each marker looks the same in both
        x, y = (round(v) for v in figure_xy(view, m.image, m.x, m.y))
        win = np.s_[max(y - 9, 0): y + 10, max(x - 9, 0): x + 10]
        assert diff[win].mean() < 20, (m, diff[win].mean())
        assert tuple(png[y, x, :3]) != (255, 255, 255)


def test_pdf_is_vector_and_matches_png(drawn_view, tmp_path):
    from PyQt6.QtCore import QSize
    from PyQt6.QtPdf import QPdfDocument

    from corrviz.app.export import export_figure

    view, marks = drawn_view
    png = as_array(QImage(str(export_figure(view, tmp_path / "fig.png", dpi=96))))
    doc = QPdfDocument(None)
    doc.load(str(export_figure(view, tmp_path / "fig.pdf", dpi=300)))
    assert doc.pageCount() == 1
    page = doc.pagePointSize(0)  # the on-screen size: w / 96 inches
    assert page.width() == pytest.approx(png.shape[1] * 72 / 96, abs=1) and page.height() == pytest.approx(
        png.shape[0] * 72 / 96, abs=1)
    pdf = as_array(doc.render(0, QSize(png.shape[1], png.shape[0])))
    diff = np.abs(png[..., :3].astype(int) - pdf[..., :3].astype(int)).max(axis=-1)
    assert (diff > 40).mean() < 0.03, f"{(diff > 40).mean():.3f} of the pixels differ"
    for m in marks:
        x, y = (round(v) for v in figure_xy(view, m.image, m.x, m.y))
        assert diff[max(y - 9, 0): y + 10, max(x - 9, 0): x + 10].mean() < 20, m


def test_figure_background_crop_and_layers(drawn_view, tmp_path):
    from corrviz.app.export import export_figure, figure_pixel_size

    view, _ = drawn_view
    white = as_array(QImage(str(export_figure(view, tmp_path / "w.png", dpi=192))))
    w, h = figure_pixel_size(view, 192)
    assert white.shape[:2] == (h, w)
    assert h < 2 * view.height() - 40  # tight: the empty bands above and below the images are cropped
    assert (white[0, 0] == 255).all() and (white[-1, -1] == 255).all()  # white, opaque corners
    clear = as_array(QImage(str(export_figure(view, tmp_path / "t.png", dpi=96, background="transparent"))))
    assert clear[0, 0, 3] == 0 and clear[-1, -1, 3] == 0
    x, y = (round(v) for v in figure_xy(view, 0, 200, 150))
    assert clear[y, x, 3] == 255  # the photo itself is opaque
    # a point on the red match line in the gutter between the images
    (xa, ya), (xb, yb) = figure_xy(view, 0, 100, 100), figure_xy(view, 1, 60, 70)
    gx = round(0.5 * (figure_xy(view, 0, 400, 0)[0] + figure_xy(view, 1, 0, 0)[0]))
    gy = round(ya + (yb - ya) * (gx - xa) / (xb - xa))
    with_lines = as_array(QImage(str(export_figure(view, tmp_path / "l.png", dpi=96))))
    without = as_array(QImage(str(export_figure(view, tmp_path / "n.png", dpi=96, layers={"lines": False}))))
    assert with_lines[gy, gx, 0] > 180 and with_lines[gy, gx, 1] < 90  # red line
    assert (without[gy, gx, :3] > 240).all()  # white gutter
    assert view.layers["lines"].visible and view._lines[0].isVisible()  # the screen is left as it was
    # the heatmap's colour bar is part of the figure, right of the images
    hx, hy = (round(v) for v in figure_xy(view, 1, 125, 150))
    no_heat = as_array(QImage(str(export_figure(view, tmp_path / "h.png", dpi=96, layers={"heatmap": False}))))
    assert no_heat.shape[1] < with_lines.shape[1]  # no colour bar without the heatmap
    assert np.abs(no_heat[hy, hx, :3].astype(int) - with_lines[hy, hx, :3].astype(int)).max() > 20


def test_export_remembers_folder_and_matches_record_provenance(qtbot, make_controller, tmp_path, monkeypatch):
    from PyQt6.QtWidgets import QDialog, QFileDialog

    from corrviz.app.widgets.export_dialog import FigureExportDialog

    c = matched_pair(qtbot, make_controller, tmp_path)
    suggested: list[str] = []
    answers = [str(tmp_path / "figs" / "one.png"), str(tmp_path / "figs" / "m.csv"), ""]
    (tmp_path / "figs").mkdir()

    def save_dialog(_parent, _title, start, _filters):
        suggested.append(start)
        return answers[len(suggested) - 1], ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(save_dialog))
    monkeypatch.setattr(FigureExportDialog, "exec", lambda self: QDialog.DialogCode.Accepted)
    c.figure.ask_export_figure()
    assert (tmp_path / "figs" / "one.png").exists()
    c.figure.ask_export_matches()
    c.figure.ask_export_figure()
    assert not suggested[0].startswith(str(tmp_path / "figs"))
    assert suggested[1].startswith(str(tmp_path / "figs")) and suggested[2].startswith(str(tmp_path / "figs"))

    with open(tmp_path / "figs" / "m.csv") as fh:
        rows = list(csv.DictReader(fh))
    fm = c.session.features.maps[0]
    assert len(rows) == 1
    row = rows[0]
    assert row["backbone"] == "dense_sift" and row["resolution"] == str(fm.options.resolution)
    assert row["grid"] == "x".join(map(str, fm.grid_shape)) and "layer" in row and "facet" in row
    assert row["checkpoint"] == ""
    js = json.loads(c.figure.export_matches(tmp_path / "figs" / "m.json").read_text())
    assert js["backbone"] == "dense_sift" and js["resolution"] == fm.options.resolution
    assert {"layer", "facet", "checkpoint", "canvas"} <= set(js) and len(js["matches"]) == 1


def test_export_errors_before_writing(qtbot, tmp_path):
    from corrviz.app.export import ExportError, export_figure
    from corrviz.app.widgets.pair_view import PairView

    view = PairView()
    qtbot.addWidget(view)
    view.resize(400, 300)
    with pytest.raises(ExportError, match="empty"):
        export_figure(view, tmp_path / "empty.png")
    with pytest.raises(ExportError, match="fig.tif: choose a .png, .svg or .pdf"):
        export_figure(view, tmp_path / "fig.tif")
    with pytest.raises(ExportError, match="background"):
        export_figure(view, tmp_path / "fig.png", background="black")
    assert not list(tmp_path.iterdir())  # nothing written, no temporary files left
