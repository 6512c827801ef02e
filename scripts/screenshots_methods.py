"""Screenshots of method outputs in the app: ``xvfb-run -a python scripts/screenshots_methods.py OUTDIR``.

* ``diy_sc_labels.png``: a DIY-SC pseudo-label store on its first image pair (green label lines);
  ``--labels FILE`` (default results/diy_sc/trn_cycle+sphere.safetensors, from scripts/diy_sc_tiny.sh).
* ``vggt_sc_confidence.png``: a VGGT-SC grid-matcher checkpoint on a rendered pair of a held-out object,
  one clicked point matched by the flow and the confidence overlay on the target; ``--grid RUN`` (default
  results/runs/vggt_sc_tiny_stage4, from scripts/run_vggt_sc_tiny.sh), backbone vit_tiny_patch16_224
  (CORRVIZ_WEIGHTS=../shared/weights).
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
    c.shutdown()
    c.window.close()
    for p in saved:
        print(f"wrote {p}")
    return 0 if saved else 1


if __name__ == "__main__":
    sys.exit(main())
