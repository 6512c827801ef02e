"""Pairs per second of PF-WILLOW evaluation without the feature cache, with a cold disk cache and
with a warm one (a re-run with another matcher).

    python scripts/bench_eval.py --data ../shared/data/PF-WILLOW --backbone dense_sift

"No cache" extracts both images of every pair (memory LRU and disk cache off), so it runs on a
shorter prefix (``--nocache-limit``); the cached runs use ``--limit`` pairs (default: all 900).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def bench(data: str, backbone: str, resolution: int | None, limit: int | None, nocache_limit: int,
          cache_dir: Path) -> dict[str, dict[str, float]]:
    from corrviz.core.evaluate import ExtractorSpec, build_extractor, evaluate

    spec = ExtractorSpec(backbone, resolution=resolution)
    out: dict[str, dict[str, float]] = {}

    def one(name: str, matcher: str, n: int | None, use_cache: bool, memory: int) -> None:
        ex = build_extractor(spec)
        t0 = time.perf_counter()
        res = evaluate("pfwillow", data, ex, matcher, n, use_cache=use_cache, memory_entries=memory,
                       cache_root=cache_dir)
        dt = time.perf_counter() - t0
        pairs = res.protocol["n_evaluated"]
        out[name] = {"pairs": pairs, "seconds": dt, "pairs_per_s": pairs / dt, "extractions": ex.extractions,
                     "pck@0.1": res.value("pck", 0.1, "bbox", "per_keypoint")}

    one("no cache", "nn", nocache_limit, False, 0)
    one("disk cache, cold", "nn", limit, True, 128)
    one("disk cache, warm (other matcher)", "soft-argmax", limit, True, 128)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "PF-WILLOW"))
    p.add_argument("--backbone", default="dense_sift")
    p.add_argument("--resolution", type=int, default=None)
    p.add_argument("--limit", type=int, default=None, help="pairs for the cached runs [all 900]")
    p.add_argument("--nocache-limit", type=int, default=90, help="pairs for the no-cache run [90]")
    p.add_argument("--cache-dir", default=None, help="cache folder [a fresh temporary folder]")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="corrviz-bench-") as tmp:
        cache = Path(args.cache_dir) if args.cache_dir else Path(tmp)
        rows = bench(args.data, args.backbone, args.resolution, args.limit, args.nocache_limit, cache)
    print(f"PF-WILLOW evaluation, {args.backbone}" + (f" at {args.resolution}px" if args.resolution else ""))
    print(f"{'mode':36s} {'pairs':>6s} {'seconds':>8s} {'pairs/s':>8s} {'extractions':>12s}")
    for name, r in rows.items():
        print(f"{name:36s} {r['pairs']:6d} {r['seconds']:8.2f} {r['pairs_per_s']:8.1f} {r['extractions']:12d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
