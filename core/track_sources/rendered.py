"""Exact ground-truth point tracks from corrviz's renderer along smooth camera paths.

Each clip is a video of a procedural object seen by a camera moving smoothly around it: the azimuth
sweeps, the elevation drifts and the distance zooms, all eased with a smoothstep over the video's
``(n_frames - 1) * frame_step + 1`` frames, of which every ``frame_step``-th frame is rendered. Track
positions are the projections of the surface points under the frame-0 grid (ray casting, exact to
float precision), visibility the renderer's depth test (:meth:`ViewSet.point_tracks`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..render.cameras import look_at
from .base import TrackClip, TrackSource, cached_clip


@dataclass(frozen=True)
class PathRanges:
    """Ranges the random camera path of a clip is drawn from (degrees, distances in object units)."""

    sweep_deg: tuple[float, float] = (20.0, 120.0)      # |azimuth change| over the clip (random sign)
    elevation_deg: tuple[float, float] = (-10.0, 50.0)  # elevation at frame 0
    elevation_change_deg: float = 30.0                  # +- change over the clip
    distance: tuple[float, float] = (1.8, 2.6)          # camera distance at frame 0 and at the end


def smooth_path(n: int, rng: np.random.Generator, ranges: PathRanges = PathRanges()) -> np.ndarray:
    """(n, 4, 4) world-to-camera poses of one smooth random orbit / elevation / zoom path."""
    s = np.linspace(0.0, 1.0, n)
    s = s * s * (3.0 - 2.0 * s)  # smoothstep: zero velocity at both ends
    az0 = rng.uniform(0.0, 360.0)
    sweep = rng.uniform(*ranges.sweep_deg) * rng.choice([-1.0, 1.0])
    el0 = rng.uniform(*ranges.elevation_deg)
    el1 = float(np.clip(el0 + rng.uniform(-ranges.elevation_change_deg, ranges.elevation_change_deg), -60, 75))
    d0, d1 = rng.uniform(*ranges.distance, size=2)
    az = np.deg2rad(az0 + sweep * s)
    el = np.deg2rad(el0 + (el1 - el0) * s)
    dist = d0 + (d1 - d0) * s
    eyes = np.stack([dist * np.cos(el) * np.sin(az), dist * np.sin(el), dist * np.cos(el) * np.cos(az)], axis=1)
    return np.stack([look_at(e) for e in eyes])


class RenderedTracks(TrackSource):
    """Ground-truth tracks on rendered clips of procedural objects (see the module docstring).

    ``objects`` are (category, seed) pairs; each gets ``clips_per_object`` clips with their own path
    (deterministic in ``seed``, the object and the clip index).
    """

    name = "rendered"

    def __init__(self, objects: Sequence[tuple[str, int]], clips_per_object: int = 4, n_frames: int = 4,
                 frame_step: int = 4, grid: int = 16, resolution: int = 224, seed: int = 0,
                 ranges: PathRanges = PathRanges()) -> None:
        if n_frames < 2 or frame_step < 1 or grid < 1 or clips_per_object < 1:
            raise ValueError("rendered tracks need n_frames >= 2, frame_step >= 1, grid >= 1 and clips_per_object >= 1")
        self.objects = [(str(n), int(s)) for n, s in objects]
        self.clips_per_object = int(clips_per_object)
        self.n_frames, self.frame_step, self.grid = int(n_frames), int(frame_step), int(grid)
        self.resolution, self.seed, self.ranges = int(resolution), int(seed), ranges

    def __len__(self) -> int:
        return len(self.objects) * self.clips_per_object

    def poses(self, index: int) -> np.ndarray:
        """Poses of the rendered frames of clip ``index`` (every ``frame_step``-th frame of its path)."""
        o, c = divmod(index, self.clips_per_object)
        name, seed = self.objects[o]
        key = [self.seed, seed, c] + [ord(ch) for ch in name]
        rng = np.random.default_rng(key)
        full = smooth_path((self.n_frames - 1) * self.frame_step + 1, rng, self.ranges)
        return full[:: self.frame_step]

    def params(self, index: int) -> dict:
        from ..synthetic.objects import GENERATOR_VERSION

        o, c = divmod(index, self.clips_per_object)
        return {"source": self.name, "object": self.objects[o], "clip": c, "n_frames": self.n_frames,
                "frame_step": self.frame_step, "grid": self.grid, "resolution": self.resolution, "seed": self.seed,
                "ranges": self.ranges.__dict__, "generator": GENERATOR_VERSION}

    def render(self, index: int):  # noqa: ANN201 - ViewSet
        """The clip's rendered frames as a :class:`~corrviz.core.render.ViewSet` (cameras, depth, mesh)."""
        from ..render import render_poses
        from ..synthetic.dataset import make_object

        name, seed = self.objects[index // self.clips_per_object]
        return render_poses(make_object(name, seed), self.poses(index), resolution=self.resolution)

    def clip(self, index: int) -> TrackClip:
        if not 0 <= index < len(self):
            raise IndexError(f"clip {index} of {len(self)}")

        def build() -> TrackClip:
            vs = self.render(index)
            tr = vs.point_tracks(query_frame=0, grid=self.grid, region="object")
            pos = np.where(tr.on_object[:, None, None], tr.positions, np.nan)
            frames = np.stack([v.rgb for v in vs.views])
            name, seed = self.objects[index // self.clips_per_object]
            return TrackClip(f"{name}-s{seed}-c{index % self.clips_per_object}", frames, pos,
                             tr.visibility & tr.on_object[:, None], self.name,
                             {"rotation_deg": [vs.relative_rotation_deg(0, t) for t in range(len(vs.views))]})

        return cached_clip(self.params(index), build)
