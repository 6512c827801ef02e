"""``corrviz-match`` end to end on the demo pair and on files, with the weight-free fallback."""

import json

import numpy as np
import pytest
from PIL import Image

from corrviz.core.commands.match import main


def test_demo_pair_fallback_figure_and_json(tmp_path, capsys):
    fig, js = tmp_path / "fig.png", tmp_path / "m.json"
    assert main(["--out", str(fig), "--json", str(js)]) == 0
    out = capsys.readouterr()
    assert "no weights for dinov2_vits14" in out.err and "dense_sift" in out.err
    assert "PCK@0.05 (image)" in out.out
    data = json.loads(js.read_text())
    assert data["backbone"] == "dense_sift" and len(data["matches"]) > 50
    with Image.open(fig) as im:
        assert im.size[0] > 500 and im.size[1] > 400


def test_explicit_points_on_files_match_a_known_shift(tmp_path, capsys):
    rng = np.random.default_rng(0)
    base = (rng.random((60, 80, 3)) * 255).astype(np.uint8)
    base = np.kron(base, np.ones((4, 4, 1), np.uint8))  # 240 x 320 blocky texture
    src, trg = base[:, :288], base[:, 32:]  # target = source shifted left by 32 px
    Image.fromarray(np.ascontiguousarray(src)).save(tmp_path / "a.png")
    Image.fromarray(np.ascontiguousarray(trg)).save(tmp_path / "b.png")
    js = tmp_path / "m.json"
    code = main([str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--backbone", "dense_sift", "--resolution", "288",
                 "--canvas", "pad_center", "--matcher", "nn", "--points", "100,100", "196,148", "--json", str(js)])
    assert code == 0
    m = json.loads(js.read_text())["matches"]
    assert [round(r["trg_x"]) for r in m] == [68, 164] and [round(r["trg_y"]) for r in m] == [100, 148]


@pytest.mark.parametrize("args, needle", [
    (["only_one.png"], "give two images"),
    (["--backbone", "dinov2_vits41"], "Did you mean"),
    (["--points", "1;2"], "is not of the form x,y"),
])
def test_bad_arguments_one_line_errors(args, needle, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
