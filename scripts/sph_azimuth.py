"""Is the azimuth recoverable from a sphere mapper's mean sphere direction? (SPH, seed 002)

For every render of a synthetic-SPair split (``corrviz-data synthetic-spair``): the sphere map of
the checkpoint, the unit mean of its points over the object mask's cells, that direction's angle
around the circle the directions spread along (PCA plane), and the Fisher-Lee circular
correlation between those angles and the azimuth bins. Prints one row per category and a pooled
row; ``|rho|`` near 1 = the azimuth is read off the sphere, near 0 = it is not.

    python scripts/sph_azimuth.py --checkpoint RUN/checkpoints/last/model.safetensors \\
        --data /tmp/synthetic_spair --split test [--category car ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def main(argv: list[str] | None = None) -> int:
    from corrviz.core.backbones import create_backbone
    from corrviz.core.checkpoint import read_checkpoint_metadata
    from corrviz.core.datasets import get_dataset
    from corrviz.core.features import FeatureExtractor, FeatureOptions
    from corrviz.core.sph import azimuth_angles, bin_angles, circular_correlation, mean_directions

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", required=True, help="sphere-mapper checkpoint (corrviz-train sph)")
    p.add_argument("--data", required=True, help="synthetic-SPair folder")
    p.add_argument("--split", default="test")
    p.add_argument("--category", action="append", default=None)
    p.add_argument("--limit", type=int, default=0, help="at most N images per category (0: all)")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)

    meta = read_checkpoint_metadata(args.checkpoint)  # clear error for a missing / foreign file, before work
    if (meta.get("modules") or [{}])[-1].get("type") != "sphere_mapper":
        print(f"{args.checkpoint}: not a sphere-mapper checkpoint", file=sys.stderr)
        return 2
    ds = get_dataset("synthetic_spair", args.data, split=args.split)
    images = ds.images(args.split, args.category)
    if not images:
        print(f"{args.data}: no {args.split} images{' of ' + ', '.join(args.category) if args.category else ''}",
              file=sys.stderr)
        return 2
    feature = meta.get("feature") or {}
    ex = FeatureExtractor(create_backbone(meta["backbone"]),
                          FeatureOptions(resolution=int(feature.get("resolution") or 224)),
                          checkpoint=args.checkpoint)
    by_cat: dict[str, list] = {}
    for im in images:
        by_cat.setdefault(im.category, []).append(im)
    rows, pooled_dirs, pooled_bins = [], [], []
    for cat, ims in sorted(by_cat.items()):
        ims = ims[: args.limit] if args.limit else ims
        maps = ex.extract_many([np.asarray(Image.open(i.image).convert("RGB")) for i in ims],
                               masks=[np.asarray(Image.open(i.mask)) > 0 for i in ims])
        dirs = mean_directions([m.features.permute(1, 2, 0).numpy() for m in maps], [m.foreground() for m in maps])
        bins = np.array([i.azimuth_bin for i in ims])
        rho = circular_correlation(azimuth_angles(dirs), bin_angles(bins))
        rows.append({"category": cat, "images": len(ims), "rho": rho})
        pooled_dirs.append(dirs)
        pooled_bins.append(bins)
    d, b = np.concatenate(pooled_dirs), np.concatenate(pooled_bins)
    rows.append({"category": "all (pooled)", "images": len(d),
                 "rho": circular_correlation(azimuth_angles(d), bin_angles(b))})
    print(f"mean sphere direction vs azimuth bin ({args.split} split, {Path(args.checkpoint).name})")
    print(f"{'category':<14} {'images':>6} {'rho':>7} {'|rho|':>6}")
    for r in rows:
        print(f"{r['category']:<14} {r['images']:>6} {r['rho']:>7.3f} {abs(r['rho']):>6.3f}")
    if args.json:
        from corrviz.core.io import write_json

        write_json(args.json, {"checkpoint": str(args.checkpoint), "split": args.split, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
