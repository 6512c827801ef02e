"""scripts/sph_azimuth.py on a tiny synthetic SPair (one category, two test instances, 8 bins each)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("sph_azimuth", ROOT / "scripts" / "sph_azimuth.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_azimuth_table_on_a_tiny_split(tmp_path, capsys):
    from corrviz.core.backbones import create_backbone
    from corrviz.core.checkpoint import save_checkpoint
    from corrviz.core.heads import AdaptedBackbone
    from corrviz.core.io import read_json
    from corrviz.core.synthetic.categories.dataset import SplitSizes, write_synthetic_spair
    from corrviz.core.synthetic.keypoints import RenderSettings

    data = write_synthetic_spair(tmp_path / "syn", ["mug"], SplitSizes((0, 0, 2), (0, 0, 2)),
                                 RenderSettings(resolution=56))
    bb = create_backbone("test_dinov2_tiny", pretrained=False)
    mapper = AdaptedBackbone(bb, [{"type": "sphere_mapper", "channels": 32, "heads": 4}],
                             feature={"layer": -1, "facet": "prenorm", "resolution": 56})
    ck = save_checkpoint(tmp_path / "sph.safetensors", mapper, "sph")
    out = tmp_path / "az.json"
    assert _script().main(["--checkpoint", str(ck), "--data", str(data), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "mug" in text and "all (pooled)" in text
    rows = read_json(out)["rows"]
    assert [r["images"] for r in rows] == [16, 16]  # two instances seen from the 8 azimuth bins
    assert all(-1.0 <= r["rho"] <= 1.0 for r in rows)
    # a checkpoint that is not a sphere mapper is refused before any work
    conv = save_checkpoint(tmp_path / "conv.safetensors",
                           AdaptedBackbone(bb, [{"type": "conv", "channels": 32}]), "mef")
    assert _script().main(["--checkpoint", str(conv), "--data", str(data)]) == 2
    with pytest.raises(Exception, match="does not exist"):
        _script().main(["--checkpoint", str(tmp_path / "nope.safetensors"), "--data", str(data)])
