"""Bad inputs give clear errors naming the file/value and the problem."""

import numpy as np
import pytest
import torch

from corrviz.core.backbones import create_backbone
from corrviz.core.errors import ImageLoadError, ResolutionError, UnknownBackboneError, WeightsNotFoundError
from corrviz.core.features import FeatureExtractor, FeatureOptions
from corrviz.core.io import load_image


def test_unreadable_images(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    with pytest.raises(ImageLoadError, match="broken.jpg"):
        load_image(bad)
    text = tmp_path / "notes.png"
    text.write_text("hello")
    with pytest.raises(ImageLoadError, match="notes.png: not a readable image"):
        load_image(text)
    with pytest.raises(ImageLoadError, match="does not exist"):
        load_image(tmp_path / "missing.png")
    # a truncated PNG
    from PIL import Image

    good = tmp_path / "good.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 100).save(good)
    trunc = tmp_path / "trunc.png"
    trunc.write_bytes(good.read_bytes()[:60])
    with pytest.raises(ImageLoadError, match="trunc.png"):
        load_image(trunc)


def test_unknown_backbone_suggests_close_names():
    with pytest.raises(UnknownBackboneError) as exc:
        create_backbone("dinov2_vit_s14")
    assert "dinov2_vits14" in str(exc.value) and "Did you mean" in str(exc.value)


def test_resolution_not_multiple_of_patch():
    with pytest.raises(ResolutionError, match="not a multiple of the patch size 14"):
        FeatureExtractor("test_dinov2_tiny", FeatureOptions(resolution=500), cache=None).extract(
            np.zeros((50, 50, 3), np.uint8))
    bb = create_backbone("test_dinov2_tiny")
    with pytest.raises(ResolutionError, match="use e.g. 224x224"):
        bb.forward_features(torch.zeros(1, 3, 225, 225))


def test_missing_weights_error_lists_places():
    with pytest.raises(WeightsNotFoundError) as exc:
        create_backbone("clip_vitb16")
    msg = str(exc.value)
    assert "explicit path" in msg and "weights directory" in msg and "Hugging Face hub" in msg
