"""corrviz's own data: cached procedural objects, multi-object datasets and the demo pair.

Everything is generated on demand and cached under the cache folder (:func:`corrviz.core.settings.cache_dir`):
``$CORRVIZ_CACHE`` if set, else ``$XDG_CACHE_HOME/corrviz``, else ``~/.cache/corrviz``. Nothing needs downloading.

Dataset layout written by :func:`write_dataset`::

    <root>/
      dataset.json        format "corrviz-dataset" v1: objects [{name, seed, folder}], n_views,
                          resolution, distance, focal (at 512 px)
      <name>-s<seed>/     one view set per object (layout: corrviz.core.render.storage)
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DatasetError, MeshError
from ..io import read_json, write_json
from ..progress import Progress
from ..render import ViewSet, load_view_set, render_poses, sphere_poses, write_view_set
from ..render.cameras import look_at
from ..render.mesh import Mesh, load_mesh_npz, save_mesh_npz
from ..settings import cache_dir  # the one cache folder rule ($CORRVIZ_CACHE, $XDG_CACHE_HOME, ~/.cache)
from .objects import GENERATOR_VERSION, build_object, list_objects

DATASET_FORMAT = "corrviz-dataset"
DEFAULT_OBJECTS = ("chair", "mug", "car", "table", "box", "cylinder", "torus", "bowl")


def make_object(name: str, seed: int = 0, cache: bool = True) -> Mesh:
    """A procedural object (see :func:`list_objects`), deterministic from ``seed``, cached on disk."""
    if not cache:
        return build_object(name, seed)
    path = cache_dir() / "objects" / f"{name}-s{seed}-g{GENERATOR_VERSION}.npz"
    if path.exists():
        try:
            return load_mesh_npz(path)
        except MeshError:
            pass  # a corrupt cache entry is rebuilt below
    mesh = build_object(name, seed)
    save_mesh_npz(mesh, path)
    return mesh


def _folder_name(name: str, seed: int) -> str:
    return f"{name}-s{seed}"


@dataclass
class DatasetEntry:
    name: str
    seed: int
    folder: Path


class SyntheticDataset:
    """A folder of view sets written by :func:`write_dataset` (read lazily, one object at a time)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        meta_path = self.root / "dataset.json"
        meta = read_json(meta_path, DatasetError, "the dataset index (not a corrviz dataset?)")
        if meta.get("format") != DATASET_FORMAT:
            raise DatasetError(f"{meta_path}: format is {meta.get('format')!r}, expected {DATASET_FORMAT!r}")
        self.meta = meta
        self.entries = [DatasetEntry(str(o["name"]), int(o["seed"]), self.root / o["folder"])
                        for o in meta.get("objects", [])]

    def __len__(self) -> int:
        return len(self.entries)

    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    def load(self, index_or_name: int | str) -> ViewSet:
        """The view set of one object, by position or name."""
        if isinstance(index_or_name, str):
            matches = [e for e in self.entries if e.name == index_or_name]
            if not matches:
                raise DatasetError(f"{self.root}: no object {index_or_name!r} (has {', '.join(self.names())})")
            entry = matches[0]
        else:
            entry = self.entries[index_or_name]
        return load_view_set(entry.folder)

    def __iter__(self) -> Iterator[ViewSet]:
        for i in range(len(self.entries)):
            yield self.load(i)

    def record(self, index: int):  # -> corrviz.core.datasets.base.ViewSetRecord
        """The evaluation record (paths, cameras, lazy ground-truth correspondence) of one object."""
        from .records import view_set_record

        entry = self.entries[index]
        return view_set_record(entry.folder, dataset="corrviz-synthetic", set_id=f"{entry.name}-s{entry.seed}")

    def records(self) -> list:
        """:meth:`record` for every object."""
        return [self.record(i) for i in range(len(self.entries))]


def write_dataset(root: str | os.PathLike, objects: Sequence[str | Mesh], n_views: int = 42,
                  resolution: int = 512, distance: float = 2.0, focal: float = 560.0, seed: int = 0,
                  progress: Progress | None = None) -> SyntheticDataset:
    """Render each object (a procedural object name or a loaded mesh) and write the dataset."""
    root = Path(root)
    for item in objects:
        if isinstance(item, str) and item not in list_objects():
            build_object(item, seed)  # raises a clear error (with suggestions) before any work starts
    poses = sphere_poses(n_views, distance)
    listed = []
    if progress is not None:
        progress.start(len(objects) * n_views, "rendering dataset")
    for item in objects:
        mesh = make_object(item, seed) if isinstance(item, str) else item
        folder = _folder_name(mesh.name or "mesh", seed)
        viewset = render_poses(mesh, poses, resolution=resolution, focal=focal)
        write_view_set(viewset, root / folder)
        listed.append({"name": mesh.name, "seed": seed, "folder": folder})
        if progress is not None:
            progress.step(n_views, f"rendered {mesh.name}")
    write_json(root / "dataset.json", {
        "format": DATASET_FORMAT, "version": 1, "objects": listed, "n_views": n_views,
        "resolution": resolution, "distance": distance, "focal_at_512": focal,
        "generator_version": GENERATOR_VERSION,
    })
    return SyntheticDataset(root)


def default_dataset(root: str | os.PathLike | None = None, n_objects: int = 4, n_views: int = 42,
                    resolution: int = 512, seed: int = 0, progress: Progress | None = None) -> SyntheticDataset:
    """corrviz's default dataset, generated on first use and cached.

    The first ``n_objects`` of :data:`DEFAULT_OBJECTS` (composed objects first) at ``n_views`` views
    (the multiview protocol: 42 views at 512 px, about 15 MB and 10-20 s per object).
    ``root`` defaults to a folder under :func:`cache_dir` named after the settings.
    """
    if not 1 <= n_objects <= len(DEFAULT_OBJECTS):
        raise ValueError(f"n_objects must be between 1 and {len(DEFAULT_OBJECTS)}, got {n_objects}")
    if root is None:
        root = cache_dir() / "datasets" / f"default-{n_objects}x{n_views}-{resolution}px-s{seed}-g{GENERATOR_VERSION}"
    root = Path(root)
    if (root / "dataset.json").exists():
        try:
            return SyntheticDataset(root)
        except DatasetError:
            pass
    return write_dataset(root, list(DEFAULT_OBJECTS[:n_objects]), n_views=n_views, resolution=resolution,
                         seed=seed, progress=progress)


def demo_pair_folder(resolution: int = 512, name: str = "car", seed: int = 0, angle_deg: float = 50.0) -> Path:
    """Where :func:`demo_pair` caches its view set."""
    return cache_dir() / "demo" / f"{name}-s{seed}-{resolution}px-{angle_deg:g}deg-g{GENERATOR_VERSION}"


def demo_pair(resolution: int = 512, name: str = "car", seed: int = 0, angle_deg: float = 50.0) -> ViewSet:
    """Two rendered views of a default object ``angle_deg`` apart, with exact ground truth (cached).

    View 0 looks from 30 degrees azimuth, 25 degrees above; view 1 is ``angle_deg`` further round.
    """
    folder = demo_pair_folder(resolution, name, seed, angle_deg)
    if (folder / "cameras.json").exists():
        try:
            return load_view_set(folder)
        except DatasetError:
            pass
    mesh = make_object(name, seed)
    poses = []
    for az in (30.0, 30.0 + angle_deg):
        a, e = np.deg2rad(az), np.deg2rad(25.0)
        poses.append(look_at(2.0 * np.array([np.cos(e) * np.sin(a), np.sin(e), np.cos(e) * np.cos(a)])))
    viewset = render_poses(mesh, np.stack(poses), resolution=resolution)
    write_view_set(viewset, folder)
    return viewset
