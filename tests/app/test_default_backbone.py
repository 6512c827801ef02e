"""The app's first-start backbone: DINOv2, then the real ViT-Tiny, then dense_sift, by weights found."""

from pathlib import Path

import pytest

pytestmark = pytest.mark.gui

WEIGHTS = Path(__file__).resolve().parents[2].parent / "shared" / "weights"


def test_first_start_picks_the_vit_tiny_when_its_weights_are_found(make_controller, monkeypatch, tmp_path):
    if not (WEIGHTS / "vit_tiny_patch16_224.safetensors").is_file():
        pytest.skip(f"real ViT-Tiny weights not found in {WEIGHTS}")
    monkeypatch.setenv("CORRVIZ_WEIGHTS", str(WEIGHTS))
    # chosen in the registry worker (the window does not wait for the weight probe)
    assert make_controller(backbone="").session.options.backbone == "vit_tiny_patch16_224"
    monkeypatch.setenv("CORRVIZ_WEIGHTS", str(tmp_path))  # nothing there: the weight-free fallback
    assert make_controller(backbone="").session.options.backbone == "dense_sift"
    assert make_controller(backbone="daisy", load_registry=False).session.options.backbone == "daisy"  # last used
