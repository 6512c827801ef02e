"""Plain records of the session model: inputs, options, query points, matches, features, runs.

No signals and no heavy imports here; :mod:`corrviz.core.session` holds the evented model that
carries them, and re-exports every name (``from corrviz.core.session import QueryPoint`` works).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .feature_spec import FeatureSpec

if TYPE_CHECKING:  # pragma: no cover
    from .features import FeatureMap

# Query points carry a colour *slot* (an identity that survives deletions of other points); the app
# maps slots to colours (corrviz.app.render_state.point_rgb). A new point takes the lowest free slot.
COLOR_SLOTS = 11


@dataclass
class ImageInput:
    """One loaded image: a display name, where it came from, and its RGB uint8 pixels (H, W, 3)."""

    name: str
    rgb: np.ndarray
    path: str | None = None

    @property
    def size(self) -> tuple[int, int]:
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])


# The session's feature options are the one feature-options type (an older name of FeatureSpec).
ExtractionOptions = FeatureSpec


@dataclass(frozen=True)
class QueryPoint:
    """A clicked point: the image it was clicked in, image pixel coordinates, and its colour slot."""

    image: int
    x: float
    y: float
    color: int = 0


@dataclass
class PointMatch:
    """Where one query point lands in one other image."""

    query: int  # index into the query point list
    target: int  # image index
    xy: tuple[float, float]
    score: float  # cosine similarity at the match
    valid: bool
    confidence: float | None = None  # soft-argmax peak probability, when the method has one


@dataclass
class MatchResult:
    """Matches of every query point into every other image, plus the selected point's heatmaps."""

    method: str
    matches: list[PointMatch] = field(default_factory=list)
    heatmaps: dict[int, np.ndarray] = field(default_factory=dict)  # image index -> (h, w) raster in [0, 1]
    heatmap_point: int = -1
    seconds: float = 0.0

    def for_query(self, q: int) -> list[PointMatch]:
        return [m for m in self.matches if m.query == q]


@dataclass
class FeatureResult:
    """Feature maps of all images with their joint PCA: colours per cell and 3-D PCA points.

    How the colours are drawn (image-sized RGBA overlays) is the app's business (render_state.overlay_images).
    """

    maps: list[FeatureMap]
    pca_rgb: list[np.ndarray]  # (h, w, 3) float32 in [0, 1] per map: the joint-PCA colour of every cell
    points3d: list[np.ndarray]  # (N_i, 3) PCA coordinates of the (foreground) cells
    cells3d: list[np.ndarray]  # (N_i, 2) the (row, col) of each 3-D point
    colors3d: list[np.ndarray]  # (N_i, 3) float RGB of each 3-D point
    seconds: float = 0.0
    foreground_only: bool = False
    mask_source: str = ""  # what the foreground cells came from, when foreground_only


@dataclass
class EvalRun:
    """One benchmark run of the evaluation panel: its request, the outcomes so far, the result."""

    benchmark: str
    data_root: str
    method: str
    limit: int | None = None
    outcomes: list[Any] = field(default_factory=list)  # PairOutcome / ClipOutcome / ObjectOutcome
    scores: list[tuple[str, float, float]] = field(default_factory=list)  # (item, numerator, denominator)
    result: Any = None  # EvalResult once finished
    state: str = "running"  # running | done | cancelled | failed
    message: str = ""
