"""Save main-window screenshots of each view: ``python scripts/screenshots.py OUTDIR`` (use xvfb-run).

2-D matches (with the colour bar and the layer list), PCA overlay, a grid of six images of mixed
sizes (and its exported figure), 3-D point clouds, the sphere placeholder, a video track (2-D and 3-D), a
mesh coloured by PCA, the real-sphere view of a sphere-mapper checkpoint and the evaluation tab,
on built-in data (the demo pair, a panned astronaut video with two tracks) and the shared data (the
Cesium milk truck, lit and upright; a ball mesh when absent) and, for the evaluation,
PF-WILLOW from the shared data when present. The sphere mapper is a RANDOM-INIT checkpoint made
here for the picture (its file name says so); it is not a trained model.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np


def wait_until(app, cond, timeout: float = 120.0) -> None:
    t0 = time.perf_counter()
    while not cond():
        app.processEvents()
        time.sleep(0.01)
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError("timed out waiting for the app")


def settle(app, seconds: float = 0.4) -> None:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        app.processEvents()
        time.sleep(0.01)


def write_pan_video(path: Path, n_frames: int = 24, shift: int = 4) -> None:
    import cv2
    from skimage import data

    a = data.astronaut()
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 12, (256, 256))
    for k in range(n_frames):
        w.write(cv2.cvtColor(np.ascontiguousarray(a[100:356, 100 + shift * k: 356 + shift * k]), cv2.COLOR_RGB2BGR))
    w.release()


def write_mesh(path: Path) -> None:
    import open3d as o3d

    mesh = o3d.geometry.TriangleMesh.create_sphere(radius=0.5, resolution=24)
    mesh.compute_vertex_normals()
    v = np.asarray(mesh.vertices)
    mesh.vertex_colors = o3d.utility.Vector3dVector(0.5 + 0.5 * np.sin(6 * v))
    o3d.io.write_triangle_mesh(str(path), mesh)


def write_random_sphere_mapper(path: Path, backbone: str = "test_dinov2_tiny") -> Path:
    """An untrained (random-init) sphere-mapper checkpoint: shows the view, not a result."""
    from corrviz.core.backbones import create_backbone
    from corrviz.core.checkpoint import save_checkpoint
    from corrviz.core.heads import AdaptedBackbone

    bb = create_backbone(backbone)
    model = AdaptedBackbone(bb, [{"type": "sphere_mapper", "channels": bb.feature_dim(), "heads": 2}])
    return save_checkpoint(path, model, "sph-random-init", config={"note": "random init, untrained (screenshots)"})


def write_mixed_images(folder: Path) -> list[Path]:
    """Six photos of very different sizes (300x200 up to 2400x1600), for the 2-D grid shot."""
    import cv2
    from skimage import data

    from corrviz.core.io import save_image

    coffee = data.coffee()
    images = {"astronaut_crop": data.astronaut()[40:240, 120:420], "chelsea": data.chelsea(), "coffee": coffee,
              "rocket": data.rocket(), "astronaut": data.astronaut(),
              "coffee_large": cv2.resize(coffee, (2400, 1600), interpolation=cv2.INTER_CUBIC)}
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, (name, rgb) in enumerate(images.items()):
        paths.append(folder / f"{k}_{name}.png")
        save_image(paths[-1], np.ascontiguousarray(rgb))
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--size", default="1400x860", help="window size WxH")
    ap.add_argument("--quick", action="store_true", help="skip the video, mesh and evaluation shots (tests)")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"),
                    help="shared data root holding PF-WILLOW (evaluation shot)")
    args = ap.parse_args(argv)
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="corrviz_shots_"))
    import os

    os.environ.setdefault("CORRVIZ_CONFIG_DIR", str(tmp / "config"))
    from corrviz.app.main import create_app
    from corrviz.app.main_window import TAB_2D, TAB_3D, TAB_EVAL

    app, c = create_app()
    w, h = (int(v) for v in args.size.split("x"))
    c.window.resize(w, h)
    c.window.show()
    c.start()
    c.open_demo()
    wait_until(app, lambda: c.session.features is not None and c._registry_loaded)
    saved = []

    def shot(name: str) -> None:
        settle(app)
        p = out / f"{name}.png"
        c.window.grab().save(str(p))
        saved.append(p)

    for x, y in ((200.0, 150.0), (150.0, 200.0), (350.0, 200.0)):
        c.pair.click_point(0, x, y)
    wait_until(app, lambda: c.session.matches is not None and len(c.session.matches.matches) == 3)
    shot("01_2d_matches")
    c.session.clear_points()
    c.session.set_overlay(opacity=0.85)
    shot("02_pca_overlay")
    c.session.set_overlay(opacity=0.3)
    c.pair.click_point(0, 200.0, 150.0)
    wait_until(app, lambda: c.session.matches is not None)
    c.window.tabs.setCurrentIndex(TAB_3D)
    c.scene.view.set_mode("points")
    shot("03_3d_point_cloud")
    c.scene.view.set_mode("sphere")
    shot("04_3d_sphere_placeholder")
    if not args.quick:
        video = tmp / "pan.avi"
        write_pan_video(video)
        c.window.video_view.step.setValue(1)
        c.open_paths([str(video)])
        wait_until(app, lambda: c.session.video_maps is not None)
        c.session.set_frame(4)
        c.video.track_point(148.0, 90.0)
        wait_until(app, lambda: c.session.track is not None and not c.runner.busy("track"))
        c.video.track_point(60.0, 200.0)  # reaches the left border at frame 19; flagged once its descriptor is cut
        wait_until(app, lambda: c.session.track is not None and c.session.track.num_points == 2
                   and not c.runner.busy("track"))
        c.session.set_frame(16)
        shot("05_video_two_tracks")
        c.window.tabs.setCurrentIndex(TAB_3D)
        c.scene.view.set_mode("tracks")
        shot("06_3d_tracks")
        mesh = Path(args.data) / "meshes" / "cesium_milk_truck" / "CesiumMilkTruck.glb"
        if not mesh.is_file():
            mesh = tmp / "ball.ply"
            write_mesh(mesh)
        c.open_paths([str(mesh)])
        wait_until(app, lambda: c.session.mesh is not None and not c.runner.busy("mesh"), 300)
        shot("07_3d_mesh_pca")
        c.session.set_mesh(None, None)  # not recoloured for the backbones below
    # A sphere mapper (random init, for the picture) on the tiny test ViT: the real-sphere 3-D view.
    c.window.tabs.setCurrentIndex(TAB_2D)
    c.session.set_options(replace(c.session.options, backbone="test_dinov2_tiny", resolution=224, checkpoint=None))
    wait_until(app, lambda: c.session.features is not None and c.session.features.maps[0].backbone == "test_dinov2_tiny")
    c.checkpoints.set_sphere_checkpoint(str(write_random_sphere_mapper(tmp / "sphere_mapper_random_init.safetensors")))
    wait_until(app, lambda: c.session.sphere_maps is not None)
    c.session.set_points([])
    c.pair.click_point(0, 200.0, 150.0)
    wait_until(app, lambda: c.session.matches is not None)
    c.window.tabs.setCurrentIndex(TAB_3D)
    c.scene.view.set_mode("sphere")
    shot("08_3d_sphere_mapper")
    willow = Path(args.data) / "PF-WILLOW"
    if not args.quick and willow.is_dir():
        c.checkpoints.set_sphere_checkpoint(None)
        c.session.set_options(replace(c.session.options, backbone="dense_sift", resolution=None))
        c.window.tabs.setCurrentIndex(TAB_EVAL)
        c.window.eval_panel.set_values("pfwillow", str(Path(args.data)), "soft-argmax", 40)
        c.eval.run_evaluation()
        wait_until(app, lambda: c.session.evaluation is not None and c.session.evaluation.state != "running", 300)
        shot("09_evaluation")
    # Many images of mixed sizes: drawn at comparable size on a grid, lines routed between the cells.
    c.checkpoints.set_sphere_checkpoint(None)
    c.window.tabs.setCurrentIndex(TAB_2D)
    c.session.set_options(replace(c.session.options, backbone="dense_sift", resolution=None))
    c.open_paths([str(p) for p in write_mixed_images(tmp / "mixed")])
    wait_until(app, lambda: len(c.session.images) == 6 and c.session.features is not None
               and c.session.features.maps[0].backbone == "dense_sift", 300)
    c.pair.click_point(0, 150.0, 100.0)
    wait_until(app, lambda: c.session.matches is not None and len(c.session.matches.matches) == 5)
    shot("10_2d_grid")
    if not args.quick:
        fig = out / "11_2d_grid_figure.png"
        c.figure.export_figure(fig, dpi=110)
        saved.append(fig)
    c.window.tabs.setCurrentIndex(TAB_2D)
    c.shutdown()
    c.window.close()
    for p in saved:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
