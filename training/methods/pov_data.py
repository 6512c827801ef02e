"""3DPoV training data: clips with point tracks from a :mod:`corrviz.core.track_sources` source.

``data.source``: ``rendered`` (exact ground-truth tracks on rendered clips of corrviz's procedural
TRAINING objects: the held-out categories and evaluation seeds are refused, as for MEF) or ``flow``
(OpenCV tracks chained over the frames of ``data.video``, a folder of frames such as a DAVIS clip).
One item = one clip: frames (T, 3, H, W) in [0, 1], up to ``points_per_clip`` tracks that are visible
on frame 0 and on at least one later frame (positions (N, T, 2) with 0 where a track has no
position, visibility (N, T)), and the item's own generator for the reference-bank draws.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from corrviz.core.errors import DatasetError
from corrviz.core.progress import Progress
from corrviz.core.track_sources import TrackSource
from corrviz.core.track_sources.flow import FlowTracks
from corrviz.core.track_sources.rendered import RenderedTracks

from ..method import TrainData
from .mef_data import check_training_objects

SOURCES = ("rendered", "flow")


def training_objects(d: Any) -> list[tuple[str, int]]:
    start = int(d.seed_start)
    objects = [(str(n), s) for s in range(start, start + int(d.seeds)) for n in d.objects]
    if not objects:
        raise DatasetError("config: data.objects is empty")
    check_training_objects(objects, "config data.objects / data.seed_start")
    return objects


def check_track_config(cfg: Any) -> None:
    d = cfg.data
    if str(d.source) not in SOURCES:
        raise DatasetError(f"config key 'data.source': {d.source!r}; choose one of {', '.join(SOURCES)}")
    if int(d.n_frames) < 2:
        raise DatasetError(f"config key 'data.n_frames': {d.n_frames}; a clip needs an anchor and later frames")
    if str(d.source) == "rendered":
        training_objects(d)
    else:
        if not str(d.video) or not Path(str(d.video)).is_dir():
            raise DatasetError(f"config key 'data.video': {d.video!r} is not a folder of frames (data.source=flow)")


def build_source(cfg: Any) -> TrackSource:
    d = cfg.data
    if str(d.source) == "rendered":
        return RenderedTracks(training_objects(d), int(d.clips_per_object), int(d.n_frames), int(d.frame_step),
                              int(d.grid), int(d.render_resolution), seed=int(cfg.run.seed))
    return FlowTracks(str(d.video), int(d.n_frames), int(d.frame_step), int(d.grid), str(d.tracker),
                      float(d.fb_threshold), max_side=int(cfg.model.resolution))


class PovData(TrainData):
    def __init__(self, cfg: Any, progress: Progress | None = None) -> None:
        self.cfg = cfg
        self.source = build_source(cfg)
        self.n_points = int(cfg.data.points_per_clip)
        if progress is not None:
            progress.start(len(self.source), "preparing 3DPoV clips")
        self.clips = []
        for i in range(len(self.source)):
            self.clips.append(self.source.clip(i))  # rendered / tracked once, then cached on disk
            if progress is not None:
                progress.step()
        self.items = [i for i, c in enumerate(self.clips) if np.any(c.visibility[:, 0] & c.visibility[:, 1:].any(1))]
        if not self.items:
            raise DatasetError(f"3DPoV: no clip of {self.source.name} tracks has a point visible on frame 0 and later")

    def __len__(self) -> int:
        return len(self.items)

    def sample(self, index: int, rng: np.random.Generator) -> dict[str, Any]:
        clip = self.clips[self.items[index]]
        usable = np.nonzero(clip.visibility[:, 0] & clip.visibility[:, 1:].any(1))[0]
        pick = np.sort(rng.choice(usable, size=min(self.n_points, len(usable)), replace=False))
        pos = np.nan_to_num(clip.positions[pick], nan=0.0)
        frames = torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 255.0
        return {"frames": frames, "positions": torch.as_tensor(pos, dtype=torch.float32),
                "visibility": torch.as_tensor(clip.visibility[pick]), "rng": rng, "name": clip.name}
