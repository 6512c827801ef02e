"""User settings: one typed object, saved as JSON under the user's config directory.

The location is ``$CORRVIZ_CONFIG_DIR/settings.json`` if that variable is set, else
``$XDG_CONFIG_HOME/corrviz/settings.json`` (``~/.config/corrviz``). ``version`` allows migrations.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .io import write_json

SETTINGS_VERSION = 1


def _user_dir(env: str, xdg: str, fallback: str) -> Path:
    """``$env`` if set, else ``$xdg/corrviz`` (XDG base directory), else ``~/<fallback>/corrviz``."""
    if os.environ.get(env):
        return Path(os.environ[env]).expanduser()
    return Path(os.environ.get(xdg) or str(Path.home() / fallback)).expanduser() / "corrviz"


def config_dir() -> Path:
    return _user_dir("CORRVIZ_CONFIG_DIR", "XDG_CONFIG_HOME", ".config")


def cache_dir() -> Path:
    return _user_dir("CORRVIZ_CACHE", "XDG_CACHE_HOME", ".cache")


@dataclass
class Settings:
    version: int = SETTINGS_VERSION
    weights_dir: str | None = None  # folder of <backbone>.safetensors files
    weights_files: dict[str, str] = field(default_factory=dict)  # backbone -> a weights file chosen for it
    default_backbone: str = "dinov2_vits14"
    device: str = "cpu"
    recent_files: list[str] = field(default_factory=list)
    feature_cache_entries: int = 64

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        p = path or config_dir() / "settings.json"
        if not p.exists():
            return cls()
        try:
            data = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            return cls()
        if not isinstance(data, dict):
            return cls()
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        if not isinstance(data.get("weights_files", {}), dict):
            data.pop("weights_files")
        data["version"] = SETTINGS_VERSION  # migrations from older versions go here
        return cls(**data)

    def save(self, path: Path | None = None) -> None:
        write_json(path or config_dir() / "settings.json", asdict(self))
