"""The renderer's scripts run end to end on tiny inputs."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"script_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_render_tiny(capsys):
    bench = _load("bench_render")
    assert bench.main(["--views", "2", "--resolution", "32", "--triangles", "500", "--queries", "200",
                       "--pairs", "1"]) == 0
    out = capsys.readouterr().out
    assert "render: 2 views of" in out and "M queries/s" in out
    assert abs(bench.torus_mesh(10_000).n_faces - 10_000) < 500


def test_render_screenshots_tiny(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CORRVIZ_CACHE", str(tmp_path / "cache"))
    shots = _load("render_screenshots")
    out = tmp_path / "shots"
    assert shots.main([str(out), "--resolution", "48", "--frames", "4", "--mesh", str(tmp_path / "none.obj")]) == 0
    names = sorted(p.name for p in out.glob("*.png"))
    assert {"pair_car.png", "pair_mug.png", "geometry_chair.png", "tracks_chair.png"} <= set(names)
    from corrviz.core.io import load_image

    pair = load_image(out / "pair_car.png")
    assert pair.shape == (48, 96, 3) and pair.max() > 0
    assert np.asarray(load_image(out / "tracks_chair.png")).shape[1] == 4 * 48


def test_make_demo_assets_reproduces_the_shipped_pair(tmp_path, capsys):
    """The demo pair in resources/demo is exactly what the script makes (same pixels, same affine)."""
    from corrviz.core.io import load_image, read_json

    assert _load("make_demo_assets").main([str(tmp_path)]) == 0
    shipped = SCRIPTS.parent / "resources" / "demo"
    for name in ("source.png", "target.png"):
        made, ref = load_image(tmp_path / name), load_image(shipped / name)
        assert made.shape == ref.shape and np.array_equal(made, ref), name
    assert read_json(tmp_path / "demo_pair.json")["affine"] == read_json(shipped / "demo_pair.json")["affine"]
