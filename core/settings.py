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


def config_dir() -> Path:
    env = os.environ.get("CORRVIZ_CONFIG_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "corrviz"


def cache_dir() -> Path:
    env = os.environ.get("CORRVIZ_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "corrviz"


@dataclass
class Settings:
    version: int = SETTINGS_VERSION
    weights_dir: str | None = None  # folder of <backbone>.safetensors files
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
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        data["version"] = SETTINGS_VERSION  # migrations from older versions go here
        return cls(**data)

    def save(self, path: Path | None = None) -> None:
        write_json(path or config_dir() / "settings.json", asdict(self))
