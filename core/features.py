"""Feature extraction: images -> :class:`FeatureMap` (a patch grid plus its exact pixel transform).

Options are explicit (:class:`FeatureOptions`): resolution, canvas mode, layer, facet, device,
dtype and batch size. Results are cached in memory (LRU) by image content + backbone + a digest of the
weights actually in memory (:func:`corrviz.core.checkpoint.state_digest`, so an adapted or
retrained model never gets another model's features) + checkpoint + options, so re-clicking or
switching views never recomputes. Models being trained (train mode or trainable parameters) are
never cached.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .backbones import Backbone, create_backbone
from .io import as_rgb_uint8, load_image
from .progress import Progress
from .transforms import CANVAS_MODES, CanvasTransform, mask_to_grid, render_canvas

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class FeatureOptions:
    """How features are computed. ``None`` fields take the backbone's defaults."""

    resolution: int | tuple[int, int] | None = None  # canvas side, or (width, height)
    canvas: str = "pad_center"
    layer: int | None = None
    facet: str | None = None
    device: str = "cpu"
    dtype: str = "fp32"
    batch_size: int = 4

    def __post_init__(self) -> None:
        if self.canvas not in CANVAS_MODES:
            raise ValueError(f"unknown canvas mode {self.canvas!r}; choose one of {', '.join(CANVAS_MODES)}")
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; choose one of {', '.join(DTYPES)}")
        if self.dtype != "fp32" and not str(self.device).startswith("cuda"):
            raise ValueError(f"dtype {self.dtype} needs a CUDA device; use fp32 on {self.device}")

    def resolved(self, backbone: Backbone) -> FeatureOptions:
        layer, facet = backbone.resolve_tap(self.layer, self.facet)
        res = self.resolution if self.resolution is not None else backbone.config.default_resolution
        if isinstance(res, list):
            res = tuple(res)
        return dataclasses.replace(self, resolution=res, layer=layer, facet=facet)

    def cache_key(self) -> tuple:
        return (self.resolution, self.canvas, self.layer, self.facet, self.dtype)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class FeatureMap:
    """Features of one image on its patch grid, with the exact transform to image pixels."""

    features: torch.Tensor  # (D, grid_h, grid_w), float32, CPU
    transform: CanvasTransform
    backbone: str
    options: FeatureOptions
    image_size: tuple[int, int]  # (W, H) of the original image
    checkpoint: str | None = None
    weights: str = ""
    mask: np.ndarray | None = None  # (grid_h, grid_w) foreground cells, if a mask was given
    pos_interpolation: str = ""  # the backbone's position-embedding rule (registry.POS_RULES)
    _unit: torch.Tensor | None = field(default=None, repr=False)

    @property
    def dim(self) -> int:
        return int(self.features.shape[0])

    @property
    def grid_shape(self) -> tuple[int, int]:
        return int(self.features.shape[1]), int(self.features.shape[2])

    def unit(self) -> torch.Tensor:
        """L2-normalised features as (grid_h * grid_w, D), computed once."""
        if self._unit is None:
            flat = self.features.reshape(self.dim, -1).T
            self._unit = F.normalize(flat.float(), dim=1).contiguous()
        return self._unit

    def sample(self, xy: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Bilinear features at image points (N, 2) -> (N, D), patch-centre aligned (align_corners=False)."""
        pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        norm = torch.from_numpy(self.transform.image_to_normalized(pts)).float()
        grid = norm.view(1, 1, -1, 2)
        out = F.grid_sample(self.features[None].float(), grid, mode="bilinear", padding_mode="border",
                            align_corners=False)
        return out[0, :, 0].T.contiguous()

    def foreground(self) -> np.ndarray:
        """Foreground cells: the given mask, else the cells covered by the image (not padding)."""
        content = self.transform.content_mask()
        return content & self.mask if self.mask is not None else content

    def cell_centers(self) -> np.ndarray:
        """Image coordinates (grid_h, grid_w, 2) of every cell centre."""
        return self.transform.cell_centers_image()


def image_digest(image: np.ndarray) -> str:
    h = hashlib.sha1(np.ascontiguousarray(image).tobytes())
    h.update(str(image.shape).encode())
    return h.hexdigest()


class FeatureCache:
    """Thread-safe in-memory LRU of :class:`FeatureMap` keyed by content and options."""

    def __init__(self, max_entries: int = 64) -> None:
        self.max_entries = max_entries
        self._data: OrderedDict[tuple, FeatureMap] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple) -> FeatureMap | None:
        with self._lock:
            fm = self._data.get(key)
            if fm is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return fm

    def put(self, key: tuple, fm: FeatureMap) -> None:
        with self._lock:
            self._data[key] = fm
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


DEFAULT_CACHE = FeatureCache()
ImageInput = np.ndarray | str | os.PathLike


class FeatureExtractor:
    """Extracts :class:`FeatureMap` objects with one backbone (optionally wrapped by a checkpoint)."""

    def __init__(self, backbone: str | Backbone, options: FeatureOptions | None = None,
                 checkpoint: str | os.PathLike | None = None, cache: FeatureCache | None = DEFAULT_CACHE,
                 pretrained: bool = True, weights: str | os.PathLike | None = None) -> None:
        opts = options or FeatureOptions()
        if isinstance(backbone, str):
            backbone = create_backbone(backbone, pretrained=pretrained, weights=weights, device=opts.device)
        else:
            backbone = backbone.to(opts.device)
        self.checkpoint_path = str(checkpoint) if checkpoint else None
        self.checkpoint_digest = ""
        if checkpoint is not None:
            from .checkpoint import apply_checkpoint, file_digest

            backbone = apply_checkpoint(backbone, checkpoint).to(opts.device)
            self.checkpoint_digest = file_digest(checkpoint)
        self.backbone = backbone
        self.options = opts.resolved(backbone)
        self.cache = cache
        self.extractions = 0  # images actually run through the backbone (for tests / status bars)

    @property
    def name(self) -> str:
        return self.backbone.name

    def transform_for(self, image_size: tuple[int, int]) -> CanvasTransform:
        return CanvasTransform.create(image_size, self.options.resolution,
                                      self.backbone.feature_stride(self.options.layer), self.options.canvas)

    def _model_key(self) -> tuple | None:
        """The weights actually used (a digest of the model's state), or None for a model being trained."""
        bb = self.backbone
        if bb.training or any(p.requires_grad for p in bb.parameters()):
            return None
        from .checkpoint import state_digest

        cfg = bb.config  # stride and weight-free descriptor options are overridable per built backbone
        return (bb.name, type(bb).__name__, repr(getattr(bb, "specs", None)), state_digest(bb),
                cfg.patch_size, tuple(sorted(cfg.descriptor.items())))

    def _key(self, digest: str, model_key: tuple | None) -> tuple | None:
        if model_key is None or self.cache is None:
            return None
        return (digest, *model_key, self.checkpoint_digest, self.options.cache_key())

    def with_options(self, options: FeatureOptions) -> FeatureExtractor:
        """An extractor with the same backbone (and checkpoint) and other options: nothing is rebuilt."""
        if str(options.device) != str(self.options.device):
            raise ValueError(f"with_options cannot move {self.name} from {self.options.device} to {options.device}")
        clone = copy.copy(self)
        clone.options = options.resolved(self.backbone)
        clone.extractions = 0
        return clone

    def extract(self, image: ImageInput, mask: np.ndarray | None = None) -> FeatureMap:
        return self.extract_many([image], masks=[mask])[0]

    def extract_many(self, images: Sequence[ImageInput], masks: Sequence[np.ndarray | None] | None = None,
                     progress: Progress | None = None) -> list[FeatureMap]:
        """Extract features of several images (batched by canvas size), using the cache."""
        arrays = [load_image(im) if isinstance(im, (str, Path, os.PathLike)) else as_rgb_uint8(im)
                  for im in images]
        masks = list(masks) if masks is not None else [None] * len(arrays)
        if len(masks) != len(arrays):
            raise ValueError(f"{len(masks)} masks for {len(arrays)} images")
        out: list[FeatureMap | None] = [None] * len(arrays)
        todo: list[tuple[int, tuple, CanvasTransform]] = []
        model_key = self._model_key() if self.cache is not None else None
        for i, arr in enumerate(arrays):
            key = self._key(image_digest(arr), model_key)
            hit = self.cache.get(key) if key is not None else None
            t = self.transform_for((arr.shape[1], arr.shape[0]))
            if hit is not None:
                out[i] = self._with_mask(hit, masks[i], t)
            else:
                todo.append((i, key, t))
        if progress is not None:
            progress.start(len(todo), f"extracting {self.name} features")
        bs = max(1, self.options.batch_size)
        for start in range(0, len(todo), bs):
            chunk = todo[start: start + bs]
            feats = self._run([render_canvas(arrays[i], t) for i, _, t in chunk])
            for (i, key, t), f in zip(chunk, feats, strict=True):
                fm = FeatureMap(f, t, self.backbone.name, self.options, (t.image_w, t.image_h),
                                self.checkpoint_path, self.backbone.weights_source,
                                pos_interpolation=self.backbone.config.pos_interpolation)
                if key is not None:
                    self.cache.put(key, fm)
                out[i] = self._with_mask(fm, masks[i], t)
            if progress is not None:
                progress.step(len(chunk))
        return [fm for fm in out if fm is not None]

    @staticmethod
    def _with_mask(fm: FeatureMap, mask: np.ndarray | None, t: CanvasTransform) -> FeatureMap:
        if mask is None:
            return fm
        return dataclasses.replace(fm, mask=mask_to_grid(mask, t), _unit=fm._unit)

    @torch.inference_mode()
    def _run(self, canvases: list[np.ndarray]) -> list[torch.Tensor]:
        opts = self.options
        shapes = {c.shape for c in canvases}
        groups = [[c for c in canvases if c.shape == s] for s in shapes] if len(shapes) > 1 else [canvases]
        results: dict[int, torch.Tensor] = {}
        order = {id(c): k for k, c in enumerate(canvases)}
        for group in groups:
            batch = torch.from_numpy(np.stack(group)).permute(0, 3, 1, 2).to(opts.device)
            device_type = torch.device(opts.device).type
            with torch.autocast(device_type, dtype=DTYPES[opts.dtype], enabled=opts.dtype != "fp32"):
                feats = self.backbone.forward_features(batch, opts.layer, opts.facet)
            feats = feats.float().cpu()
            self.extractions += len(group)
            for c, f in zip(group, feats, strict=True):
                results[order[id(c)]] = f.contiguous()
        return [results[k] for k in range(len(canvases))]


_SHARED: OrderedDict[tuple, FeatureExtractor] = OrderedDict()
_SHARED_LOCK = threading.Lock()
SHARED_BACKBONES = 2  # built backbones kept alive for interactive use


def shared_extractor(backbone: str, options: FeatureOptions, checkpoint: str | os.PathLike | None = None,
                     weights: str | os.PathLike | None = None) -> FeatureExtractor:
    """An extractor for interactive use that reuses the last few built backbones.

    Building a backbone means constructing the model and reading its weights, so the app asks here
    instead of constructing :class:`FeatureExtractor` per request; a change of resolution, canvas,
    layer or facet reuses the loaded model (:meth:`FeatureExtractor.with_options`). Features are
    still cached per image in :data:`DEFAULT_CACHE`.
    """
    def stamp(path: str | os.PathLike | None) -> tuple | None:  # a file rewritten in place is a new key
        if not path:
            return None
        st = os.stat(path) if os.path.exists(path) else None
        return (str(path), st.st_size, st.st_mtime_ns) if st else (str(path),)

    key = (backbone, stamp(checkpoint), stamp(weights), str(options.device))
    with _SHARED_LOCK:
        base = _SHARED.get(key)
        if base is not None:
            _SHARED.move_to_end(key)
    if base is None:
        base = FeatureExtractor(backbone, options, checkpoint=checkpoint, weights=weights)
        with _SHARED_LOCK:
            _SHARED[key] = base
            while len(_SHARED) > SHARED_BACKBONES:
                _SHARED.popitem(last=False)
    return base.with_options(options)

