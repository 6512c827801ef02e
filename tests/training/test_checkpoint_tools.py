"""A checkpoint written by corrviz-train works unchanged in corrviz-match, corrviz-eval and the app's loader."""

from __future__ import annotations

import json

import numpy as np
import pytest

from corrviz.core.commands import eval as eval_cmd
from corrviz.core.commands import match as match_cmd
from corrviz.core.features import FeatureOptions, shared_extractor
from corrviz.training import load_trained, train
from corrviz.training.methods.mef_data import _view_folder, cached_view_set


@pytest.fixture
def trained(tiny_config):
    res = train("mef", tiny_config, ["run.name=tools", "train.steps=2"])
    return load_trained(res.run_dir, "last")


def test_corrviz_match_loads_it_and_refuses_another_backbone(trained, tmp_path, capsys):
    out = tmp_path / "m.json"
    assert match_cmd.main(["--backbone", "test_dinov2_tiny", "--checkpoint", str(trained), "--resolution", "56",
                           "--points", "100,100", "--json", str(out), "--out", str(tmp_path / "m.png")]) == 0
    assert out.exists()
    capsys.readouterr()
    assert match_cmd.main(["--backbone", "test_dinov2_tiny_reg4", "--checkpoint", str(trained),
                           "--resolution", "56", "--points", "100,100"]) == 2
    err = capsys.readouterr().err
    assert "'test_dinov2_tiny'" in err and "'test_dinov2_tiny_reg4'" in err


def test_corrviz_eval_multiview_with_the_checkpoint(trained, tmp_path):
    cached_view_set("mug", 500, 12, 56)
    folder = _view_folder("mug", 500, 12, 56)
    out = tmp_path / "eval"
    rc = eval_cmd.main(["multiview", "--data", str(folder), "--backbone", "test_dinov2_tiny", "--checkpoint",
                        str(trained), "--resolution", "56", "--pairs", "2", "--points", "20", "--max-rotation", "90",
                        "--no-plots", "--quiet", "--out", str(out)])
    assert rc == 0
    result = json.loads(next(out.rglob("*.json")).read_text())
    assert "test_dinov2_tiny" in json.dumps(result) and str(trained.name) in json.dumps(result)


def test_app_extractor_uses_the_trained_modules(trained):
    opts = FeatureOptions(resolution=56)
    adapted = shared_extractor("test_dinov2_tiny", opts, checkpoint=trained)
    plain = shared_extractor("test_dinov2_tiny", FeatureOptions(resolution=56, layer=-1, facet="norm"))
    img = (np.random.default_rng(0).random((56, 56, 3)) * 255).astype(np.uint8)
    fa, fp = adapted.extract(img), plain.extract(img)
    assert fa.options.facet == "norm" and fa.features.shape == fp.features.shape
    assert not np.allclose(fa.features.numpy(), fp.features.numpy())  # trained LoRA + conv change the features
