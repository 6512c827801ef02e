"""Save rendered views with their ground-truth correspondences drawn on them, for a visual check.

Usage: ``python scripts/render_screenshots.py OUT_FOLDER [--resolution 384] [--mesh PATH]``

Writes into OUT_FOLDER:

* ``pair_<name>.png``: view A | view B with lines joining points of A to their ground-truth
  positions in B (coloured by position in A); points of A hidden or out of frame in B are red
  crosses in A.
* ``geometry_<name>.png``: view A's RGB, depth, mask, object coordinates (xyz as colour), face ids.
* ``tracks_<name>.png``: frames of an orbit with ground-truth point tracks (filled: visible,
  hollow: occluded).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

DEFAULT_MESH = Path(__file__).resolve().parents[2] / "shared" / "data" / "meshes" / "pytorch3d_cow" / "cow.obj"


def _colour(xy: np.ndarray, width: int, height: int) -> list[tuple[int, int, int]]:
    from matplotlib import colormaps

    cmap = colormaps["hsv"]
    t = (xy[:, 0] / width * 0.8 + xy[:, 1] / height * 0.2) % 1.0
    return [tuple(int(255 * c) for c in cmap(v)[:3]) for v in t]


def _grid_on_mask(mask: np.ndarray, step: int) -> np.ndarray:
    rows, cols = np.nonzero(mask[step // 2::step, step // 2::step])
    return np.stack([cols * step + step // 2 + 0.5, rows * step + step // 2 + 0.5], axis=1).astype(np.float64)


def draw_pair(viewset, a: int, b: int, path: Path, step: int) -> tuple[int, int]:
    """Side-by-side image with correspondence lines; returns (valid, invalid) counts."""
    from PIL import Image, ImageDraw

    from corrviz.core.io import save_image

    va, vb = viewset.views[a], viewset.views[b]
    xy_a = _grid_on_mask(va.mask, step)
    xy_b, valid = viewset.correspondence(a, b, xy_a)
    canvas = Image.fromarray(np.concatenate([va.rgb, vb.rgb], axis=1))
    draw = ImageDraw.Draw(canvas)
    colours = _colour(xy_a, va.width, va.height)
    for (xa, ya), (xb, yb), ok, col in zip(xy_a, xy_b, valid, colours, strict=True):
        if ok:
            draw.line([(xa, ya), (xb + va.width, yb)], fill=col, width=1)
            draw.ellipse([xa - 2, ya - 2, xa + 2, ya + 2], fill=col)
            draw.ellipse([xb + va.width - 2, yb - 2, xb + va.width + 2, yb + 2], fill=col)
        else:
            draw.line([(xa - 3, ya - 3), (xa + 3, ya + 3)], fill=(255, 0, 0), width=2)
            draw.line([(xa - 3, ya + 3), (xa + 3, ya - 3)], fill=(255, 0, 0), width=2)
    save_image(path, np.asarray(canvas))
    return int(valid.sum()), int((~valid).sum())


def draw_geometry(view, path: Path) -> None:
    """RGB | depth | mask | xyz | face id, as one strip."""
    from matplotlib import colormaps

    from corrviz.core.io import save_image

    depth = view.depth.astype(np.float64)
    fg = view.mask
    d = np.zeros_like(depth)
    if fg.any():
        lo, hi = depth[fg].min(), depth[fg].max()
        d[fg] = 1.0 - (depth[fg] - lo) / max(hi - lo, 1e-9)
    depth_img = (colormaps["viridis"](d)[..., :3] * 255 * fg[..., None]).astype(np.uint8)
    mask_img = np.repeat((fg * 255).astype(np.uint8)[..., None], 3, axis=2)
    xyz = np.nan_to_num(view.xyz + 0.5, nan=0.0)
    xyz_img = (np.clip(xyz, 0, 1) * 255).astype(np.uint8)
    rng = np.random.default_rng(0)
    palette = rng.integers(40, 255, (int(view.face_id.max()) + 2, 3)).astype(np.uint8)
    face_img = palette[view.face_id + 1] * fg[..., None]
    save_image(path, np.concatenate([view.rgb, depth_img, mask_img, xyz_img, face_img], axis=1))


def draw_tracks(viewset, tracks, frames: list[int], path: Path) -> None:
    """Selected frames with ground-truth track positions (hollow circles where occluded)."""
    from PIL import Image, ImageDraw

    from corrviz.core.io import save_image

    v0 = viewset.views[0]
    colours = _colour(tracks.query_xy, v0.width, v0.height)
    tiles = []
    for t in frames:
        im = Image.fromarray(viewset.views[t].rgb)
        draw = ImageDraw.Draw(im)
        for n in np.nonzero(tracks.on_object)[0]:
            x, y = tracks.positions[n, t]
            if not np.isfinite(x):
                continue
            box = [x - 3, y - 3, x + 3, y + 3]
            if tracks.visibility[n, t]:
                draw.ellipse(box, fill=colours[n])
            else:
                draw.ellipse(box, outline=colours[n], width=1)
        tiles.append(np.asarray(im))
    save_image(path, np.concatenate(tiles, axis=1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path)
    p.add_argument("--resolution", type=int, default=384)
    p.add_argument("--mesh", type=Path, default=DEFAULT_MESH, help="real mesh to render [cow]")
    p.add_argument("--frames", type=int, default=24, help="orbit length for the track montage")
    args = p.parse_args(argv)

    from corrviz.core.render import load_mesh, orbit_poses, render_poses
    from corrviz.core.render.cameras import look_at
    from corrviz.core.synthetic import make_object

    args.out.mkdir(parents=True, exist_ok=True)
    step = max(args.resolution // 16, 4)

    def pair_poses(az0: float, az1: float, el: float = 25.0) -> np.ndarray:
        out = []
        for az in (az0, az1):
            a, e = np.deg2rad(az), np.deg2rad(el)
            out.append(look_at(2.0 * np.array([np.cos(e) * np.sin(a), np.sin(e), np.cos(e) * np.cos(a)])))
        return np.stack(out)

    subjects = [("car", make_object("car"), (30.0, 80.0)), ("mug", make_object("mug"), (60.0, 150.0)),
                ("chair", make_object("chair"), (20.0, 100.0))]
    if args.mesh is not None and args.mesh.exists():
        subjects.append((args.mesh.stem, load_mesh(args.mesh), (-60.0, 0.0)))
    for name, mesh, (az0, az1) in subjects:
        viewset = render_poses(mesh, pair_poses(az0, az1), resolution=args.resolution)
        ok, bad = draw_pair(viewset, 0, 1, args.out / f"pair_{name}.png", step)
        draw_geometry(viewset.views[0], args.out / f"geometry_{name}.png")
        print(f"{name}: {ok} valid, {bad} hidden or out of frame -> {args.out / f'pair_{name}.png'}")

    orbit = render_poses(make_object("chair"), orbit_poses(args.frames, elevation_deg=25.0, sweep_deg=180.0),
                         resolution=args.resolution)
    tracks = orbit.point_tracks(0, grid=12)
    frames = sorted({0, args.frames // 3, 2 * args.frames // 3, args.frames - 1})
    draw_tracks(orbit, tracks, frames, args.out / "tracks_chair.png")
    print(f"tracks: {int(tracks.on_object.sum())} points, visible fraction {tracks.visibility.mean():.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
