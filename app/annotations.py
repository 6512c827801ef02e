"""Drawings that belong to one image pair: shown with that pair, cleared when other images are opened.

Two controllers open a pair with its own drawings: the DIY-SC label browser (pseudo-labels) and the
evaluation controller (an evaluated pair's ground-truth keypoints and predictions). Both go through
:class:`PairAnnotations`, which owns the pair view's annotation layer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class PairAnnotations:
    """``show(images, lines, marks, owner)`` opens the images in the session and draws the annotations;
    any later change of images clears them and calls the owner's ``on_cleared`` callback."""

    def __init__(self, session: Any, view: Any, ctx: Any = None) -> None:
        self.session, self.view, self.ctx = session, view, ctx
        self.owner: Any = None
        self._on_cleared: Callable[[], None] | None = None
        self._opening = False
        session.sigImagesChanged.connect(self._on_images)

    def show(self, images: list, lines: list, marks: list, owner: Any,
             on_cleared: Callable[[], None] | None = None) -> None:
        previous = self._on_cleared if owner is not self.owner else None
        self._opening = True
        try:
            self.session.set_images(images)  # signals are delivered at once (same thread)
        finally:
            self._opening = False
        if previous is not None:
            previous()  # the other owner's pair is gone
        self.owner, self._on_cleared = owner, on_cleared
        self.view.set_annotations(lines, marks)

    def open(self, paths: list[str], names: list[str], lines: list, marks: list, owner: Any,
             done: Callable[[], None] | None = None, on_cleared: Callable[[], None] | None = None) -> None:
        """Load the pair's images in a worker (channel ``load``), name them, then :meth:`show` them with the
        drawings and call ``done()``. Needs the app context (``ctx``)."""
        import dataclasses

        from corrviz.core.session import load_images

        def loaded(images: list, _s: float) -> None:
            self.ctx.affine = None
            self.show([dataclasses.replace(im, name=n) for im, n in zip(images, names, strict=True)],
                      lines, marks, owner, on_cleared)
            if done is not None:
                done()

        self.ctx.runner.submit("load", lambda _p: load_images(paths), on_result=loaded,
                               on_error=lambda e: self.ctx.report_error(e, "Cannot open the pair's images"))

    def clear(self) -> None:
        callback, self.owner, self._on_cleared = self._on_cleared, None, None
        self.view.set_annotations([], [])
        if callback is not None:
            callback()

    def _on_images(self) -> None:
        if not self._opening and self.owner is not None:
            self.clear()
