"""Backbone weights in the app: lazy probes, the one-line explanation, a weights folder or file chosen in the app."""

from __future__ import annotations

import time

import pytest
from PyQt6.QtCore import Qt

pytestmark = pytest.mark.gui


def label(c, name: str) -> str:
    combo = c.window.options.backbone
    return combo.itemText(combo.findData(name, Qt.ItemDataRole.UserRole))


def test_list_comes_up_before_the_weight_probes(qtbot, make_controller, monkeypatch):
    import corrviz.core.backbones as backbones

    monkeypatch.delenv("CORRVIZ_WEIGHTS", raising=False)
    real = backbones.weights_available

    def slow(name):
        time.sleep(0.2)
        return real(name)

    monkeypatch.setattr(backbones, "weights_available", slow)
    c = make_controller(load_registry=False)
    c.start()
    qtbot.waitUntil(lambda: c._registry_loaded, timeout=60000)
    # The list is there while the (slow) probes still run: networks say so, weight-free ones are usable.
    assert c.runner.busy("probe")
    assert "checking weights" in label(c, "dinov2_vits14")
    assert label(c, "dense_sift") == "dense_sift"
    qtbot.waitUntil(lambda: not c.runner.busy("probe"), timeout=60000)
    assert label(c, "dinov2_vits14").endswith("(no weights)")
    note = c.window.options.weights_note
    assert note.isVisibleTo(c.window) and "no weights" in note.text() and "Weights…" in note.text()
    combo = c.window.options.backbone
    tip = combo.itemData(combo.findData("dinov2_vits14", Qt.ItemDataRole.UserRole), Qt.ItemDataRole.ToolTipRole)
    assert "Looked at" in tip  # where corrviz looked, on hover


def test_weights_folder_and_file_chosen_in_the_app(qtbot, make_controller, monkeypatch, tmp_path):
    from corrviz.core.settings import Settings

    monkeypatch.delenv("CORRVIZ_WEIGHTS", raising=False)
    c = make_controller()
    qtbot.waitUntil(lambda: not c.runner.busy("probe"), timeout=60000)
    assert label(c, "dinov2_vitb14").endswith("(no weights)")
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "dinov2_vitb14.safetensors").write_bytes(b"placeholder: found by name, checked when loaded")
    assert c.checkpoints.set_weights_folder(str(folder))
    assert Settings.load().weights_dir == str(folder)  # kept in the user's settings
    qtbot.waitUntil(lambda: not c.runner.busy("probe") and "(no weights)" not in label(c, "dinov2_vitb14"),
                    timeout=60000)
    assert label(c, "dinov2_vits14").endswith("(no weights)")

    # A file for the current backbone: remembered, used for extraction, and a broken one says so.
    bad = tmp_path / "my_dinov2_s.safetensors"
    bad.write_bytes(b"not a safetensors file")
    combo = c.window.options.backbone
    combo.setCurrentIndex(combo.findData("dinov2_vits14", Qt.ItemDataRole.UserRole))
    from .conftest import astronaut_pair

    src, trg, _ = astronaut_pair(tmp_path)
    c.open_paths([str(src), str(trg)])
    qtbot.waitUntil(lambda: c.window.errors_shown >= 1, timeout=60000)
    assert "weights" in c.window.error_box.text().lower()
    c.window.error_box.close()
    assert c.checkpoints.set_weights_file("dinov2_vits14", str(bad))
    assert Settings.load().weights_files == {"dinov2_vits14": str(bad)}
    assert c.session.options.weights == str(bad) and "(no weights)" not in label(c, "dinov2_vits14")
    qtbot.waitUntil(lambda: c.window.errors_shown >= 2, timeout=60000)
    assert "my_dinov2_s.safetensors" in c.window.error_box.text()
    assert c.session.features is None
    assert not c.checkpoints.set_weights_file("dinov2_vits14", str(tmp_path / "missing.safetensors"))
