"""3-D view (VisPy): PCA point clouds, sphere maps, (x, y, t) track curves and meshes.

Sphere mode shows the real sphere points of a sphere-mapper checkpoint when the controller gives
them (:meth:`View3D.set_sphere_points`), otherwise a clearly labelled placeholder (the 3-D PCA of
the features pushed onto the unit sphere).

Every layer is given ready-made arrays by the controller. Clicking near a point emits
``sigPointPicked(image, row, col)`` (a feature cell of an image) so the controller can select it in
2-D; :meth:`View3D.set_highlight` marks cells selected in 2-D.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

MODES = {"points": "PCA point clouds", "sphere": "Sphere", "tracks": "Video tracks (x, y, t)",
         "mesh": "Mesh (PCA colours)"}
# Which model axis points up on screen. glTF is +Y up by specification, and so are most OBJ/PLY
# scans (bunny, cow, teapot); CAD exports (STL) are usually +Z up. Rotation (degrees, axis) that
# takes the axis to the turntable camera's +Z.
UP_AXES = {"+y": ("+Y up", 90.0, (1, 0, 0)), "+z": ("+Z up", 0.0, (1, 0, 0)),
           "-y": ("-Y up", -90.0, (1, 0, 0)), "-z": ("-Z up", 180.0, (1, 0, 0)),
           "+x": ("+X up", 90.0, (0, -1, 0))}
MESH_CAMERA = {"distance": 2.3, "elevation": 20.0, "azimuth": 145.0}  # three-quarter front of a glTF (+Z front)
# Direction the key light travels, in the camera frame (x right, y up, z towards the viewer): from
# above, left of and behind the viewer, so the seen side is always lit (a headlight, as in MeshLab).
LIGHT_CAMERA_DIR = (0.4, -0.55, -1.0, 0.0)
SPHERE_STYLE = "background: #123a52; color: #cfeaff; padding: 4px; font-weight: bold;"
PLACEHOLDER_STYLE = "background: #5a4a10; color: #ffe9a0; padding: 4px; font-weight: bold;"
SPHERE_PLACEHOLDER = ("PLACEHOLDER: 3-D PCA of the features projected onto the unit sphere. "
                      "This is not a trained sphere mapper; load a sphere-mapper checkpoint for real spherical maps.")


def load_triton_before_opengl() -> None:
    """Import torch._dynamo (which imports Triton, if installed) before the first OpenGL context.

    Mesa's OpenGL drivers (llvmpipe under Xvfb, radeonsi) load their LLVM with the first context;
    Triton, imported later through timm / torchvision -> torch._dynamo, then segfaults loading its
    own LLVM (seen under Xvfb: open the 3-D view, then pick a ViT backbone). The other order is safe.
    """
    try:
        import torch._dynamo  # noqa: F401
    except Exception:  # noqa: BLE001  (no torch / no dynamo: nothing to protect)
        pass


class View3D(QWidget):
    sigPointPicked = pyqtSignal(int, int, int)  # image, row, col
    sigModeChanged = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        load_triton_before_opengl()
        import vispy

        vispy.use("pyqt6")
        from vispy import scene

        self._scene = scene
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 4, 6, 0)
        self.mode = QComboBox()
        for key, label in MODES.items():
            self.mode.addItem(label, key)
        bar.addWidget(QLabel("Show"))
        bar.addWidget(self.mode)
        self.up_label = QLabel("Up")
        self.up = QComboBox()
        for key, (label, _a, _x) in UP_AXES.items():
            self.up.addItem(label, key)
        self.up.setToolTip("The mesh axis that points up on screen (glTF files are +Y up).")
        bar.addWidget(self.up_label)
        bar.addWidget(self.up)
        bar.addStretch(1)
        lay.addLayout(bar)
        self.banner = QLabel("")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(PLACEHOLDER_STYLE)
        self.banner.setVisible(False)
        lay.addWidget(self.banner)
        self.canvas = scene.SceneCanvas(keys=None, show=False, bgcolor=(0.10, 0.10, 0.12, 1.0))
        self.view = self.canvas.central_widget.add_view()
        self.view.camera = scene.cameras.TurntableCamera(fov=40, distance=4.0, elevation=25, azimuth=40)
        self.info = QLabel("")
        self.info.setStyleSheet("color: #444; padding: 2px 6px;")
        lay.addWidget(self.canvas.native, 1)
        lay.addWidget(self.info)
        self._clouds: list = []  # Markers per image
        self._cloud_cells: list[np.ndarray] = []
        self._cloud_pos: list[np.ndarray] = []
        self._highlight = scene.visuals.Markers(parent=self.view.scene)
        self._highlight.set_gl_state("translucent", depth_test=False)
        self._sphere = scene.visuals.Sphere(radius=0.99, method="latitude", rows=18, cols=36,
                                            color=(0.35, 0.35, 0.45, 0.25), edge_color=(0.6, 0.6, 0.7, 0.35),
                                            parent=self.view.scene)
        self._tracks: list = []
        # (a placeholder triangle: the shading filter needs mesh data to accept its settings)
        self._mesh = scene.visuals.Mesh(vertices=np.eye(3, dtype=np.float32), faces=np.array([[0, 1, 2]], np.uint32),
                                        parent=self.view.scene, shading="smooth")
        self._mesh.visible = False
        sf = self._mesh.shading_filter
        sf.ambient_light = (1, 1, 1, 0.38)
        sf.diffuse_light = (1, 1, 1, 0.75)
        sf.specular_light = (1, 1, 1, 0.12)
        sf.shininess = 24
        self._mesh.transform = scene.transforms.MatrixTransform()
        self._axis = scene.visuals.XYZAxis(parent=self.view.scene)
        self._data: dict = {"points": None, "sphere": None, "tracks": None, "mesh": None}
        self._sphere_note = ""
        self._press = None
        self._highlight_req: tuple[list, list] = ([], [])
        self.canvas.events.mouse_press.connect(self._on_press)
        self.canvas.events.mouse_release.connect(self._on_release)
        self.view.scene.transform.changed.connect(self._follow_light)
        self._follow_light()
        self.mode.currentIndexChanged.connect(self._on_mode)
        self.up.currentIndexChanged.connect(lambda _i: self._orient_mesh())
        self._on_mode(0)

    # -- data ---------------------------------------------------------------------------------------
    def current_mode(self) -> str:
        return str(self.mode.currentData())

    def set_mode(self, mode: str) -> None:
        self.mode.setCurrentIndex(max(0, self.mode.findData(mode)))

    def set_point_clouds(self, points: list[np.ndarray] | None, colors: list[np.ndarray] | None,
                         cells: list[np.ndarray] | None, names: list[str] | None = None) -> None:
        self._data["points"] = None if points is None else (points, colors, cells, names or [])
        self._redraw()

    def set_sphere_points(self, points: list[np.ndarray] | None, colors: list[np.ndarray] | None,
                          cells: list[np.ndarray] | None, note: str = "") -> None:
        """Unit sphere points per image (from a sphere mapper); ``None`` shows the placeholder."""
        self._data["sphere"] = None if points is None else (points, colors, cells)
        self._sphere_note = note
        self._redraw()

    def has_real_sphere(self) -> bool:
        return self._data["sphere"] is not None

    def set_tracks(self, curves: list[np.ndarray] | None, colors: list[tuple[int, int, int]] | None = None,
                   frame_size: tuple[int, int] = (1, 1)) -> None:
        self._data["tracks"] = None if not curves else (curves, colors or [], frame_size)
        self._redraw()

    def set_mesh(self, vertices: np.ndarray | None, faces: np.ndarray | None,
                 vertex_colors: np.ndarray | None = None, note: str = "", up: str | None = None,
                 reset_camera: bool = True) -> None:
        """Show a mesh (lit); ``up`` is the model axis drawn upwards (a key of ``UP_AXES``)."""
        self._data["mesh"] = None if vertices is None else (vertices, faces, vertex_colors, note)
        if up is not None:
            self.up.blockSignals(True)
            self.up.setCurrentIndex(max(0, self.up.findData(up)))
            self.up.blockSignals(False)
        self._orient_mesh(redraw=False)
        if reset_camera and vertices is not None and self.current_mode() == "mesh":
            self.reset_mesh_camera()
        self._redraw()

    def up_axis(self) -> str:
        return str(self.up.currentData())

    def reset_mesh_camera(self) -> None:
        cam = self.view.camera
        cam.center = (0.0, 0.0, 0.0)
        cam.distance, cam.elevation, cam.azimuth = (MESH_CAMERA[k] for k in ("distance", "elevation", "azimuth"))

    def set_highlight(self, cells: list[tuple[int, int, int]], colors: list[tuple[int, int, int]]) -> None:
        """Mark feature cells (image, row, col) in the point-cloud / sphere modes."""
        self._highlight_req = (cells, colors)
        self._apply_highlight()

    # -- drawing ------------------------------------------------------------------------------------
    def _on_mode(self, _index: int) -> None:
        mesh = self.current_mode() == "mesh"
        self.up.setVisible(mesh)
        self.up_label.setVisible(mesh)
        if mesh and self._data["mesh"] is not None:
            self.reset_mesh_camera()
        self._redraw()
        self.sigModeChanged.emit(self.current_mode())

    def _positions(self, pts: np.ndarray, sphere: bool, scale: float) -> np.ndarray:
        p = np.asarray(pts, dtype=np.float32)
        if sphere:
            return p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-6)
        return p / scale

    def _redraw(self) -> None:
        mode = self.current_mode()
        scene = self._scene
        for m in self._clouds:
            m.parent = None
        for t in self._tracks:
            t.parent = None
        self._clouds, self._cloud_cells, self._cloud_pos, self._tracks = [], [], [], []
        self._sphere.visible = mode == "sphere"
        self._mesh.visible = False
        self._axis.visible = mode != "mesh"  # the axis lines would run through the mesh
        real = self._data["sphere"] is not None
        self.banner.setVisible(mode == "sphere")
        self.banner.setStyleSheet(SPHERE_STYLE if real else PLACEHOLDER_STYLE)
        self.banner.setText(("SPHERE MAPPER: " + self._sphere_note) if real else
                            SPHERE_PLACEHOLDER + (f" ({self._sphere_note})" if self._sphere_note else ""))
        info = ""
        if mode in ("points", "sphere"):
            data = self._data["points"]
            if data is None:
                info = "No features yet: open images and wait for extraction."
            else:
                points, colors, cells, names = data
                if mode == "sphere" and real:
                    points, colors, cells = self._data["sphere"]
                label = self._draw_clouds(points, colors, cells, names, mode == "sphere")
                space = "on the unit sphere" if mode == "sphere" else "in joint 3-D PCA space"
                info = (f"{sum(len(p) for p in points)} feature cells {space}; {label}. "
                        "Click a point to select it in 2-D.")
            self.view.camera.center = (0, 0, 0)
        elif mode == "tracks":
            data = self._data["tracks"]
            if data is None:
                info = "No track: open a video (File > Open video) and click a point on a frame."
            else:
                curves, colors, (w, h) = data
                n_frames = max(len(c) for c in curves)
                s = np.array([2.0 / max(w, h), -2.0 / max(w, h), 2.0 / max(n_frames - 1, 1)], np.float32)
                for k, c in enumerate(curves):
                    xyz = (np.asarray(c, np.float32) - np.array([w / 2, h / 2, 0], np.float32)) * s - [0, 0, 1]
                    rgb = np.array(colors[k] if k < len(colors) else (255, 200, 0)) / 255.0
                    line = scene.visuals.Line(xyz, color=(*rgb, 1.0), width=3, parent=self.view.scene)
                    self._tracks.append(line)
                info = f"{len(curves)} track(s) over {n_frames} frames; x, y = image position, vertical = time."
        elif mode == "mesh":
            data = self._data["mesh"]
            if data is None:
                info = "No mesh: open one with File > Open mesh."
            else:
                v, f, vc, note = data
                colors = None if vc is None else np.c_[np.asarray(vc, np.float32), np.ones(len(vc), np.float32)]
                self._mesh.set_data(vertices=np.asarray(v, np.float32), faces=np.asarray(f, np.uint32),
                                    vertex_colors=colors, color=(0.7, 0.7, 0.7, 1.0))
                self._mesh.visible = True
                info = f"{len(v)} vertices, {len(f)} faces. {note}"
        self.info.setText(info)
        self._apply_highlight()
        self.canvas.update()

    def _draw_clouds(self, points: list[np.ndarray], colors: list[np.ndarray], cells: list[np.ndarray],
                     names: list[str], on_sphere: bool) -> str:
        """One Markers visual per image; returns the legend (symbol = image name)."""
        allp = np.concatenate([p for p in points if len(p)]) if any(len(p) for p in points) else np.zeros((1, 3))
        scale = float(np.percentile(np.abs(allp), 99)) or 1.0
        symbols = ("disc", "square", "triangle_up", "diamond", "star", "cross")
        for k, (p, c, rc) in enumerate(zip(points, colors, cells, strict=True)):
            pos = self._positions(p, on_sphere, scale)
            m = self._scene.visuals.Markers(parent=self.view.scene)
            m.set_data(pos, face_color=np.c_[c, np.ones(len(c))], edge_width=0, size=6,
                       symbol=symbols[k % len(symbols)])
            if on_sphere:  # the translucent shell must not hide the points on its far side
                m.set_gl_state("translucent", depth_test=False)
            self._clouds.append(m)
            self._cloud_cells.append(rc)
            self._cloud_pos.append(pos)
        return ", ".join(f"{symbols[k % len(symbols)]} = {n}" for k, n in enumerate(names))

    def _apply_highlight(self) -> None:
        req = self._highlight_req
        pos, cols = [], []
        if self.current_mode() in ("points", "sphere"):
            for (img, r, c), rgb in zip(*req, strict=True):
                if img >= len(self._cloud_cells):
                    continue
                hit = np.flatnonzero((self._cloud_cells[img][:, 0] == r) & (self._cloud_cells[img][:, 1] == c))
                if len(hit):
                    pos.append(self._cloud_pos[img][hit[0]])
                    cols.append((*(np.array(rgb) / 255.0), 1.0))
        if pos:
            self._highlight.set_data(np.array(pos, np.float32), face_color=np.array(cols), edge_color="white",
                                     edge_width=2, size=18, symbol="ring")
            self._highlight.visible = True
        else:
            self._highlight.visible = False
        self.canvas.update()

    def _orient_mesh(self, redraw: bool = True) -> None:
        _label, angle, axis = UP_AXES[self.up_axis()]
        tr = self._mesh.transform
        tr.reset()
        tr.rotate(angle, axis)
        if redraw:
            self.canvas.update()

    def _follow_light(self, _event=None) -> None:
        """Keep the key light fixed relative to the camera, so whatever side is seen is lit."""
        light = self.view.camera.transform.map(np.array(LIGHT_CAMERA_DIR, np.float32))[:3]
        self._mesh.shading_filter.light_dir = light / max(float(np.linalg.norm(light)), 1e-9)

    # -- picking ------------------------------------------------------------------------------------
    def _on_press(self, event) -> None:
        self._press = np.asarray(event.pos[:2], float)

    def _on_release(self, event) -> None:
        if self._press is None or event.button != 1:
            return
        moved = float(np.linalg.norm(np.asarray(event.pos[:2], float) - self._press))
        self._press = None
        if moved <= 4.0:
            self.pick_at(float(event.pos[0]), float(event.pos[1]))

    def pick_at(self, x: float, y: float, radius: float = 10.0) -> tuple[int, int, int] | None:
        """Pick the cloud point nearest to canvas pixel (x, y); emit ``sigPointPicked``."""
        best = (radius, None)
        for k, (m, pos) in enumerate(zip(self._clouds, self._cloud_pos, strict=True)):
            if not len(pos):
                continue
            screen = m.get_transform("visual", "canvas").map(pos)
            xy = screen[:, :2] / screen[:, 3:4]
            d = np.hypot(xy[:, 0] - x, xy[:, 1] - y)
            i = int(d.argmin())
            if d[i] < best[0]:
                best = (float(d[i]), (k, int(self._cloud_cells[k][i, 0]), int(self._cloud_cells[k][i, 1])))
        if best[1] is not None:
            self.sigPointPicked.emit(*best[1])
        return best[1]

    def snapshot(self) -> np.ndarray:
        """The rendered canvas as an RGBA uint8 array (H, W, 4)."""
        return np.asarray(self.canvas.render(alpha=False))

    def close_canvas(self) -> None:
        self.canvas.close()
