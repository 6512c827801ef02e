"""Screenshots of method outputs in the app: ``xvfb-run -a python scripts/screenshots_methods.py OUTDIR``.

* ``diy_sc_labels.png``: a DIY-SC pseudo-label store on its first image pair (green label lines);
  ``--labels FILE`` (default results/diy_sc/trn_cycle+sphere.safetensors, from scripts/diy_sc_tiny.sh).
* ``vggt_sc_confidence.png``: a VGGT-SC grid-matcher checkpoint on a rendered pair of a held-out object,
  one clicked point matched by the flow and the confidence overlay on the target; ``--grid RUN`` (default
  results/runs/vggt_sc_tiny_stage4, from scripts/run_vggt_sc_tiny.sh), backbone vit_tiny_patch16_224
  (CORRVIZ_WEIGHTS=../shared/weights).
* ``training_midrun.png`` and ``before_after.png`` (``--training``): a short MEF run on ViT-Tiny/16 started
  from the Training panel (the shipped CPU preset with ``train.steps`` cut to ``--train-steps``), grabbed
  mid-run, then the before / after view the finished run opens on the Compare tab.
* ``eval_worst_pair.png`` (``--eval-pair``): PF-WILLOW (first ``--eval-limit`` pairs) with ViT-Tiny/16, the
  worst evaluated pair opened from the Evaluation tab with its ground truth and predictions.
* ``sph_sphere_3d.png`` (``--sph RUN``): a trained SPH sphere mapper's sphere points in the 3-D view.
* ``pov_tracks.png`` (``--pov RUN``): tracks on a DAVIS clip with a 3DPoV checkpoint's features.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screenshots import settle, wait_until  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="output folder")
    ap.add_argument("--labels", default="results/diy_sc/trn_cycle+sphere.safetensors")
    ap.add_argument("--pair", type=int, default=-1, help="which pair of the label store (-1: the one with most labels)")
    ap.add_argument("--grid", default="results/runs/vggt_sc_tiny_stage4")
    ap.add_argument("--training", action="store_true", help="a short MEF run from the Training panel")
    ap.add_argument("--train-steps", type=int, default=40)
    ap.add_argument("--eval-pair", action="store_true", help="the worst PF-WILLOW pair from the Evaluation tab")
    ap.add_argument("--eval-limit", type=int, default=20)
    ap.add_argument("--sph", default="", help="an SPH run folder (its sphere mapper in the 3-D view)")
    ap.add_argument("--pov", default="", help="a 3DPoV run folder (its features track points on a DAVIS clip)")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    import os

    os.environ.setdefault("CORRVIZ_CONFIG_DIR", tempfile.mkdtemp(prefix="corrviz_shots_"))
    from corrviz.app.main import create_app

    app, c = create_app()
    c.window.resize(1400, 860)
    c.window.show()
    saved = []
    c.start()
    wait_until(app, lambda: c._registry_loaded)
    if Path(a.labels).is_file():
        c.set_start_backbone("dense_sift")
        c.open_paths([a.labels])
        wait_until(app, lambda: c.labels.store is not None and c.window.pair_view.annotation_count()[0] > 0)
        pair = a.pair if a.pair >= 0 else max(range(len(c.labels.store.pairs)),
                                                   key=lambda k: len(c.labels.store.pairs[k].src_xy))
        if pair:
            c.labels.show(pair)
            wait_until(app, lambda: c.labels.index == pair)
        wait_until(app, lambda: c.session.features is not None and not c.runner.busy())
        settle(app, 1.0)
        p = out / "diy_sc_labels.png"
        c.window.grab().save(str(p))
        saved.append(p)
    if Path(a.grid).exists():
        from corrviz.core.io import save_image
        from corrviz.core.render import render_views
        from corrviz.core.synthetic import make_object
        from corrviz.training.trainer import init_checkpoint_file

        vs = render_views(make_object("mug", 0), n_views=42, resolution=224)
        i, j = vs.view_pairs(45.0)[3]
        paths = []
        for k in (i, j):
            paths.append(Path(tempfile.mkdtemp()) / f"mug_view{k}.png")
            save_image(paths[-1], vs.views[k].rgb)
        c.set_start_backbone("vit_tiny_patch16_224")
        wait_until(app, lambda: c.session.options.backbone == "vit_tiny_patch16_224", 60)
        c.open_paths([str(p) for p in paths])
        wait_until(app, lambda: len(c.session.images) == 2)
        if not c.checkpoints.set_checkpoint(str(init_checkpoint_file(a.grid))):
            raise RuntimeError(f"{a.grid}: the app refused the grid-matcher checkpoint")
        wait_until(app, lambda: c.session.features is not None and not c.runner.busy())
        fg = vs.views[i].foreground_pixels()
        x, y = fg[len(fg) // 2]
        c.pair.click_point(0, float(x), float(y))
        wait_until(app, lambda: c.session.matches is not None and not c.runner.busy())
        settle(app, 1.0)
        p = out / "vggt_sc_confidence.png"
        c.window.grab().save(str(p))
        saved.append(p)
    shared = Path(__file__).resolve().parents[2] / "shared"
    if a.eval_pair or a.sph or a.pov or a.training:
        from dataclasses import replace

        c.session.set_options(replace(c.session.options, backbone="vit_tiny_patch16_224", checkpoint=None,
                                      resolution=None, layer=None, facet=None))
        wait_until(app, lambda: c.session.options.backbone == "vit_tiny_patch16_224", 60)
    if a.eval_pair:
        saved.append(shot_eval_pair(app, c, out, shared / "data", a.eval_limit))
    if a.sph:
        saved.append(shot_sph(app, c, out, a.sph))
    if a.pov:
        saved.append(shot_pov(app, c, out, a.pov, shared / "data"))
    if a.training:
        saved += shot_training(app, c, out, a.train_steps)
    c.shutdown()
    c.window.close()
    for p in saved:
        print(f"wrote {p}")
    return 0 if saved else 1


def grab(app, c, path: Path, seconds: float = 1.0) -> Path:
    settle(app, seconds)
    c.window.grab().save(str(path))
    return path


def shot_eval_pair(app, c, out: Path, data: Path, limit: int) -> Path:
    from corrviz.app.eval_state import EvalRequestValues

    if not c.eval.run_evaluation(EvalRequestValues("pfwillow", str(data), "soft-argmax", limit)):
        raise RuntimeError("the Evaluation tab refused to run PF-WILLOW")
    wait_until(app, lambda: c.session.evaluation.state != "running", 900)
    if not c.eval.items:
        raise RuntimeError(f"no evaluated pair to open ({c.session.evaluation.message})")
    c.window.eval_panel.items.setCurrentRow(0)
    p = grab(app, c, out / "eval_list.png")
    c.window.eval_panel.items.itemActivated.emit(c.window.eval_panel.items.item(0))
    wait_until(app, lambda: c.window.pair_view.annotation_count()[0] > 0, 120)
    wait_until(app, lambda: c.session.features is not None and not c.runner.busy(), 300)
    p.unlink()
    return grab(app, c, out / "eval_worst_pair.png")


def shot_sph(app, c, out: Path, run: str) -> Path:
    from corrviz.training.trainer import init_checkpoint_file

    src, trg = sorted((Path(__file__).resolve().parents[2] / "shared/data/PF-WILLOW").rglob("*.png"))[:2]
    c.open_paths([str(src), str(trg)])
    wait_until(app, lambda: len(c.session.images) == 2)
    if not c.checkpoints.set_sphere_checkpoint(str(init_checkpoint_file(run))):
        raise RuntimeError(f"{run}: the app refused the sphere mapper")
    wait_until(app, lambda: c.session.sphere_maps is not None and not c.runner.busy(), 300)
    c.show_tab("3d")
    view = c.scene.ensure_view()
    view.set_mode("sphere")
    return grab(app, c, out / "sph_sphere_3d.png", 2.0)


def shot_pov(app, c, out: Path, run: str, data: Path) -> Path:
    import cv2

    from corrviz.training.trainer import init_checkpoint_file

    frames = sorted((data / "DAVIS").rglob("*.jpg"))[:24]
    video = Path(tempfile.mkdtemp()) / "davis_clip.avi"
    first = cv2.imread(str(frames[0]))
    h, w = first.shape[:2]
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 12, (w // 2, h // 2))
    for f in frames:
        writer.write(cv2.resize(cv2.imread(str(f)), (w // 2, h // 2)))
    writer.release()
    c.checkpoints.load_trained_checkpoint(str(init_checkpoint_file(run)))
    c.window.video_view.step.setValue(2)
    c.open_paths([str(video)])
    wait_until(app, lambda: c.session.video_maps is not None and not c.runner.busy(), 600)
    fw, fh = w // 2, h // 2  # the clip was written at half size
    for fx, fy in ((0.40, 0.50), (0.45, 0.27), (0.55, 0.45)):  # horse, rider, horse's neck on frame 0
        c.video.track_point(fw * fx, fh * fy, 0)
    wait_until(app, lambda: c.session.track is not None and not c.runner.busy(), 300)
    c.session.set_frame(len(frames) - 1)
    return grab(app, c, out / "pov_tracks.png")


def shot_training(app, c, out: Path, steps: int) -> list[Path]:
    w, panel = c.window, c.window.training_panel
    c.training.set_runs_folder(tempfile.mkdtemp(prefix="corrviz_shot_runs_"))
    w.tabs.setCurrentWidget(panel)
    wait_until(app, lambda: c.training.catalog is not None, 300)
    c.training.select_method("mef")
    c.training.select_preset(next(p for p in c.training.catalog["methods"]["mef"]["presets"]
                                  if p.endswith("mef_vit_tiny_cpu.yaml")))
    for key, value in {"train.steps": steps, "train.log_every": 1, "train.eval_every": steps // 2,
                       "schedule.warmup_steps": 5, "eval.n_pairs": 2,
                       "eval.n_points": 100, "eval.objects": ["mug", "torus"]}.items():
        if not c.training.set_value(key, value):
            raise RuntimeError(f"the Training panel refused {key}={value}")
    c.training.start()
    wait_until(app, lambda: c.training.process is not None, 300)
    wait_until(app, lambda: panel.loss_points() >= steps // 2 + 3, 1800)
    shots = [grab(app, c, out / "training_midrun.png")]
    wait_until(app, lambda: c.training.process is None, 1800)
    wait_until(app, lambda: w.tabs.currentWidget() is w.compare_view, 120)
    wait_until(app, lambda: not c.runner.busy(), 600)
    shots.append(grab(app, c, out / "before_after.png", 2.0))
    return shots


if __name__ == "__main__":
    sys.exit(main())
