"""Sphere-mapper checkpoints (combined matcher, real sphere view) and the evaluation tab, driven as a user."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtCore import Qt

from .conftest import astronaut_pair, click_image, sphere_checkpoint

pytestmark = pytest.mark.gui
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def wait_error(qtbot, c, before: int) -> str:
    qtbot.waitUntil(lambda: c.window.errors_shown > before, timeout=20000)
    return c.window.error_box.text()


def test_sphere_mapper_drives_combined_matcher_and_3d_sphere(qtbot, make_controller, tmp_path):
    from dataclasses import replace

    from corrviz.app.main_window import TAB_3D
    from corrviz.core.features import FeatureExtractor
    from corrviz.core.matching import match_points

    c = make_controller(backbone="test_dinov2_tiny")
    c.session.set_options(replace(c.session.options, resolution=112))
    src, trg, _ = astronaut_pair(tmp_path)
    c.open_paths([str(src), str(trg)])
    qtbot.waitUntil(lambda: c.session.features is not None and not c.runner.busy("extract"), timeout=60000)
    panel = c.window.options
    combined = panel.method.model().item(panel.method.findData("combined"))
    assert not combined.isEnabled() and not panel.alpha.isEnabled()  # no sphere mapper yet

    c.window.tabs.setCurrentIndex(TAB_3D)
    v = c.scene.view
    v.set_mode("sphere")
    assert not v.has_real_sphere() and v.banner.isVisible() and "PLACEHOLDER" in v.banner.text()

    ck = sphere_checkpoint(tmp_path / "sph.safetensors")
    assert c.checkpoints.set_sphere_checkpoint(str(ck))
    qtbot.waitUntil(lambda: c.session.sphere_maps is not None, timeout=60000)
    assert combined.isEnabled() and panel.alpha.isEnabled() and panel.alpha.value() == pytest.approx(0.2)
    panel.alpha.setValue(0.35)
    assert c.session.sphere_alpha == pytest.approx(0.35)
    panel.method.setCurrentIndex(panel.method.findData("combined"))
    assert c.session.method == "combined"

    # 3-D sphere mode: the real sphere points of each image, on the unit sphere, PCA-coloured.
    assert v.has_real_sphere() and "SPHERE MAPPER" in v.banner.text() and "PLACEHOLDER" not in v.banner.text()
    f = c.session.features
    assert len(v._clouds) == 2
    for k, marker in enumerate(v._clouds):
        pos = marker._data["a_position"]
        assert len(pos) == len(f.cells3d[k]) > 0
        assert np.allclose(np.linalg.norm(pos, axis=1), 1.0, atol=1e-4)
        assert np.allclose(marker._data["a_bg_color"][:, :3], f.colors3d[k], atol=1e-5)

    c.window.tabs.setCurrentIndex(0)
    click_image(qtbot, c, 0, 150.0, 120.0)
    qtbot.waitUntil(lambda: c.session.matches is not None and c.session.matches.method == "combined"
                    and len(c.session.matches.matches) == 1, timeout=30000)
    p, m = c.session.points[0], c.session.matches.matches[0]
    sph = FeatureExtractor("test_dinov2_tiny", c.session.options.feature_options(batch_size=1), checkpoint=ck,
                           cache=None)
    s0, s1 = sph.extract(c.session.images[0].rgb), sph.extract(c.session.images[1].rgb)
    expected = match_points(f.maps[0], f.maps[1], np.array([[p.x, p.y]]), "combined", sphere=(s0, s1), alpha=0.35)
    assert np.allclose(m.xy, expected.trg_xy[0], atol=1e-4) and m.score == pytest.approx(expected.score[0], abs=1e-5)
    assert v._highlight.visible  # the selected point and its match are marked on the sphere

    c.checkpoints.set_sphere_checkpoint(None)  # back to the labelled placeholder; combined falls back
    assert c.session.method == "soft-argmax" and not combined.isEnabled()
    assert not v.has_real_sphere() and "PLACEHOLDER" in v.banner.text()


def test_mismatched_sphere_checkpoints_are_explained(qtbot, make_controller, tmp_path):
    c = make_controller(backbone="dense_sift", load_registry=False)
    ck = sphere_checkpoint(tmp_path / "tiny_sph.safetensors")
    n = c.window.errors_shown
    assert not c.checkpoints.set_sphere_checkpoint(str(ck))
    text = wait_error(qtbot, c, n)
    assert "test_dinov2_tiny" in text and "dense_sift" in text and "Pick 'test_dinov2_tiny'" in text
    assert "not used" in c.window.options.sphere_info.text() and c.session.sphere_checkpoint is None

    conv = sphere_checkpoint(tmp_path / "conv.safetensors", backbone="dense_sift", last="conv")
    n = c.window.errors_shown
    assert not c.checkpoints.set_sphere_checkpoint(str(conv))
    assert "not a sphere mapper" in wait_error(qtbot, c, n)
    dense_sph = sphere_checkpoint(tmp_path / "dense_sph.safetensors", backbone="dense_sift")
    n = c.window.errors_shown
    assert not c.checkpoints.set_checkpoint(str(dense_sph))  # a sphere mapper in the finetuned-feature picker
    assert "Sphere mapper" in wait_error(qtbot, c, n)
    assert c.session.options.checkpoint is None


@pytest.fixture
def willow() -> Path:
    if not (DATA / "PF-WILLOW").is_dir():
        pytest.skip(f"PF-WILLOW not found under {DATA}")
    return DATA


def test_evaluation_tab_runs_pfwillow_plots_and_saves(qtbot, make_controller, tmp_path, willow):
    from corrviz.app.main_window import TAB_EVAL

    c = make_controller(backbone="dense_sift")
    c.window.tabs.setCurrentIndex(TAB_EVAL)
    panel = c.window.eval_panel
    from corrviz.core.evaluate.runner import BENCHMARKS

    listed = [panel.benchmark.itemData(i) for i in range(panel.benchmark.count())]
    assert listed == list(BENCHMARKS) and {"multiview", "pose", "pfwillow"} <= set(listed)
    panel.set_values("pfwillow", str(willow), "soft-argmax", 5)
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: c.session.evaluation is not None and c.session.evaluation.state == "done", timeout=60000)
    run = c.session.evaluation
    result = run.result
    assert len(run.outcomes) == 5 and result.protocol["subset_size"] == 5
    assert panel.progress.maximum() == 5 and panel.progress.value() == 5  # progress reached the end
    expected = result.value("pck", 0.1, norm="bbox", aggregation="per_keypoint")
    x, y = panel.running_curve.getData()
    assert len(x) == 5 and y[-1] == pytest.approx(100 * expected)  # the running curve ends at the result
    assert f"= {100 * expected:.2f} %" in panel.headline.text()
    cells = [[panel.table.item(r, k).text() for k in range(panel.table.columnCount())]
             for r in range(panel.table.rowCount())]
    assert ["PCK", "bbox", "0.1", f"{100 * expected:.2f}"] == cells[[r[:3] for r in cells].index(
        ["PCK", "bbox", "0.1"])][:4]
    assert panel.save_button.isEnabled() and panel.run_button.isEnabled()

    paths = c.eval.save_results(tmp_path / "results")
    for kind in ("json", "csv"):
        assert paths[kind].exists() and paths[kind].stat().st_size > 100
    assert any(str(p).endswith(".png") for p in paths.values()) and any(str(p).endswith(".svg") for p in paths.values())
    assert all(Path(p).exists() for p in paths.values())
    saved = json.loads(paths["json"].read_text())
    assert saved["benchmark"] == "pfwillow" and saved["protocol"]["backbone"] == "dense_sift"

    # the evaluated pairs, worst first; double-clicking one opens it in the 2-D view with truth and predictions
    from corrviz.app.main_window import TAB_2D
    from corrviz.core.evaluate.tasks import RUNNING_ALPHA

    assert panel.items.count() == 5 and panel.items.isVisible()
    scores = [o.errors.n_correct(RUNNING_ALPHA, "bbox") / o.errors.n_keypoints for o in run.outcomes]
    worst = min(range(5), key=lambda k: scores[k])
    assert run.outcomes[worst].errors.pair_id in panel.items.item(0).text()
    panel.items.itemActivated.emit(panel.items.item(0))
    rec = run.outcomes[worst].record
    qtbot.waitUntil(lambda: c.window.pair_view.annotation_count()[0] == rec.n_keypoints,
                    timeout=30000)
    assert c.window.tabs.currentIndex() == TAB_2D and len(c.session.images) == 2
    from corrviz.core.io import load_image

    assert c.session.images[0].rgb.shape[:2] == load_image(rec.src_image).shape[:2]
    assert f"{round(scores[worst] * rec.n_keypoints)}/{rec.n_keypoints} within PCK@0.1" in c.session.images[1].name


def test_evaluation_cancel_and_wrong_folder(qtbot, make_controller, tmp_path, willow):
    c = make_controller(backbone="dense_sift")
    panel = c.window.eval_panel
    # A folder without the benchmark's layout: a clear message in the tab and a dialog.
    (tmp_path / "not_willow").mkdir()
    panel.set_values("pfwillow", str(tmp_path / "not_willow"), "nn", 3)
    n = c.window.errors_shown
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert "no class folders" in wait_error(qtbot, c, n)
    assert c.session.evaluation.state == "failed" and "no class folders" in panel.status.text()
    assert panel.run_button.isEnabled()

    # Cancel a full run (900 pairs) once it has started.
    panel.set_values("pfwillow", str(willow), "nn", None)
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.progress.value() > 0, timeout=60000)
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: c.session.evaluation.state == "cancelled", timeout=30000)
    qtbot.waitUntil(lambda: not c.runner.busy("eval"), timeout=30000)
    assert c.session.evaluation.result is None and len(c.session.evaluation.outcomes) < 900
    assert "cancelled" in panel.status.text() and panel.run_button.isEnabled()
