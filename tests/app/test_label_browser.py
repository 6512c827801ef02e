"""A DIY-SC pseudo-label store opened in the app: its pairs' images with their labels drawn, stepping, clearing."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import astronaut_pair, noise_images

pytestmark = pytest.mark.gui


def write_store(tmp_path):
    from corrviz.training.methods.diy_sc_labels import LabelImage, LabelPair, save_labels

    src, trg, _ = astronaut_pair(tmp_path)
    imgs = [LabelImage(src, src, "person", "a", 0, (0.0, 0.0, 320.0, 320.0)),
            LabelImage(trg, trg, "person", "b", 1, (0.0, 0.0, 320.0, 320.0))]
    pairs = [LabelPair(0, 1, np.array([[10.0, 20.0], [100.0, 120.0], [200.0, 50.0]]),
                       np.array([[12.0, 22.0], [90.0, 110.0], [190.0, 40.0]])),
             LabelPair(1, 0, np.array([[30.0, 40.0]]), np.array([[60.0, 70.0]]))]
    meta = {"provenance": {"backbone": "test_dinov2_tiny", "resolution": 56, "filter": "cycle"},
            "report": {"tracks_per_stage": {"raw": 9, "cycle": 4, "sphere": 4}}}
    return save_labels(tmp_path / "labels.safetensors", imgs, pairs, meta, root=tmp_path), src, trg


def test_label_store_pairs_are_drawn_stepped_and_cleared(qtbot, make_controller, tmp_path):
    c = make_controller(load_registry=False)
    store, src, trg = write_store(tmp_path)
    view = c.window.pair_view
    c.open_paths([str(store)])
    qtbot.waitUntil(lambda: len(c.session.images) == 2 and view.annotation_count()[0] == 3, timeout=30000)
    assert [im.path for im in c.session.images] == [str(src), str(trg)]
    assert "pair 1/2" in c.labels.info and "filter cycle" in c.labels.info and "3 labels" in c.labels.info
    assert c.session.images[0].name.startswith("label pair 1/2") and "(3 labels)" in c.session.images[1].name
    c.window.sigLabelPair.emit(1)  # View > Next pseudo-label pair
    qtbot.waitUntil(lambda: view.annotation_count()[0] == 1 and c.labels.index == 1, timeout=30000)
    assert [im.path for im in c.session.images] == [str(trg), str(src)]  # pair 2 goes from image b to image a
    c.open_paths([str(p) for p in noise_images(tmp_path, 2)])  # other images: the labels no longer apply
    qtbot.waitUntil(lambda: view.annotation_count()[0] == 0 and c.labels.store is None, timeout=30000)
    assert c.window.errors_shown == 0
