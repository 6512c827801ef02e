"""On-disk feature cache for evaluation runs, so another matcher or metric never re-extracts.

One safetensors file per (image, feature setting) under ``$CORRVIZ_CACHE/features/<backbone>/``.
The key hashes everything that changes features: the image content (SHA-1 of the file bytes, or
of the pixels for in-memory frames), backbone name and architecture, weights source and a digest
of the parameters, checkpoint digest, resolution, canvas, layer, facet and dtype. Files are
written atomically; a corrupt or foreign file is ignored and recomputed. The canvas transform is
not stored: it is rebuilt from the image size, which the file records.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..features import FeatureExtractor, FeatureMap, image_digest
from ..io import atomic_path, file_sha1, load_image
from ..progress import Progress
from ..settings import cache_dir
from .spec import weights_digest

CACHE_FORMAT = 1
ImageRef = Path | str | np.ndarray


def default_feature_cache_dir() -> Path:
    """``$CORRVIZ_CACHE/features`` (``~/.cache/corrviz/features`` when the variable is unset)."""
    return cache_dir() / "features"


@dataclass
class CacheStats:
    """Where features came from during a run."""

    memory_hits: int = 0
    disk_hits: int = 0
    extracted: int = 0
    written: int = 0
    unreadable_files: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(vars(self))


class FeatureStore:
    """Features of images through a memory LRU, then the disk cache, then the extractor.

    ``cache_root=None`` disables the disk cache; ``memory_entries=0`` disables the memory LRU
    (then every request extracts: the "no cache" baseline of ``scripts/bench_eval.py``).
    """

    def __init__(self, extractor: FeatureExtractor, cache_root: Path | str | None = None,
                 memory_entries: int = 128, use_disk: bool = True) -> None:
        self.extractor = extractor
        root = Path(cache_root) if cache_root is not None else default_feature_cache_dir()
        self.cache_root: Path | None = root if use_disk else None
        self.memory_entries = int(memory_entries)
        self._memory: OrderedDict[str, FeatureMap] = OrderedDict()
        self._digests: dict[tuple[str, int, int], str] = {}
        self.stats = CacheStats()
        self.setting = self._setting()
        self.setting_digest = hashlib.sha1(json.dumps(self.setting, sort_keys=True).encode()).hexdigest()

    # ------------------------------------------------------------------ keys
    def _setting(self) -> dict[str, Any]:
        bb = self.extractor.backbone
        o = self.extractor.options
        cfg = bb.config
        return {"format": CACHE_FORMAT, "backbone": bb.name, "weights_source": bb.weights_source,
                "weights_digest": weights_digest(self.extractor),
                "checkpoint_digest": self.extractor.checkpoint_digest,
                "architecture": [cfg.family, cfg.timm_name, cfg.patch_size, cfg.embed_dim, cfg.depth,
                                 cfg.num_registers, cfg.pos_interpolation],
                "resolution": list(o.resolution) if isinstance(o.resolution, tuple) else o.resolution,
                "canvas": o.canvas, "layer": o.layer, "facet": o.facet, "dtype": o.dtype,
                # weight-free descriptors: support and normalisation (absent for networks: their keys are unchanged)
                **({"descriptor": dict(cfg.descriptor)} if cfg.descriptor else {})}

    def content_digest(self, image: ImageRef) -> str:
        """SHA-1 of the file bytes (memoised by path, size and mtime) or of an in-memory array."""
        if isinstance(image, np.ndarray):
            return "pixels:" + image_digest(image)
        p = Path(image)
        st = p.stat()
        memo = (str(p.resolve()), int(st.st_size), int(st.st_mtime_ns))
        if memo not in self._digests:
            self._digests[memo] = "file:" + file_sha1(p)
        return self._digests[memo]

    def key(self, image: ImageRef) -> str:
        return hashlib.sha1(f"{self.setting_digest}|{self.content_digest(image)}".encode()).hexdigest()

    def path_for(self, key: str) -> Path | None:
        if self.cache_root is None:
            return None
        return self.cache_root / self.extractor.backbone.name / key[:2] / f"{key}.safetensors"

    # ------------------------------------------------------------------ disk
    def _read(self, key: str) -> FeatureMap | None:
        path = self.path_for(key)
        if path is None or not path.is_file():
            return None
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as fh:
                meta = fh.metadata() or {}
            tensors = load_file(str(path))
            if meta.get("setting_digest") != self.setting_digest or "features" not in tensors:
                raise ValueError("cache entry belongs to another setting")
            size = (int(meta["image_w"]), int(meta["image_h"]))
        except (SafetensorError, OSError, ValueError, KeyError, RuntimeError):
            self.stats.unreadable_files += 1
            return None
        return self._feature_map(tensors["features"], size)

    def _write(self, key: str, fm: FeatureMap) -> None:
        path = self.path_for(key)
        if path is None:
            return
        from safetensors.torch import save_file

        meta = {"setting_digest": self.setting_digest, "setting": json.dumps(self.setting, sort_keys=True),
                "image_w": str(fm.image_size[0]), "image_h": str(fm.image_size[1])}
        with atomic_path(path) as tmp:
            save_file({"features": fm.features.contiguous()}, str(tmp), metadata=meta)
        self.stats.written += 1

    def _feature_map(self, features: torch.Tensor, size: tuple[int, int]) -> FeatureMap:
        ex = self.extractor
        return FeatureMap(features, ex.transform_for(size), ex.backbone.name, ex.options, size,
                          ex.checkpoint_path, ex.backbone.weights_source,
                          pos_interpolation=ex.backbone.config.pos_interpolation)

    # ------------------------------------------------------------------ memory
    def _remember(self, key: str, fm: FeatureMap) -> None:
        if self.memory_entries <= 0:
            return
        self._memory[key] = fm
        self._memory.move_to_end(key)
        while len(self._memory) > self.memory_entries:
            self._memory.popitem(last=False)

    # ------------------------------------------------------------------ public
    def cached(self, image: ImageRef) -> bool:
        """Whether ``image``'s features are in memory or on disk (no extraction needed)."""
        key = self.key(image)
        path = self.path_for(key)
        return key in self._memory or (path is not None and path.is_file())

    def get(self, image: ImageRef) -> FeatureMap:
        """Features of one image (a path or an RGB array); raises ImageLoadError for bad files."""
        key = self.key(image)
        fm = self._memory.get(key)
        if fm is not None:
            self._memory.move_to_end(key)
            self.stats.memory_hits += 1
            return fm
        fm = self._read(key)
        if fm is not None:
            self.stats.disk_hits += 1
        else:
            arr = image if isinstance(image, np.ndarray) else load_image(image)
            fm = self.extractor.extract(arr)
            self.stats.extracted += 1
            self._write(key, fm)
        self._remember(key, fm)
        return fm

    def prefetch(self, images: list[ImageRef], progress: Progress | None = None) -> dict[int, str]:
        """Extract and store (on disk) every image not cached yet, in batches.

        Returns ``{index: reason}`` for images that could not be read; the others are left on disk
        (not kept in memory, so whole benchmarks fit). Without a disk cache this does nothing.
        """
        from ..errors import ImageLoadError

        failures: dict[int, str] = {}
        if self.cache_root is None:
            return failures
        todo: list[tuple[int, str]] = []
        queued: set[str] = set()
        for i, im in enumerate(images):
            try:
                key = self.key(im)
            except OSError as exc:
                failures[i] = f"image {im} cannot be read ({exc.strerror or exc})"
                continue
            path = self.path_for(key)
            if key not in self._memory and key not in queued and path is not None and not path.is_file():
                todo.append((i, key))
                queued.add(key)
        if progress is not None:
            progress.start(len(todo), f"extracting {self.extractor.name} features")
        bs = max(1, self.extractor.options.batch_size)
        for start in range(0, len(todo), bs):
            chunk = todo[start: start + bs]
            arrays: list[np.ndarray] = []
            keys: list[str] = []
            for i, key in chunk:
                im = images[i]
                try:
                    arrays.append(im if isinstance(im, np.ndarray) else load_image(im))
                    keys.append(key)
                except ImageLoadError as exc:
                    failures[i] = str(exc)
            if arrays:
                for key, fm in zip(keys, self.extractor.extract_many(arrays), strict=True):
                    self.stats.extracted += 1
                    self._write(key, fm)
            if progress is not None:
                progress.step(len(chunk))
        return failures

    def size_on_disk(self) -> int:
        """Bytes used by this backbone's cache folder."""
        if self.cache_root is None:
            return 0
        folder = self.cache_root / self.extractor.backbone.name
        return sum(f.stat().st_size for f in folder.rglob("*.safetensors")) if folder.is_dir() else 0


def describe_cache(store: FeatureStore) -> dict[str, Any]:
    return {"feature_cache": str(store.cache_root) if store.cache_root is not None else None,
            "cache_key_fields": ["image content sha1", *sorted(store.setting)],
            **store.stats.to_dict(), "extractor_extractions": store.extractor.extractions,
            "cache_dir_env": os.environ.get("CORRVIZ_CACHE")}
