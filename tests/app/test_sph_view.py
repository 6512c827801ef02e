"""A checkpoint trained by ``corrviz-train sph`` loads in the app: the 3-D sphere view shows its
points on the unit sphere, labelled as a trained mapper (method, step, categories)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from .conftest import astronaut_pair

pytestmark = pytest.mark.gui


def _trained_sph(tmp_path: Path) -> Path:
    from corrviz.training.trainer import train
    from tests.training.test_sph import TINY, _write_images

    folder = tmp_path / "data"
    folder.mkdir()
    cfg = tmp_path / "sph.yaml"
    cfg.write_text(TINY.format(out=tmp_path / "runs", root=_write_images(folder), steps=2))
    return train("sph", cfg).last_checkpoint / "model.safetensors"


def test_trained_sph_checkpoint_in_the_3d_sphere_view(qtbot, make_controller, tmp_path):
    from corrviz.app.main_window import TAB_3D

    ck = _trained_sph(tmp_path)
    c = make_controller(backbone="test_dinov2_tiny")
    c.session.set_options(replace(c.session.options, resolution=56))
    src, trg, _ = astronaut_pair(tmp_path)
    c.open_paths([str(src), str(trg)])
    qtbot.waitUntil(lambda: c.session.features is not None and not c.runner.busy("extract"), timeout=60000)
    c.window.tabs.setCurrentIndex(TAB_3D)
    v = c.scene.view
    v.set_mode("sphere")
    assert c.checkpoints.set_sphere_checkpoint(str(ck))
    qtbot.waitUntil(lambda: v.has_real_sphere(), timeout=60000)
    text = v.banner.text()
    assert "trained mapper model.safetensors" in text and "method sph" in text and "step 2" in text
    assert "categories car, mug" in text and "PLACEHOLDER" not in text
    for marker in v._clouds:
        assert np.allclose(np.linalg.norm(marker._data["a_position"], axis=1), 1.0, atol=1e-4)
