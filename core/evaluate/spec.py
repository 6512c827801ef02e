"""What an evaluation run uses: the feature extractor (:class:`ExtractorSpec`) and the matcher
(:class:`MatcherSpec`, or any :class:`KeypointMatcher` / :class:`TrackMatcher` callable).

Every backbone's parameters are hashed (:func:`weights_digest`), so two different weight sets
(two random inits, a retrained model under the same name) can never share cached features.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..feature_spec import FeatureSpec
from ..matching import MATCHERS

if TYPE_CHECKING:  # pragma: no cover
    from ..datasets import ClipRecord, PairRecord
    from ..features import FeatureExtractor, FeatureMap
    from ..metrics import QuerySet


# Everything that decides the features: the one feature-options type (an older name of FeatureSpec).
ExtractorSpec = FeatureSpec


def build_extractor(spec: ExtractorSpec) -> FeatureExtractor:
    """A :class:`FeatureExtractor` for ``spec`` with its in-memory cache off (the runner caches)."""
    from ..features import FeatureExtractor

    return FeatureExtractor(spec.backbone, spec.feature_options(), checkpoint=spec.checkpoint, cache=None,
                            weights=spec.weights)


def weights_digest(extractor: FeatureExtractor) -> str:
    """SHA-1 over the backbone's parameters and buffers (name, shape, dtype, bytes); '' if it has none.

    The one parameter digest of corrviz (:func:`corrviz.core.checkpoint.state_digest`, memoised
    until a tensor changes), so the result protocol, the feature cache and checkpoints agree.
    """
    from ..checkpoint import state_digest

    return state_digest(extractor.backbone)


def extractor_protocol(extractor: FeatureExtractor, digest: str | None = None) -> dict[str, Any]:
    """The feature half of a result's protocol: backbone, weights, checkpoint, tap, canvas.

    ``digest``: the :func:`weights_digest` when the caller already has it (hashing a large backbone
    takes seconds, so an evaluation run computes it once, in its feature store).
    """
    bb = extractor.backbone
    cfg = bb.config
    o = extractor.options
    res = o.resolution
    return {
        "backbone": bb.name,
        "weights_source": bb.weights_source,
        "weights_digest": weights_digest(extractor) if digest is None else digest,
        "random_init": ("seeded (create_backbone uses torch seed 0); weights_digest identifies it"
                        if bb.weights_source == "random init" else None),
        "checkpoint": extractor.checkpoint_path,
        "checkpoint_digest": extractor.checkpoint_digest or None,
        "resolution": list(res) if isinstance(res, tuple) else res,
        "canvas": o.canvas,
        "layer": o.layer,
        "facet": o.facet,
        "dtype": o.dtype,
        "patch_size": bb.feature_stride(o.layer),
        "descriptor": dict(cfg.descriptor) or None,  # weight-free backbones: support and normalisation
        "position_interpolation": cfg.pos_interpolation,
        "cell_anchor": "center",
        "point_sampling": "bilinear on the patch grid (align_corners=False)",
    }


@dataclass(frozen=True)
class MatcherSpec:
    """A built-in matcher of :mod:`corrviz.core.matching` with its parameters.

    ``radius`` (cells) and ``beta`` apply to window soft-argmax for keypoint transfer; tracking uses
    ``track_radius_px`` (seed 000 A.10: soft-argmax within 35 px of the argmax) and
    ``occlusion_threshold`` (predicted occluded when the peak cosine similarity is below it).
    ``alpha`` weights the sphere similarity of the ``combined`` matcher.
    """

    method: str = "nn"
    radius: int = 7
    beta: float = 0.02
    alpha: float = 0.2
    track_radius_px: float = 35.0
    occlusion_threshold: float = 0.5
    restrict_to_image: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in MATCHERS:
            raise ValueError(f"unknown matcher {self.method!r}; choose one of {', '.join(MATCHERS)}")

    @property
    def name(self) -> str:
        return self.method

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"method": self.method,
                             "target_cells": "image content only (padding excluded)" if self.restrict_to_image
                             else "all cells"}
        if self.method in ("soft-argmax", "combined"):
            d.update(window_radius_cells=self.radius, beta=self.beta)
        if self.method == "combined":
            d["sphere_alpha"] = self.alpha
        if self.method == "mnn":
            d["non_mutual"] = "counted as incorrect (no prediction)"
        d.update(track_radius_px=self.track_radius_px, occlusion_threshold=self.occlusion_threshold)
        return d


class KeypointMatcher(Protocol):
    """A custom keypoint-transfer matcher: returns predicted target points (N, 2) in target pixels."""

    name: str

    def __call__(self, src: FeatureMap, trg: FeatureMap, src_xy: np.ndarray, record: PairRecord) -> np.ndarray: ...


class TrackMatcher(Protocol):
    """A custom tracker: (tracks (Q, T, 2) in frame pixels, predicted occlusion (Q, T) bool)."""

    name: str

    def track(self, maps: list[FeatureMap], queries: QuerySet, clip: ClipRecord) -> tuple[np.ndarray, np.ndarray]: ...


class OracleMatcher:
    """Returns the ground truth: PCK must be exactly 1.0 (a check of the whole pipeline)."""

    name = "oracle"

    def __call__(self, src: FeatureMap, trg: FeatureMap, src_xy: np.ndarray, record: PairRecord) -> np.ndarray:
        return np.asarray(record.trg_kps, dtype=np.float64).copy()

    def track(self, maps: list[FeatureMap], queries: QuerySet, clip: ClipRecord) -> tuple[np.ndarray, np.ndarray]:
        idx = np.asarray(queries.point_index)
        return clip.points[idx].astype(np.float64).copy(), clip.occluded[idx].copy()

    def to_dict(self) -> dict[str, Any]:
        return {"method": "oracle", "note": "returns the ground truth (pipeline check)"}


def matcher_protocol(matcher: Any) -> dict[str, Any]:
    if hasattr(matcher, "to_dict"):
        return dict(matcher.to_dict())
    return {"method": str(getattr(matcher, "name", type(matcher).__name__)), "note": "custom matcher"}


def as_matcher(matcher: str | MatcherSpec | Any) -> Any:
    """A :class:`MatcherSpec` from a name; specs and custom matchers pass through."""
    if isinstance(matcher, str):
        return MatcherSpec(matcher)
    return matcher



class GridFlowMatcher:
    """Keypoint transfer by a grid-matcher (VGGT-SC) checkpoint: each pair's dense flow, read at the points.

    The flow is predicted from the pair's images (``record.src_image`` / ``record.trg_image``) at the
    checkpoint's resolution; ``needs_features = False`` tells the keypoint pipeline to extract no feature maps.
    """

    name = "grid"
    needs_features = False  # the keypoint pipeline extracts no feature maps for it

    def __init__(self, model: Any, checkpoint: str, resolution: int | None = None) -> None:
        self.model = model
        self.checkpoint = str(checkpoint)
        self.resolution = resolution
        self._sizes: dict[str, tuple[int, int]] = {}

    def __call__(self, src: FeatureMap, trg: FeatureMap, src_xy: np.ndarray, record: PairRecord) -> np.ndarray:
        from ..grid_matcher import predict_flow
        from ..io import load_image

        trg = load_image(record.trg_image)
        self._sizes[str(record.trg_image)] = (trg.shape[1], trg.shape[0])
        flow = predict_flow(self.model, load_image(record.src_image), trg, self.resolution)
        return flow.match(np.asarray(src_xy, dtype=np.float64))[0]

    def image_size(self, path: Any) -> tuple[int, int]:
        """(W, H) of an image this matcher has read."""
        return self._sizes[str(path)]

    def to_dict(self) -> dict[str, Any]:
        return {"method": "grid", "note": "points read from the dense flow of a grid-matcher checkpoint (bilinear)",
                "checkpoint": self.checkpoint,
                "resolution": self.resolution or self.model.feature.get("resolution")}
