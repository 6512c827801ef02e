"""pytest-qt fixtures for the app: fresh settings, a controller with its window, and a clean teardown.

GUI tests are marked ``gui`` and skipped when there is no display (run them under ``xvfb-run -a``).
Every test's window and widgets are closed and the worker threads joined afterwards.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

HAS_DISPLAY = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                   or os.environ.get("QT_QPA_PLATFORM") in ("offscreen", "minimal"))


def pytest_collection_modifyitems(config, items):
    if HAS_DISPLAY:
        return
    skip = pytest.mark.skip(reason="no display: run the GUI tests under xvfb-run (or QT_QPA_PLATFORM=offscreen)")
    for item in items:
        if "gui" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def settings_file(tmp_path, monkeypatch) -> Path:
    cfg = tmp_path / "config"
    cfg.mkdir()
    monkeypatch.setenv("CORRVIZ_CONFIG_DIR", str(cfg))
    return cfg / "settings.json"


@pytest.fixture
def make_controller(qtbot, settings_file):
    """Factory: ``make_controller(backbone="dense_sift")`` -> a shown controller; all torn down after the test."""
    from PyQt6.QtWidgets import QApplication

    from corrviz.app.controller import Controller
    from corrviz.core.settings import Settings

    made = []

    def factory(backbone: str = "dense_sift", load_registry: bool = True):
        settings = Settings.load(settings_file)
        settings.update(backbone=backbone)
        c = Controller(settings=settings)
        qtbot.addWidget(c.window)
        c.window.resize(1200, 760)
        c.window.show()
        qtbot.waitExposed(c.window)
        if load_registry:
            c.start()
            qtbot.waitUntil(lambda: c._registry_loaded, timeout=60000)
        made.append(c)
        return c

    yield factory
    for c in made:
        c.shutdown()
        assert c.runner.wait(60000), "worker threads did not finish"
        if c.window.error_box is not None:
            c.window.error_box.close()
        c.window.close()
    app = QApplication.instance()
    for w in app.topLevelWidgets():
        w.close()
    app.processEvents()


def astronaut_pair(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    """Two crops of the astronaut photo: target = source shifted by (-37, -21) px. Returns paths and the shift."""
    from skimage import data

    from corrviz.core.io import save_image

    a = data.astronaut()
    src, trg = a[40:360, 60:380].copy(), a[61:381, 97:417].copy()
    ps, pt = tmp_path / "source.png", tmp_path / "target.png"
    save_image(ps, src)
    save_image(pt, trg)
    return ps, pt, np.array([-37.0, -21.0])


def noise_images(tmp_path: Path, n: int, size: int = 256, seed: int = 0) -> list[Path]:
    """Random images (never in the feature cache, so extraction really runs)."""
    from corrviz.core.io import save_image

    rng = np.random.default_rng(seed + int.from_bytes(os.urandom(2), "little"))
    out = []
    for k in range(n):
        p = tmp_path / f"noise_{k:02d}.png"
        save_image(p, rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
        out.append(p)
    return out


def click_image(qtbot, controller, image: int, x: float, y: float) -> None:
    from PyQt6.QtCore import Qt

    view = controller.window.pair_view
    pos = view.view_to_widget(image, x, y).toPoint()
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def sphere_checkpoint(path: Path, backbone: str = "test_dinov2_tiny", last: str = "sphere_mapper") -> Path:
    """A random-init (untrained) checkpoint whose last module is ``last`` ("sphere_mapper" or "conv")."""
    from corrviz.core.backbones import create_backbone
    from corrviz.core.checkpoint import save_checkpoint
    from corrviz.core.heads import AdaptedBackbone

    bb = create_backbone(backbone)
    spec = ({"type": "sphere_mapper", "channels": bb.feature_dim(), "heads": 2} if last == "sphere_mapper"
            else {"type": "conv", "channels": bb.feature_dim()})
    return save_checkpoint(path, AdaptedBackbone(bb, [spec]), "sph-random-init" if last == "sphere_mapper" else "mef")


class SyncRunner:
    """A TaskRunner stand-in for controller tests: runs each job at once on the calling thread (the order the
    app's worker would deliver it in) and records the channels submitted."""

    def __init__(self) -> None:
        self.channels: list[str] = []

    def submit(self, channel, fn, on_result=None, on_error=None, **_kw):  # noqa: ANN001
        self.channels.append(channel)
        try:
            from corrviz.core.progress import Progress

            result = fn(Progress())
        except Exception as exc:  # noqa: BLE001
            if on_error is None:
                raise
            on_error(exc)
            return
        if on_result is not None:
            on_result(result, 0.0)

    def cancel(self, _channel: str) -> bool:
        return False

    def busy(self, _channel: str | None = None) -> bool:
        return False
