"""Small assets shipped with corrviz (demo images, icons, styles)."""

from pathlib import Path

RESOURCES_DIR = Path(__file__).resolve().parent


def resource_path(*parts: str) -> Path:
    """Absolute path of a file shipped under ``resources/``."""
    return RESOURCES_DIR.joinpath(*parts)
