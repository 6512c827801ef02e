"""Regenerate resources/demo/: the demo source photo and its warped target with a known affine.

Usage: python scripts/make_demo_assets.py [OUTDIR]   (default: resources/demo)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from skimage import data

from corrviz.core.demo import warp_affine
from corrviz.core.io import save_image, write_json

AFFINE = [[0.8, 0.0, 70.0], [0.0, 0.8, 40.0]]  # scale 0.8, shift (70, 40) px


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else Path(__file__).resolve().parents[1] / "resources" / "demo"
    src = data.chelsea()  # 451 x 300, CC0 (scikit-image sample data)
    h, w = src.shape[:2]
    trg = warp_affine(src, np.asarray(AFFINE), (w, h), border=(40, 40, 40))
    save_image(out / "source.png", src)
    save_image(out / "target.png", trg)
    write_json(out / "demo_pair.json", {
        "source": "source.png", "target": "target.png", "affine": AFFINE,
        "description": "scikit-image 'chelsea' (CC0) and a copy scaled by 0.8 and shifted by (70, 40) px"})
    print(f"wrote demo pair to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
