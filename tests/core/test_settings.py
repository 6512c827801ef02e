"""One settings object: typed fields saved as JSON under the config folder, for the app and the tools."""

from __future__ import annotations

import json

import pytest

from corrviz.core.settings import SETTINGS_VERSION, Settings


def test_round_trip_update_and_unknown_names(tmp_path, monkeypatch):
    monkeypatch.setenv("CORRVIZ_CONFIG_DIR", str(tmp_path))
    s = Settings.load()
    assert s.backbone is None and s.path == tmp_path / "settings.json" and not s.path.exists()
    s.update(backbone="daisy", last_folder="/data", layers={"lines": {"visible": False, "opacity": 0.4}})
    s.set_value("training/runs_folder", "/runs")
    again = Settings.load()
    assert (again.backbone, again.last_folder, again.layers["lines"]["opacity"]) == ("daisy", "/data", 0.4)
    assert again.value("training/runs_folder") == "/runs" and again.value("nothing", 7) == 7
    data = json.loads((tmp_path / "settings.json").read_text())
    assert data["version"] == SETTINGS_VERSION and "path" not in data
    with pytest.raises(AttributeError, match="no setting named backbon"):
        s.update(backbon="x")


def test_old_and_hand_edited_files(tmp_path):
    p = tmp_path / "settings.json"
    p.write_text(json.dumps({"version": 1, "default_backbone": "dinov2_vits14", "export_dpi": "high",
                             "weights_files": ["not", "a", "dict"], "recent_files": ["a.png"], "junk": 1}))
    s = Settings.load(p)
    assert s.export_dpi == 150 and s.weights_files == {} and s.recent_files == ["a.png"]
    assert not hasattr(s, "default_backbone")  # the default backbone is decided by DEFAULT_BACKBONE_ORDER only
    p.write_text("{not json")
    assert Settings.load(p) == Settings()


def test_the_app_keeps_no_second_settings_store():
    """No QSettings beside the one object, and one default backbone (DEFAULT_BACKBONE_ORDER)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    pattern = re.compile(r"QSettings\(|import .*QSettings|FALLBACK_BACKBONE|^\s+default_backbone: str =", re.M)
    found = [str(p.relative_to(root)) for folder in ("app", "core") for p in (root / folder).rglob("*.py")
             if pattern.search(p.read_text())]
    assert found == []
