"""``corrviz-match`` end to end on the demo pair and on files, with the weight-free fallback."""

import json
import re

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
    pck = float(re.search(r"PCK@0.1 \(image\) = ([\d.]+)", out.out).group(1))
    assert data["demo_pck_img"]["0.1"] == pytest.approx(pck, abs=5e-4) and data["demo_pck_points"] > 50
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


def test_demo_score_is_pck_of_the_image_size_and_the_figure_says_so():
    from corrviz.core.demo import demo_pair
    from corrviz.core.figures import match_figure
    from corrviz.core.matching import Matches

    d = demo_pair()  # 451 x 300, target = 0.8 x source + (70, 40)
    content = d.target_content()
    assert content.sum() == 361 * 240  # pixel centres x in [70, 430.8], y in [40, 280]
    assert content[40, 70] and content[279, 430] and not content[39, 70] and not content[40, 69]
    src = np.array([[10.0, 10.0], [200.0, 150.0], [440.0, 290.0], [0.5, 0.5], [-100.0, 0.0]])
    gt = d.ground_truth(src)  # the last one lands at x = -10: outside the target, left out of the PCK
    err = np.array([0.07, 0.049, 0.099, 0.12, 0.0]) * 451  # fractions of max(W, H) = 451, not of H = 300
    s = d.score(src, gt + np.stack([err, np.zeros(5)], axis=1))
    assert s.n_points == 4
    assert s.pck == pytest.approx({0.05: 0.25, 0.1: 0.75})  # with H = 300 instead, 0.099 x 451 > 0.1 x 300
    assert s.correct.tolist() == [True, True, True, False, True]
    m = Matches(src, gt, np.ones(5), np.ones(5, bool), "nn")
    fig = match_figure(d.src, d.trg, m, None, s.correct, note=s.line(), alpha=0.1)
    legend = fig.legends[0]
    texts = [t.get_text() for t in legend.get_texts()]
    assert texts[0].startswith("correct (4): within 0.1 of the image size") and texts[1] == "wrong (1)"
    assert legend.get_title().get_text() == s.line() and "PCK@0.1 (image) = 0.750" in s.line()
