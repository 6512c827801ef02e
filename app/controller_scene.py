"""The 3-D scene controller: feature point clouds, sphere maps, tracks and meshes in the 3-D view.

The VisPy view is created the first time the 3-D tab is shown (``make_view()``, given by the main
controller), so the app's cold start does not pay for an OpenGL context; whatever the session holds
is pushed to it then. Its interface is :class:`SceneViewLike` (a mock in the headless tests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

import numpy as np

from corrviz.core.errors import Cancelled, CorrvizError, MeshError
from corrviz.core.session_3d import load_mesh_arrays, sphere_points

from .context import AppContext
from .controller_video import track_color
from .render_state import highlight_cells

MESH_SUFFIXES = (".obj", ".ply", ".stl", ".off", ".glb", ".gltf", ".npz")


class SceneViewLike(Protocol):
    """What the scene controller needs of :class:`corrviz.app.widgets.view3d.View3D`."""

    sigPointPicked: Any  # (image, row, col) of a feature cell

    def set_point_clouds(self, points: Any, colors: Any, cells: Any, names: list[str] | None = None) -> None: ...
    def set_sphere_points(self, points: Any, colors: Any, cells: Any, note: str = "") -> None: ...
    def set_highlight(self, *cells: Any) -> None: ...
    def set_tracks(self, curves: Any, colors: Any = None, size: Any = None) -> None: ...
    def set_mesh(self, vertices: Any, faces: Any, colors: Any = None, note: str = "", up: Any = None,
                 reset_camera: bool = False) -> None: ...
    def set_mode(self, mode: str) -> None: ...
    def close_canvas(self) -> None: ...


class SceneController:
    """``make_view()`` builds the 3-D view (and puts it into the window); ``click_point(image, x, y)``
    is the pair controller's, for a cell picked in 3-D."""

    def __init__(self, ctx: AppContext, make_view: Callable[[], SceneViewLike],
                 click_point: Callable[[int, float, float], None] = lambda *_a: None) -> None:
        self.ctx, self.session, self.runner = ctx, ctx.session, ctx.runner
        self.make_view, self.click_point = make_view, click_point
        self.view: SceneViewLike | None = None
        self._mesh_shown: str | None = None  # path of the mesh the 3-D camera was last framed on
        s = self.session
        s.sigFeaturesChanged.connect(self._update_points)
        s.sigSphereChanged.connect(self._update_points)
        s.sigSelectionChanged.connect(lambda _i: self._update_highlight())
        s.sigMatchesChanged.connect(self._update_highlight)
        s.sigTrackChanged.connect(self._on_track)
        s.sigMeshChanged.connect(self._on_mesh)
        s.sigOptionsChanged.connect(self._on_options)

    def ensure_view(self) -> SceneViewLike:
        if self.view is None:
            self.view = self.make_view()
            self.view.sigPointPicked.connect(self._on_pick)
            self._update_points()
            self._on_track()
            self._on_mesh()
        return self.view

    # -- features, sphere, highlight --------------------------------------------------------------------
    def _update_points(self) -> None:
        if self.view is None:
            return
        f = self.session.features
        if f is None:
            self.view.set_point_clouds(None, None, None)
        else:
            self.view.set_point_clouds(f.points3d, f.colors3d, f.cells3d, [im.name for im in self.session.images])
        self._update_sphere()
        self._update_highlight()

    def _update_sphere(self) -> None:
        """Real sphere points (sphere mapper) coloured like the joint PCA, or the labelled placeholder."""
        s, f = self.session, self.session.features
        if s.sphere_checkpoint is None or f is None:
            self.view.set_sphere_points(None, None, None)
            return
        maps = s.sphere_maps
        if maps is None:
            self.view.set_sphere_points(None, None, None, "Extracting sphere maps…")
            return
        if [m.grid_shape for m in maps] != [m.grid_shape for m in f.maps]:
            self.view.set_sphere_points(None, None, None, "Sphere maps and features are on different grids; "
                                        "the placeholder is shown.")
            return
        from corrviz.core.sph import mapper_label  # imports torch: not at window start

        note = (f"{mapper_label(s.sphere_checkpoint)}: sphere points of {sum(len(c) for c in f.cells3d)} cells, "
                "coloured by the joint PCA of the features.")
        self.view.set_sphere_points(sphere_points(maps, f.cells3d), f.colors3d, f.cells3d, note)

    def _update_highlight(self) -> None:
        if self.view is not None:
            self.view.set_highlight(*highlight_cells(self.session))

    def _on_pick(self, image: int, row: int, col: int) -> None:
        f = self.session.features
        if f is None or image >= len(f.maps):
            return
        x, y = f.maps[image].transform.cell_to_image(np.array([row, col], float))
        self.click_point(image, float(x), float(y))
        self.ctx.show_status(f"Picked cell ({row}, {col}) of image {image + 1} in 3-D")

    # -- tracks -------------------------------------------------------------------------------------
    def _on_track(self) -> None:
        if self.view is None:
            return
        s, t = self.session, self.session.track
        if t is None or s.video is None:
            self.view.set_tracks(None)
            return
        self.view.set_tracks([t.curve(k) for k in range(t.num_points)], [track_color(k) for k in range(t.num_points)],
                             s.video.size)

    # -- mesh ---------------------------------------------------------------------------------------
    def open_mesh(self, path: str, show: bool = True) -> None:
        """Load a mesh and colour it by the current backbone's features (off the GUI thread).

        ``show``: switch to the 3-D mesh view when done (False when only recolouring).
        """
        def done(arrays, _sec: float) -> None:
            self.session.set_mesh(path, arrays)
            if show:
                self.ctx.show_tab("3d")
                self.ensure_view().set_mode("mesh")

        options = self.session.options

        def job(progress):
            try:
                return load_mesh_arrays(path, options, progress=progress)
            except (MeshError, Cancelled):
                raise
            except CorrvizError as exc:  # features unavailable (e.g. no weights): show the plain mesh
                arrays = load_mesh_arrays(path)
                arrays.note, arrays.options = f"No {options.backbone} feature colours: {exc}", options
                return arrays

        self.runner.submit("mesh", job, on_result=done,
                           on_error=lambda e: self.ctx.report_error(e, "Cannot open mesh"))

    def _on_options(self, options: Any) -> None:
        m = self.session.mesh
        if m is not None and self.session.mesh_path and m.options != options:
            self.recolor_mesh()

    def recolor_mesh(self) -> None:
        """The options changed: drop the old colours at once (they belong to other features) and recompute."""
        s, m = self.session, self.session.mesh
        grey = replace(m, vertex_colors=None, options=None,
                       note=f"Computing vertex colours from {s.options.backbone} features…")
        s.set_mesh(s.mesh_path, grey)
        self.open_mesh(s.mesh_path, show=False)

    def _on_mesh(self) -> None:
        if self.view is None:
            return
        m, path = self.session.mesh, self.session.mesh_path
        if m is None:
            self.view.set_mesh(None, None)
        else:
            new = path != self._mesh_shown  # a recolouring keeps the user's camera and up axis
            self.view.set_mesh(m.vertices, m.faces, m.vertex_colors, m.note, up=m.up if new else None,
                               reset_camera=new)
        self._mesh_shown = path if m is not None else None

    def close(self) -> None:
        if self.view is not None:
            self.view.close_canvas()
