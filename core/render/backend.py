"""Lazy, checked import of Open3D (the renderer's only backend)."""

from __future__ import annotations

from types import ModuleType

from ..errors import CorrvizError


class RendererUnavailable(CorrvizError):
    """Open3D cannot be imported (not installed, or a system library is missing)."""


def require_open3d() -> ModuleType:
    """Import Open3D, or raise :class:`RendererUnavailable` saying what to install."""
    try:
        import open3d
    except ImportError as exc:
        hint = ""
        text = str(exc)
        if "libusb" in text:
            hint = " (install the system library: apt-get install libusb-1.0-0)"
        elif "libgomp" in text:
            hint = " (install the system library: apt-get install libgomp1)"
        elif "No module named" in text:
            hint = " (pip install open3d)"
        raise RendererUnavailable(f"Open3D is not usable: {text}{hint}") from None
    return open3d
