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
    """Every user setting of corrviz, app included (the one settings object: no QSettings beside it).

    Typed fields for what corrviz itself remembers; ``extra`` holds plug-ins' keys (``training/runs_folder``)
    through :meth:`value` / :meth:`set_value`. :meth:`save` writes atomically to where it was loaded from.
    """

    version: int = SETTINGS_VERSION
    weights_dir: str | None = None  # folder of <backbone>.safetensors files
    weights_files: dict[str, str] = field(default_factory=dict)  # backbone -> a weights file chosen for it
    backbone: str | None = None  # the last backbone used in the app; None: the default order decides
    device: str = "cpu"
    recent_files: list[str] = field(default_factory=list)  # entries: newline-joined paths opened together
    feature_cache_entries: int = 64
    last_folder: str = ""
    last_export_folder: str = ""
    export_dpi: int = 150
    export_background: str = "white"
    eval_benchmark: str = "pfwillow"
    eval_data: str = ""
    layers: dict[str, dict] = field(default_factory=dict)  # 2-D layer name -> {"visible": bool, "opacity": float}
    heatmap_scale: str = ""
    window_geometry: str = ""  # base64 of the main window's saveGeometry() / saveState()
    window_state: str = ""
    extra: dict[str, object] = field(default_factory=dict)
    path: Path | None = field(default=None, compare=False, repr=False)  # where load() read it (not saved)

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        p = path or config_dir() / "settings.json"
        try:
            data = json.loads(p.read_text()) if p.exists() else {}
        except (OSError, json.JSONDecodeError):
            data = {}
        if not isinstance(data, dict):
            data = {}
        known = {f.name for f in fields(cls)} - {"path"}
        data = {k: v for k, v in data.items() if k in known}
        defaults = cls()
        for k in list(data):  # a hand-edited file with a wrong type falls back to the default of that field
            want = type(getattr(defaults, k))
            if getattr(defaults, k) is not None and not isinstance(data[k], want):
                data.pop(k)
        data.pop("default_backbone", None)  # version 1 had an unused default; the default order decides now
        data["version"] = SETTINGS_VERSION  # migrations from older versions go here
        return cls(**data, path=p)

    def save(self, path: Path | None = None) -> None:
        target = path or self.path or config_dir() / "settings.json"
        write_json(target, {k: v for k, v in asdict(self).items() if k != "path"})

    def update(self, **changes: object) -> None:
        """Set typed fields and save (an unknown name is an error, never a silent new key)."""
        known = {f.name for f in fields(self)} - {"path", "version"}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise AttributeError(f"no setting named {', '.join(unknown)}")
        for k, v in changes.items():
            setattr(self, k, v)
        self.save()

    def value(self, key: str, default: object = None) -> object:
        """A plug-in's setting (``extra``), e.g. ``training/runs_folder``."""
        return self.extra.get(key, default)

    def set_value(self, key: str, value: object) -> None:
        self.extra[key] = value
        self.save()
