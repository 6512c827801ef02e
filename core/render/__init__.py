"""Multi-view rendering with exact ground truth (depth, object coordinates, correspondences).

Renderer choice: Open3D's ``RaycastingScene`` (Embree ray casting on the CPU). It is exact
(one ray through each pixel centre gives the precise triangle, barycentric coordinates and
ray distance, so depth, object-space coordinates and face ids are ground truth rather than
read back from a z-buffer), headless (no display, no OpenGL/EGL context, no GPU), deterministic,
and fast enough: a 42-view 512 px set of a 10k-triangle mesh renders in a few seconds on two
cores. Shading (UV textures, vertex colours, Lambertian + ambient with a few world-space lights)
is computed in vectorised numpy from the hits. Open3D's GL/filament offscreen renderer is not
used: it needs a GL/EGL context that headless machines often lack, and its depth buffer is
quantised. It could only add nicer shading, which correspondence ground truth does not need.

Public API:

* :func:`load_mesh` -- read OBJ/MTL/texture, PLY, STL, OFF, GLB/glTF; normalise to unit extent.
* :func:`render_views` -- a view sphere (42 icosphere views, distance 2, focal 560 px at 512 px).
* :func:`render_poses` -- explicit camera poses, e.g. :func:`orbit_poses`, :func:`arc_poses`,
  :func:`handheld_poses` for video sequences; tracks via :meth:`ViewSet.point_tracks`.
* :class:`ViewSet` / :class:`View` -- per view RGB, z-depth, mask, xyz, face ids, K, world_to_cam;
  :meth:`ViewSet.correspondence` and :meth:`ViewSet.surface_distance`.
* :func:`write_view_set` / :func:`load_view_set` -- the on-disk layout (see :mod:`.storage`).
"""

from .cameras import (
    CAMERA_PATHS,
    arc_poses,
    camera_path,
    handheld_poses,
    intrinsics,
    look_at,
    orbit_poses,
    project,
    sphere_poses,
    view_directions,
)
from .correspondence import PointTracks
from .mesh import Mesh, load_mesh, load_mesh_npz, normalize_mesh, save_mesh_npz, validate_mesh
from .raycast import Raycaster, render_poses, render_views
from .shading import Lighting
from .storage import load_point_tracks, load_view_set, write_point_tracks, write_view_set
from .viewset import View, ViewSet

__all__ = [
    "CAMERA_PATHS", "Lighting", "Mesh", "PointTracks", "Raycaster", "View", "ViewSet", "arc_poses",
    "camera_path", "handheld_poses", "intrinsics", "load_mesh", "load_mesh_npz", "load_point_tracks",
    "load_view_set", "look_at", "normalize_mesh", "orbit_poses", "project", "render_poses", "render_views",
    "save_mesh_npz", "sphere_poses", "validate_mesh", "view_directions", "write_point_tracks",
    "write_view_set",
]
