"""File input and output: image loading with clear errors, and atomic writes.

Images are returned as ``uint8`` arrays of shape (H, W, 3), RGB, row-major: the one axis order
used everywhere in corrviz. Writes of checkpoints, results and figures go through
:func:`atomic_write`, so a crash or a cancel never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ImageLoadError


def _file_mode() -> int:
    old = os.umask(0)
    os.umask(old)
    return 0o666 & ~old


_MODE = _file_mode()

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as an RGB ``uint8`` array (H, W, 3).

    Raises :class:`ImageLoadError` naming the file when it is missing, not an image, or corrupt.
    """
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.exists():
        raise ImageLoadError(f"{p}: file does not exist")
    if p.is_dir():
        raise ImageLoadError(f"{p}: is a folder, not an image file")
    try:
        with Image.open(p) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I", "F"):
                arr = np.asarray(im, dtype=np.float64)
                lo, hi = float(arr.min()), float(arr.max())
                arr = ((arr - lo) / (hi - lo + 1e-12) * 255).astype(np.uint8)
                return np.repeat(arr[..., None], 3, axis=2)
            rgb = im.convert("RGB")
            arr = np.asarray(rgb, dtype=np.uint8).copy()
    except UnidentifiedImageError:
        raise ImageLoadError(f"{p}: not a readable image (unknown or corrupt format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageLoadError(f"{p}: corrupt or truncated image ({exc})") from None
    if arr.ndim != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ImageLoadError(f"{p}: image has no pixels")
    return arr


def as_rgb_uint8(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Validate and convert an in-memory image to RGB uint8 (H, W, 3)."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ImageLoadError(f"{name}: expected an (H, W, 3) RGB array, got shape {arr.shape}")
    arr = arr[..., :3]
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and arr.size and float(arr.max()) <= 1.0:
            arr = arr * 255.0
        arr = np.clip(np.round(arr), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr)


def atomic_path(path: str | os.PathLike) -> contextlib.AbstractContextManager[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed over ``path``.

    For libraries that write by file name. The temporary name keeps the target's suffix so format
    detection (``.png``, ``.svg``) works. On any exception the temporary file is removed and ``path``
    is left untouched.
    """

    @contextlib.contextmanager
    def _ctx() -> Iterator[Path]:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix, dir=target.parent)
        os.close(fd)
        try:
            yield Path(tmp)
            os.chmod(tmp, _MODE)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    return _ctx()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[Any]:
    """Open a temporary file next to ``path``; on success it is synced and renamed over ``path``."""
    with atomic_path(path) as tmp, open(tmp, mode) as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


def file_sha1(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-1 of a file's bytes, read in chunks (the one file-content digest of corrviz)."""
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_json(path: str | os.PathLike, error: type[Exception] = ValueError, what: str = "file") -> Any:
    """Parse a JSON file; a missing or unreadable file raises ``error`` naming the path."""
    p = Path(path)
    if not p.exists():
        raise error(f"{p}: {what} is missing")
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise error(f"{p}: unreadable JSON ({exc})") from None


def write_json(path: str | os.PathLike, data: Any, indent: int = 2) -> None:
    """Write JSON atomically (numpy scalars and arrays are converted)."""

    def default(obj: Any) -> Any:
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
        if isinstance(obj, Path):
            return str(obj)
        raise TypeError(f"cannot write {type(obj).__name__} to JSON")

    text = json.dumps(data, indent=indent, default=default, sort_keys=False)
    with atomic_write(path, "w") as fh:
        fh.write(text + "\n")


def save_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write an RGB uint8 image atomically; the format follows the suffix."""
    from PIL import Image

    target = Path(path)
    with atomic_path(target) as tmp:
        Image.fromarray(as_rgb_uint8(image)).save(tmp)


def read_safetensors_json(path: str | os.PathLike, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Tensors of a safetensors file and the JSON document stored under metadata ``key``.

    Never executes code (safetensors only). Raises ``ValueError`` with a short reason when the file is
    not readable safetensors or has no valid JSON under ``key``; callers turn it into their own error
    naming the file.
    """
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            header = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
        meta = json.loads(header[key])
    except Exception as exc:  # noqa: BLE001
        raise ValueError(str(exc)[:160] or type(exc).__name__) from None
    if not isinstance(meta, dict):
        raise ValueError(f"metadata {key!r} is not a JSON object")
    return tensors, meta
