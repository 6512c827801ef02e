"""Point-track sources behind one interface: a clip of frames with tracked positions and visibility.

3DPoV (method spec section 2) learns from point tracks on videos; the app's video view shows them.
A :class:`TrackSource` is an indexable collection of :class:`TrackClip` s. Implementations:

* :class:`~corrviz.core.track_sources.rendered.RenderedTracks`: exact ground-truth tracks from
  corrviz's renderer along smooth camera paths around procedural objects (orbit, zoom, elevation
  change); visibility from the depth test.
* :class:`~corrviz.core.track_sources.flow.FlowTracks`: OpenCV optical flow (pyramidal Lucas-Kanade
  or DIS) chained frame to frame over real video frames, with a forward-backward consistency check
  for visibility.

Every clip starts a ``grid x grid`` lattice on frame 0 (16 x 16 by default) and holds ``n_frames``
frames taken ``frame_step`` apart (4 and 4 by default). Clips are cached per clip under
``$CORRVIZ_CACHE/tracks`` (a compressed npz keyed by the source and its parameters).
"""

from __future__ import annotations

from .base import TrackClip, TrackSource, load_clip, save_clip, track_cache_dir

__all__ = ["TrackClip", "TrackSource", "load_clip", "save_clip", "track_cache_dir"]
