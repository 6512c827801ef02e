"""Errors corrviz raises for bad input.

Every error names the offending file or value and the problem in plain words, so that the
command line prints one clear line and the app shows a dialog instead of a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class CorrvizError(Exception):
    """Base class of every error corrviz raises on purpose."""


class ImageLoadError(CorrvizError):
    """An image file is missing, unreadable or corrupt."""


class UnknownBackboneError(CorrvizError, KeyError):
    """A backbone name is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ResolutionError(CorrvizError, ValueError):
    """A resolution is not usable with a backbone (e.g. not a multiple of its patch size)."""


class WeightsNotFoundError(CorrvizError, FileNotFoundError):
    """No weights for a backbone could be found; the message lists every place looked at."""


class CheckpointError(CorrvizError, ValueError):
    """A checkpoint file is corrupt, of an unknown format, or for another backbone."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint was made for another architecture than the one requested."""


class DatasetError(CorrvizError, ValueError):
    """A dataset folder has the wrong layout, or an annotation is malformed."""


class MeshError(CorrvizError, ValueError):
    """A mesh is unreadable or degenerate (no faces, NaN vertices, zero extent)."""


class InputMismatchError(CorrvizError, ValueError):
    """Inputs that must agree do not (e.g. keypoint lists of different lengths)."""


class Cancelled(CorrvizError):
    """A long job stopped because the user asked it to."""


def suggest(name: str, choices: Iterable[str], n: int = 3) -> str:
    """Return a ' Did you mean: a, b?' suffix for an unknown name, or '' if nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=n, cutoff=0.5)
    return f" Did you mean: {', '.join(close)}?" if close else ""
