"""The one feature-options type: the CLI, the app's session, eval and session files share FeatureSpec."""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import replace

import pytest

from corrviz.core.errors import InputMismatchError
from corrviz.core.feature_spec import DEFAULT_BACKBONE_ORDER, FIRST_START_BACKBONE, FeatureSpec


def test_one_type_under_every_name():
    from corrviz.core.backbones import DEFAULT_BACKBONE_ORDER as registry_order
    from corrviz.core.evaluate import ExtractorSpec
    from corrviz.core.session import ExtractionOptions, Session

    assert ExtractorSpec is FeatureSpec and ExtractionOptions is FeatureSpec
    assert isinstance(Session().options, FeatureSpec) and Session().options.backbone == FIRST_START_BACKBONE
    assert registry_order is DEFAULT_BACKBONE_ORDER and FIRST_START_BACKBONE == "dense_sift"


def test_from_args_carries_every_feature_option():
    from corrviz.core.commands.common import add_feature_args

    ap = argparse.ArgumentParser()
    add_feature_args(ap)
    args = ap.parse_args(["--backbone", "vit_tiny_patch16_224", "--resolution", "224", "--canvas", "resize",
                          "--layer", "-2", "--facet", "key", "--device", "cuda:1", "--dtype", "bf16",
                          "--weights", "w.safetensors", "--checkpoint", "ck.safetensors", "--batch-size", "8"])
    spec = FeatureSpec.from_args(args)
    assert spec == FeatureSpec("vit_tiny_patch16_224", 224, canvas="resize", layer=-2, facet="key", device="cuda:1",
                               dtype="bf16", checkpoint="ck.safetensors", weights="w.safetensors", batch_size=8)
    sphere = FeatureSpec.from_args(args, checkpoint="sphere.safetensors")
    assert sphere == replace(spec, checkpoint="sphere.safetensors")
    opts = spec.feature_options()
    assert (opts.resolution, opts.canvas, opts.layer, opts.facet, opts.device, opts.dtype, opts.batch_size) == (
        224, "resize", -2, "key", "cuda:1", "bf16", 8)
    assert spec.feature_options(batch_size=1).batch_size == 1


def test_round_trip_and_checks():
    spec = FeatureSpec("daisy", 320, layer=None, device="cpu", weights="/x/w.pth")
    data = spec.to_dict()
    assert "_" not in data and data["dtype"] == "fp32" and data["weights"] == "/x/w.pth"
    assert FeatureSpec.from_dict({**data, "unknown_key": 1}) == spec
    assert FeatureSpec.from_dict({"backbone": "daisy"}) == FeatureSpec("daisy")
    with pytest.raises(TypeError):
        FeatureSpec("daisy", 320, "resize")  # only backbone and resolution by position: no silent reordering
    with pytest.raises(InputMismatchError, match="bf16 needs a CUDA device"):
        FeatureSpec("daisy", dtype="bf16")
    with pytest.raises(InputMismatchError, match="unknown canvas mode 'square'"):
        FeatureSpec("daisy", canvas="square")
    with pytest.raises(InputMismatchError, match="batch size must be at least 1"):
        FeatureSpec("daisy", batch_size=0)
    with pytest.raises(InputMismatchError, match="no backbone"):
        FeatureSpec("")
    half = FeatureSpec("vit_tiny_patch16_224", device="cuda", dtype="fp16")
    assert half.with_device("cpu").dtype == "fp32" and half.with_device("cuda:1").dtype == "fp16"


def test_light_import():
    """The app's window imports the spec before torch has loaded."""
    code = "import sys, corrviz.core.feature_spec, corrviz.core.session; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr[-500:]
