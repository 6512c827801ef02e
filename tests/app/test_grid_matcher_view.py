"""A grid-matcher (VGGT-SC) checkpoint in the app: clicks are matched by its dense flow, its confidence is the overlay."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import astronaut_pair, click_image

pytestmark = pytest.mark.gui


def identity_grid_checkpoint(path):
    """An untrained grid matcher on the tiny test ViT: identity grid, confidence sigmoid(1.5) everywhere."""
    import torch

    from corrviz.core.backbones import create_backbone
    from corrviz.core.checkpoint import save_checkpoint
    from corrviz.core.grid_matcher import grid_matcher_spec
    from corrviz.core.heads import AdaptedBackbone

    bb = create_backbone("test_dinov2_tiny")
    model = AdaptedBackbone(bb, [grid_matcher_spec(bb, frozen=1, taps=[0, 1, 1, 2], features=16)],
                            feature={"resolution": 112})
    with torch.no_grad():
        last = model.heads[0].head.head[-1]
        last.weight.zero_()
        last.bias.zero_()
        last.bias[2] = 1.5
    return save_checkpoint(path, model, "vggt_sc", git_commit="x", git_dirty=False)


def test_grid_matcher_checkpoint_matches_clicks_and_shows_confidence(qtbot, make_controller, tmp_path):
    c = make_controller(backbone="test_dinov2_tiny")
    src, _, _ = astronaut_pair(tmp_path)
    c.open_paths([str(src), str(src)])  # the same image twice: an identity grid sends every point to itself
    ck = identity_grid_checkpoint(tmp_path / "gm.safetensors")
    assert c.checkpoints.set_checkpoint(str(ck))
    assert "grid matcher" in c.window.options.checkpoint_info.text()
    qtbot.waitUntil(lambda: c.session.features is not None and not c.runner.busy(), timeout=60000)
    click_image(qtbot, c, 0, 200.0, 150.0)
    qtbot.waitUntil(lambda: c.session.matches is not None and len(c.session.matches.for_query(0)) > 0
                    and not c.runner.busy(), timeout=30000)
    m = c.session.matches
    assert m.method == "grid"
    (pm,) = m.for_query(0)
    q = c.session.points[0]  # where the click landed in image pixels
    assert abs(q.x - 200.0) < 2 and abs(q.y - 150.0) < 2
    assert pm.target == 1 and np.allclose(pm.xy, (q.x, q.y), atol=0.05)
    conf = 1 / (1 + np.exp(-1.5))
    assert pm.confidence == pytest.approx(conf, abs=1e-5)
    heat = m.heatmaps[1]  # the confidence overlay on the target image
    assert np.allclose(heat, conf, atol=1e-5) and heat.shape[0] > 0
    view = c.window.pair_view
    assert view.heatmap_kind == "confidence" and view.colorbar.title == "matcher confidence"
    assert view.heatmap_levels() == (0.0, 1.0)
    # dense lines come from the flow, not from the features' nearest neighbours: identity on the same image
    c.session.set_dense_enabled(True)
    qtbot.waitUntil(lambda: c.session.dense is not None and not c.runner.busy(), timeout=30000)
    d = c.session.dense
    assert d.method == "grid" and len(d.src_xy) > 20
    assert np.allclose(d.trg_xy, d.src_xy, atol=0.05) and np.allclose(d.confidence, conf, atol=1e-5)
    assert c.window.errors_shown == 0
