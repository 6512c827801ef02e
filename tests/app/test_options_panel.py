"""The options panel emits the one feature-options type, with the precision (dtype) and weights it shows."""

from __future__ import annotations

import pytest

from corrviz.core.feature_spec import FeatureSpec

pytestmark = pytest.mark.gui


def test_panel_emits_a_feature_spec_with_dtype(qtbot):
    from corrviz.app.widgets.options_panel import BackboneEntry, OptionsPanel

    panel = OptionsPanel()
    qtbot.addWidget(panel)
    panel.set_backbones([BackboneEntry("vit_tiny_patch16_224", True, patch_size=16, default_resolution=224)])
    panel.set_devices(["cpu", "cuda:0"])
    got: list[FeatureSpec] = []
    panel.sigOptionsEdited.connect(got.append)
    panel.set_values(FeatureSpec("vit_tiny_patch16_224", 224, weights="/w/vit.safetensors"))
    assert not panel.dtype.isEnabled() and "vit.safetensors" in panel.weights_info.text()
    panel.device.setCurrentText("cuda:0")
    assert panel.dtype.isEnabled()
    panel.dtype.setCurrentText("bf16")
    assert got[-1] == FeatureSpec("vit_tiny_patch16_224", 224, device="cuda:0", dtype="bf16")
    panel.device.setCurrentText("cpu")  # half precision only on CUDA: back to fp32, and the box is disabled
    assert got[-1].dtype == "fp32" and got[-1].device == "cpu" and not panel.dtype.isEnabled()
    panel.set_values(FeatureSpec("vit_tiny_patch16_224", device="cuda:0", dtype="fp16"))
    assert panel.dtype.currentText() == "fp16" and panel.values().dtype == "fp16"
