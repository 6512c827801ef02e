"""Compare the tracking occlusion rules of :mod:`corrviz.core.tracking` on BADJA and print a table.

    python scripts/occlusion_rules.py --data ../shared/data --backbone dense_sift --resolution 448

Per rule: the benchmark's scores (PCK@0.2 sqrt(mask area), delta_avg, AJ, OA, in %; positions do not
depend on the rule, so PCK and delta_avg are the same in every row) and how often the rule flags a
point as occluded among ground-truth-visible frames whose prediction is wrong (error above the PCK
threshold), among those that are right, and among ground-truth-occluded frames. The benchmarks use
the ``absolute`` rule (seed 000 A.10); this table is the evidence for keeping or changing that.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

RULES = (("absolute", 0.5), ("relative", 0.5), ("relative", 0.6), ("cycle", 2.0), ("cycle", 3.0))
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


class RuleTracker:
    """A custom tracker for :func:`corrviz.core.evaluate.evaluate`: soft-argmax tracks, one occlusion rule;
    records the flag rates against the clip's ground truth."""

    def __init__(self, rule: str, value: float) -> None:
        self.rule, self.value = rule, value
        self.name = f"soft-argmax, occlusion {rule} {value:g}"
        self.counts = np.zeros((3, 2))  # rows: wrong, right, occluded; cols: flagged, total

    def track(self, maps, queries, clip):
        from corrviz.core.tracking import track_query_points

        frames = np.asarray(queries.frame, dtype=np.int64)
        t = track_query_points(maps, [(int(f), float(x), float(y)) for f, (x, y) in zip(frames, queries.xy, strict=True)],
                               self.rule, self.value)
        pred, flagged = t.xy.transpose(1, 0, 2), ~t.visible.T
        idx = np.asarray(queries.point_index, dtype=np.int64)
        gt, occluded, annotated = clip.points[idx].astype(np.float64), clip.occluded[idx], clip.annotated[idx]
        area = np.asarray(clip.mask_area if clip.mask_area is not None else np.full(len(maps), np.nan), np.float64)
        thr = 0.2 * np.sqrt(np.where(np.isfinite(area) & (area > 0), area, np.nan))
        other = np.ones_like(flagged)
        other[np.arange(len(frames)), frames] = False
        err = np.linalg.norm(pred - gt, axis=2)
        ok_area = np.isfinite(thr)[None]
        groups = (annotated & ~occluded & other & ok_area & (err > thr[None]),
                  annotated & ~occluded & other & ok_area & (err <= thr[None]),
                  annotated & occluded & other)
        for g, sel in enumerate(groups):
            self.counts[g] += (flagged[sel].sum(), sel.sum())
        return pred, flagged


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="shared data root holding BADJA and DAVIS")
    ap.add_argument("--backbone", default="dense_sift")
    ap.add_argument("--resolution", type=int, default=448)
    ap.add_argument("--limit", type=int, default=None, help="evaluate only the first N clips")
    args = ap.parse_args(argv)
    from corrviz.core.errors import CorrvizError
    from corrviz.core.evaluate import evaluate
    from corrviz.core.evaluate.spec import ExtractorSpec

    print(f"BADJA, {args.backbone} at {args.resolution} px, soft-argmax within 35 px; data {args.data}\n")
    print("| rule | threshold | PCK@0.2 | delta_avg | AJ | OA | flagged: wrong | flagged: right | flagged: gt-occluded |")
    print("|---|---|---|---|---|---|---|---|---|")
    for rule, value in RULES:
        tracker = RuleTracker(rule, value)
        try:
            res = evaluate("badja", args.data, ExtractorSpec(args.backbone, args.resolution), tracker, limit=args.limit)
        except CorrvizError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        m = {r["metric"]: r["value"] for r in res.to_dict()["results"] if r.get("category") == "all"}
        rates = [f"{100 * f / n:.1f} % of {int(n)}" if n else "n/a" for f, n in tracker.counts]
        print(f"| {rule} | {value:g} | {100 * m['badja_pck']:.1f} | {100 * m['delta_avg']:.1f} | "
              f"{100 * m['average_jaccard']:.1f} | {100 * m['occlusion_accuracy']:.1f} | " + " | ".join(rates) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
