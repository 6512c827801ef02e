"""The one feature-options type: everything that decides a feature map, for the CLI, the app, eval and sessions.

:class:`FeatureSpec` names the backbone, the canvas and tap options, the device and dtype, and the
weights / finetuned checkpoint. ``corrviz.core.evaluate.ExtractorSpec`` and
``corrviz.core.session.ExtractionOptions`` are this same class (older names), so a spec goes from the
app's session to ``evaluate`` or a session file without a conversion. The extractor's low-level
:class:`~corrviz.core.features.FeatureOptions` is made from it in one place, :meth:`FeatureSpec.feature_options`.

Light to import (no torch): the app's window imports it before torch has loaded. ``None`` fields take
the backbone's defaults. Only ``backbone`` and ``resolution`` may be given by position.
"""

from __future__ import annotations

import dataclasses
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING, Any

from .errors import InputMismatchError

if TYPE_CHECKING:  # pragma: no cover
    from .features import FeatureOptions

# The default backbone: the first of these whose weights are here (corrviz.core.backbones.default_backbone).
# The last one needs no weights: it is what a first start uses until the weight probe has chosen.
DEFAULT_BACKBONE_ORDER: tuple[str, ...] = ("dinov2_vits14", "vit_tiny_patch16_224", "dense_sift")
FIRST_START_BACKBONE = DEFAULT_BACKBONE_ORDER[-1]
CANVAS_MODES: tuple[str, ...] = ("pad_center", "pad_br_white", "resize")
DTYPE_NAMES: tuple[str, ...] = ("fp32", "bf16", "fp16")
FACETS: tuple[str, ...] = ("prenorm", "norm", "key", "query", "value")


@dataclass(frozen=True)
class FeatureSpec:
    """Everything that decides the features. ``None`` fields take the backbone's defaults."""

    backbone: str = FIRST_START_BACKBONE
    resolution: int | None = None
    _: KW_ONLY
    canvas: str = "pad_center"
    layer: int | None = None
    facet: str | None = None
    device: str = "cpu"
    dtype: str = "fp32"
    checkpoint: str | None = None  # a corrviz finetuned checkpoint wrapping the backbone
    weights: str | None = None  # a backbone weights file (else the weights folder / hub)
    batch_size: int = 4

    def __post_init__(self) -> None:
        if not self.backbone:
            raise InputMismatchError("no backbone given")
        if self.canvas not in CANVAS_MODES:
            raise InputMismatchError(f"unknown canvas mode {self.canvas!r}; choose one of {', '.join(CANVAS_MODES)}")
        if self.dtype not in DTYPE_NAMES:
            raise InputMismatchError(f"unknown dtype {self.dtype!r}; choose one of {', '.join(DTYPE_NAMES)}")
        if self.dtype != "fp32" and not str(self.device).startswith("cuda"):
            raise InputMismatchError(f"dtype {self.dtype} needs a CUDA device; use fp32 on {self.device}")
        if self.batch_size < 1:
            raise InputMismatchError(f"batch size must be at least 1, got {self.batch_size}")
        if self.resolution is not None and self.resolution < 1:
            raise InputMismatchError(f"resolution must be a positive number of pixels, got {self.resolution}")

    def feature_options(self, batch_size: int | None = None) -> FeatureOptions:
        """The extractor's low-level options (the one conversion)."""
        from .features import FeatureOptions

        return FeatureOptions(resolution=self.resolution, canvas=self.canvas, layer=self.layer, facet=self.facet,
                              device=self.device, dtype=self.dtype,
                              batch_size=self.batch_size if batch_size is None else batch_size)

    def with_device(self, device: str) -> FeatureSpec:
        """The same spec on ``device``; a half-precision dtype falls back to fp32 off CUDA."""
        dtype = self.dtype if str(device).startswith("cuda") else "fp32"
        return dataclasses.replace(self, device=device, dtype=dtype)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FeatureSpec:
        """From :meth:`to_dict` (a session file, a result's protocol); unknown keys are ignored."""
        known = {f.name for f in dataclasses.fields(cls) if f.name != "_"}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_args(cls, args: Any, checkpoint: str | None = None, backbone: str | None = None) -> FeatureSpec:
        """From the command line's feature arguments (:func:`corrviz.core.commands.common.add_feature_args`);
        ``checkpoint`` replaces ``--checkpoint`` (e.g. a sphere mapper), ``backbone`` a default-chosen one."""
        return cls(backbone or args.backbone, args.resolution, canvas=args.canvas, layer=args.layer, facet=args.facet,
                   device=args.device, dtype=args.dtype, checkpoint=checkpoint or args.checkpoint,
                   weights=args.weights, batch_size=args.batch_size)
