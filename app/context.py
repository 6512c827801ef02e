"""What every controller of the app is given, and nothing more.

The app is one session model (:class:`corrviz.core.session.Session`, signals per field) and small
controllers by responsibility (pair, checkpoints, video, 3-D scene, evaluation, figure, pose,
training, compare), each over that session and its own view. A controller gets an
:class:`AppContext` (the session, the worker runner, the settings and a few window services) and its
view behind a narrow interface (a ``Protocol`` in its module), so its tests run with mocked views
and a synchronous runner, without a display (ndv's pattern). The main
:class:`~corrviz.app.controller.Controller` only builds them, wires the window and opens inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def _defer(fn: Callable[[], None]) -> None:
    """Run ``fn`` once the event loop has drawn what is queued (the click-to-display timing uses it)."""
    from PyQt6.QtCore import QTimer

    QTimer.singleShot(0, fn)


@dataclass
class BackboneCatalog:
    """The backbone list as the registry worker reported it (``BackboneEntry`` by name).

    ``default_pending``: no backbone has been chosen yet (first start); extraction waits for it.
    """

    entries: dict[str, Any] = field(default_factory=dict)
    default_pending: bool = False
    loaded: bool = False


@dataclass
class AppContext:
    """The session model and the window services every controller may use.

    ``runner``: ``submit(channel, fn, on_result=, on_error=, on_cancelled=, on_progress=, on_partial=)``,
    ``cancel(channel)``, ``busy(channel)``. ``settings``: the one :class:`~corrviz.core.settings.Settings`.
    ``dialogs``: :class:`Dialogs` (or a mock). ``show_tab(name)``: "2d", "3d", "video", "eval", "compare".
    ``affine``: the demo pair's known source -> target affine while the demo pair is shown.
    """

    session: Any
    runner: Any
    settings: Any
    report_error: Callable[..., None]
    show_status: Callable[[str], None]
    show_error: Callable[[str, str], None]
    dialogs: Any = None
    catalog: BackboneCatalog = field(default_factory=BackboneCatalog)
    show_tab: Callable[[str], None] = lambda _name: None
    defer: Callable[[Callable[[], None]], None] = _defer
    affine: Any = None


class Dialogs:
    """The file dialogs of the app (Qt), parented to the main window; every method returns '' on cancel."""

    def __init__(self, parent: Any) -> None:
        self.parent = parent

    def open_file(self, title: str, start: str, filters: str) -> str:
        from PyQt6.QtWidgets import QFileDialog

        return QFileDialog.getOpenFileName(self.parent, title, start, filters)[0]

    def open_files(self, title: str, start: str, filters: str) -> list[str]:
        from PyQt6.QtWidgets import QFileDialog

        return list(QFileDialog.getOpenFileNames(self.parent, title, start, filters)[0])

    def folder(self, title: str, start: str) -> str:
        from PyQt6.QtWidgets import QFileDialog

        return QFileDialog.getExistingDirectory(self.parent, title, start)

    def save_file(self, title: str, start: str, filters: str) -> str:
        from PyQt6.QtWidgets import QFileDialog

        return QFileDialog.getSaveFileName(self.parent, title, start, filters)[0]


def start_folder(settings: Any) -> str:
    """Where open dialogs start: the last folder opened, else home."""
    from pathlib import Path

    return settings.last_folder or str(Path.home())
