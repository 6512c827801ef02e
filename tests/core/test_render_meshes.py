"""Mesh loading: real meshes from ../shared/data/meshes, formats, and degenerate inputs."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from corrviz.core.errors import MeshError
from corrviz.core.render import load_mesh, render_views

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"  # ../shared beside the checkout
MESHES = SHARED_DATA / "meshes"
need_meshes = pytest.mark.skipif(not MESHES.exists(), reason="shared real meshes not available")


def _check_normalised(mesh) -> None:
    lo, hi = mesh.bounds()
    assert np.isclose(np.max(hi - lo), 1.0)
    assert np.allclose((lo + hi) / 2, 0.0, atol=1e-9)


@need_meshes
@pytest.mark.parametrize("rel, textured", [
    ("pytorch3d_cow/cow.obj", True), ("pytorch3d_cow/cow.glb", True), ("khronos_duck/Duck.glb", True),
    ("stanford_bunny/bunny.ply", False), ("utah_teapot/teapot.obj", False),
    ("cesium_milk_truck/CesiumMilkTruck.glb", True), ("fuze_bottle/fuze.obj", True),
])
def test_real_meshes_load_and_render(rel, textured):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # complete files must load without a warning
        mesh = load_mesh(MESHES / rel)
    _check_normalised(mesh)
    assert mesh.n_faces > 500
    assert (len(mesh.textures) > 0) == textured
    if textured:
        assert mesh.face_uvs is not None and (mesh.face_texture >= 0).mean() > 0.5
    vs = render_views(mesh, n_views=2, resolution=48)
    assert all(v.mask.mean() > 0.02 for v in vs.views)


def test_obj_texture_orientation(tmp_path):
    """OBJ ``vt`` v = 1 is the top row of the texture image."""
    from corrviz.core.io import save_image
    from corrviz.core.render import look_at, render_poses

    tex = np.zeros((8, 8, 3), np.uint8)
    tex[:4] = (255, 0, 0)  # top half red
    tex[4:] = (0, 0, 255)  # bottom half blue
    save_image(tmp_path / "tex.png", tex)
    (tmp_path / "quad.mtl").write_text("newmtl m\nKd 1 1 1\nmap_Kd tex.png\n")
    (tmp_path / "quad.obj").write_text(
        "mtllib quad.mtl\nv -1 -1 0\nv 1 -1 0\nv 1 1 0\nv -1 1 0\n"
        "vt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\nusemtl m\nf 1/1 2/2 3/3\nf 1/1 3/3 4/4\n")
    mesh = load_mesh(tmp_path / "quad.obj")
    view = render_poses(mesh, look_at(np.array([0.0, 0.0, 2.0]))[None], resolution=64).views[0]
    rows = np.nonzero(view.mask.any(axis=1))[0]
    r_top, r_bottom = rows[len(rows) // 4], rows[3 * len(rows) // 4]
    top, bottom = view.rgb[r_top][view.mask[r_top]], view.rgb[r_bottom][view.mask[r_bottom]]
    assert np.all(top[:, 0] > 50) and np.all(top[:, 2] == 0)  # world-up part of the quad is red
    assert np.all(bottom[:, 2] > 50) and np.all(bottom[:, 0] == 0)


@need_meshes
def test_cow_obj_and_glb_render_alike():
    """Open3D gives OBJ and glTF UVs in one convention: the same cow renders the same."""
    a = render_views(load_mesh(MESHES / "pytorch3d_cow/cow.obj"), n_views=2, resolution=64)
    b = render_views(load_mesh(MESHES / "pytorch3d_cow/cow.glb"), n_views=2, resolution=64)
    for va, vb in zip(a.views, b.views, strict=True):
        both = va.mask & vb.mask
        assert both.mean() > 0.9 * va.mask.mean()
        diff = np.abs(va.rgb[both].astype(int) - vb.rgb[both].astype(int))
        assert np.median(diff) <= 2


@need_meshes
def test_stl_and_off_formats(tmp_path):
    import open3d as o3d

    tm = o3d.io.read_triangle_mesh(str(MESHES / "stanford_bunny/bunny.ply"))
    tm.compute_triangle_normals()
    for suffix in (".stl", ".off"):
        path = tmp_path / f"bunny{suffix}"
        o3d.io.write_triangle_mesh(str(path), tm)
        mesh = load_mesh(path)
        _check_normalised(mesh)
        assert mesh.n_faces == len(tm.triangles)


def test_degenerate_meshes_raise_clear_errors(tmp_path):
    cases = {
        "nofaces.obj": ("v 0 0 0\nv 1 0 0\nv 0 1 0\n", "no faces"),
        "nan.obj": ("v 0 0 0\nv 1 0 0\nv nan 1 0\nf 1 2 3\n", "NaN"),
        "flat.obj": ("v 0.5 0.5 0.5\nv 0.5 0.5 0.5\nv 0.5 0.5 0.5\nf 1 2 3\n", "zero extent"),
        "garbage.ply": ("this is not a mesh\n", "unreadable"),
    }
    for name, (text, expected) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(MeshError, match=expected) as info:
            load_mesh(path)
        assert str(path) in str(info.value)
    with pytest.raises(MeshError, match="does not exist"):
        load_mesh(tmp_path / "missing.obj")
    with pytest.raises(MeshError, match="unsupported"):
        load_mesh(_touch(tmp_path / "points.xyz"))


def _touch(path: Path) -> Path:
    path.write_text("0 0 0\n")
    return path


def test_missing_texture_falls_back_to_vertex_colours(tmp_path):
    (tmp_path / "tri.mtl").write_text("newmtl m\nmap_Kd gone.png\n")
    (tmp_path / "tri.obj").write_text(
        "mtllib tri.mtl\nv 0 0 0 1 0 0\nv 1 0 0 1 0 0\nv 0 1 0 1 0 0\nv 1 1 0.2 1 0 0\n"
        "vt 0 0\nvt 1 0\nvt 0 1\nvt 1 1\nusemtl m\nf 1/1 2/2 3/3\nf 2/2 4/4 3/3\n")
    with pytest.warns(UserWarning, match="gone.png"):
        mesh = load_mesh(tmp_path / "tri.obj")
    assert mesh.textures == [] and np.all(mesh.face_texture == -1)
    assert mesh.vertex_colors is not None
    from corrviz.core.render import look_at, render_poses

    view = render_poses(mesh, look_at(np.array([0.0, 0.0, 2.0]))[None], resolution=32).views[0]
    rgb = view.rgb[view.mask].astype(int)
    assert len(rgb) > 0 and np.all(rgb[:, 0] > 60) and np.all(rgb[:, 1:] == 0)  # red, lit


@need_meshes
def test_missing_texture_on_real_cow_warns_and_renders(tmp_path):
    shutil.copy(MESHES / "pytorch3d_cow/cow.obj", tmp_path / "cow.obj")
    shutil.copy(MESHES / "pytorch3d_cow/cow.mtl", tmp_path / "cow.mtl")  # the PNG is not copied
    with pytest.warns(UserWarning, match="cow_texture.png"):
        mesh = load_mesh(tmp_path / "cow.obj")
    assert mesh.textures == []
    vs = render_views(mesh, n_views=1, resolution=32)
    assert vs.views[0].mask.any()
