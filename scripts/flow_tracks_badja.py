"""OpenCV optical-flow tracks (corrviz.core.track_sources.flow) against BADJA's annotated joints.

``python scripts/flow_tracks_badja.py [--data ../shared/data/BADJA] [--sequence horsejump-high]
[--trackers lk,dis] [--fb 1.0] [--max-frames 0]``

Each joint visible on the first annotated frame is tracked from there through EVERY following frame
(chained frame to frame, forward-backward check); at every later annotated frame where the joint is
visible in the annotation and the tracker still holds it, the pixel error (480p frames) is taken.
Prints per tracker: the median and mean error of the tracked joints, the share within
0.2 x sqrt(mask area) (BADJA's PCK threshold) and how many annotated joint-frames the tracker still
held (the rest it had marked lost).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def evaluate(clip, tracker: str, fb: float, max_frames: int = 0) -> dict:  # noqa: ANN001 - ClipRecord
    from corrviz.core.io import load_image
    from corrviz.core.track_sources.flow import chain_tracks

    ann = np.nonzero(clip.annotated.any(0))[0]
    start = int(ann[0])
    end = clip.n_frames if not max_frames else min(clip.n_frames, start + max_frames)
    queries = ~clip.occluded[:, start] & clip.annotated[:, start]
    frames = [load_image(p) for p in clip.frame_paths[start:end]]
    pos, vis = chain_tracks(frames, clip.points[queries, start], tracker, fb)
    errs, within, held, total = [], [], 0, 0
    for t in ann[(ann > start) & (ann < end)]:
        k = t - start
        gt_vis = clip.annotated[queries, t] & ~clip.occluded[queries, t]
        total += int(gt_vis.sum())
        ok = gt_vis & vis[:, k]
        held += int(ok.sum())
        e = np.linalg.norm(pos[ok, k] - clip.points[queries][ok, t], axis=1)
        errs.append(e)
        area = clip.mask_area[t] if clip.mask_area is not None else np.nan
        within.append(e <= 0.2 * np.sqrt(area))
    e = np.concatenate(errs) if errs else np.zeros(0)
    w = np.concatenate(within) if within else np.zeros(0, bool)
    return {"tracker": tracker, "median_px": float(np.median(e)) if e.size else float("nan"),
            "mean_px": float(e.mean()) if e.size else float("nan"), "pck": float(w.mean()) if w.size else float("nan"),
            "held": held, "total": total, "frames": end - start}


def main(argv: list[str] | None = None) -> int:
    from corrviz.core.datasets.badja import BadjaDataset

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/BADJA")
    ap.add_argument("--sequence", default="horsejump-high")
    ap.add_argument("--trackers", default="lk,dis")
    ap.add_argument("--fb", type=float, default=1.0, help="forward-backward threshold in px [1.0]")
    ap.add_argument("--max-frames", type=int, default=0, help="track only this many frames (0 = all)")
    args = ap.parse_args(argv)
    ds = BadjaDataset(args.data, sequences=[args.sequence])
    if not len(ds):
        print(f"flow_tracks_badja: no BADJA clip {args.sequence!r} with its DAVIS frames under {args.data}",
              file=sys.stderr)
        return 2
    clip = ds[0]
    print(f"BADJA {args.sequence}: {clip.n_frames} frames {clip.image_size}, fb threshold {args.fb} px")
    print(f"{'tracker':8} {'frames':>6} {'median px':>10} {'mean px':>8} {'PCK@0.2':>8} {'held / annotated':>17}")
    for tracker in args.trackers.split(","):
        r = evaluate(clip, tracker.strip(), args.fb, args.max_frames)
        print(f"{r['tracker']:8} {r['frames']:6d} {r['median_px']:10.2f} {r['mean_px']:8.2f} {100 * r['pck']:8.2f} "
              f"{r['held']:>8d} / {r['total']:<7d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
