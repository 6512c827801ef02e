"""Core speed benchmark: feature extraction, click-to-match latency and dense all-to-all matching.

Usage: python scripts/bench_core.py [--quick]

Prints, on this machine: images/s of ``dinov2_vits14``'s architecture (random init; speed does not
depend on the weights) at 448 and 840 px and of dense SIFT; click-to-match latency (one query point
against a 60x60 and a 120x120 grid, median of 100) against the targets < 30 ms and < 150 ms; and
dense 60x60 all-to-all mutual-NN matching time.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from corrviz.core.backbones import create_backbone
from corrviz.core.features import FeatureExtractor, FeatureMap, FeatureOptions
from corrviz.core.matching import dense_matches, match_points
from corrviz.core.transforms import CanvasTransform

TARGETS_MS = {60: 30.0, 120: 150.0}


def images_per_second(name: str, resolution: int, n: int, **overrides) -> float:
    bb = create_backbone(name, pretrained=False, **overrides)
    ex = FeatureExtractor(bb, FeatureOptions(resolution=resolution, batch_size=1), cache=None)
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(n + 1)]
    ex.extract(imgs[0])  # warm-up
    t0 = time.perf_counter()
    for im in imgs[1:]:
        ex.extract(im)
    return n / (time.perf_counter() - t0)


def random_map(grid: int, dim: int = 384, seed: int = 0) -> FeatureMap:
    t = CanvasTransform.create((grid * 14, grid * 14), grid * 14, 14, "resize")
    feats = torch.from_numpy(np.random.default_rng(seed).standard_normal((dim, grid, grid)).astype(np.float32))
    return FeatureMap(feats, t, "bench", FeatureOptions(), (t.image_w, t.image_h))


def click_latency_ms(grid: int, repeats: int = 100) -> float:
    """A click as the app does it: sample the point, similarity to every target cell, soft-argmax."""
    src, trg = random_map(grid, seed=1), random_map(grid, seed=2)
    src.unit(), trg.unit()  # normalised features are computed once per map and kept
    rng = np.random.default_rng(3)
    times = []
    for _ in range(repeats):
        pt = rng.uniform(0, grid * 14, size=(1, 2))
        t0 = time.perf_counter()
        match_points(src, trg, pt, "soft-argmax")
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def dense_ms(grid: int = 60, repeats: int = 3) -> float:
    src, trg = random_map(grid, seed=4), random_map(grid, seed=5)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        dense_matches(src, trg)
        times.append((time.perf_counter() - t0) * 1000)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer repetitions (for tests)")
    args = p.parse_args(argv)
    n = 1 if args.quick else 5
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    rows = [
        ("dinov2_vits14 (random init) @448", images_per_second("dinov2_vits14", 448, n)),
        ("dinov2_vits14 (random init) @840", images_per_second("dinov2_vits14", 840, n)),
        ("dense_sift stride 8 @448 (default, 3 scales)", images_per_second("dense_sift", 448, n * 4)),
        ("daisy stride 8 @448 (default, 3 scales)", images_per_second("daisy", 448, n * 4)),
    ]
    print("\nfeature extraction")
    for name, ips in rows:
        print(f"  {name:46s} {ips:8.2f} images/s")
    print("\nclick-to-match (1 point, soft-argmax, median of 100)")
    ok = True
    for grid, target in TARGETS_MS.items():
        ms = click_latency_ms(grid, 20 if args.quick else 100)
        ok &= ms < target
        print(f"  {grid}x{grid} grid: {ms:7.2f} ms   target < {target:.0f} ms   {'OK' if ms < target else 'MISSED'}")
    print(f"\ndense 60x60 all-to-all mutual NN: {dense_ms(60, 1 if args.quick else 3):.1f} ms")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
