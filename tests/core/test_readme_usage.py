"""Every command line of the README's Usage block runs as written (with small sizes), and first-use errors.

The lines are parsed from README.md, so this test breaks when the README drifts from the tools.
Placeholders (``SRC TRG``, ``OUT``) become the demo images and a temporary folder; outputs
(``--out``, ``--json``) go to the temporary folder; sizes shrink by appending later flags
(argparse keeps the last value), never by editing what the README says.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
DEMO = ROOT / "resources" / "demo"
SHARED = ROOT.parent / "shared"

# flags appended to keep each run small (the README's own values come first, these win)
TINY: dict[tuple[str, str], list[str]] = {
    ("corrviz-match", ""): ["--resolution", "224"],
    ("corrviz-eval", "pf-willow"): ["--limit", "2", "--resolution", "128"],
    ("corrviz-eval", "multiview"): ["--limit", "1", "--views", "12", "--max-rotation", "90", "--pairs", "2",
                                    "--points", "20", "--resolution", "128"],
    ("corrviz-data", "objects"): ["--views", "4", "--resolution", "64"],
    ("corrviz-data", "default"): ["--views", "4", "--resolution", "64"],
}
KNOWN = ("corrviz", "xvfb-run", "corrviz-match", "corrviz-eval", "corrviz-data", ".venv/bin/python")


def usage_lines() -> list[str]:
    text = README.read_text()
    assert "\n## Usage\n" in text, "README.md has no '## Usage' section"
    section = text.split("\n## Usage\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the Usage section has no ```bash block"
    lines = [raw.split("  #")[0].strip() for raw in block.group(1).splitlines()]
    return [line for line in lines if line]


def _split(line: str) -> tuple[dict[str, str], list[str]]:
    tokens = shlex.split(line)
    env = {}
    while tokens and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", tokens[0]):
        k, v = tokens.pop(0).split("=", 1)
        env[k] = v
    return env, tokens


def _place(tokens: list[str], tmp: Path) -> list[str]:
    """Placeholders -> demo images / temporary folder; output files -> the temporary folder."""
    out: list[str] = []
    images = iter([str(DEMO / "source.png"), str(DEMO / "target.png")])
    for i, tok in enumerate(tokens):
        prev = tokens[i - 1] if i else ""
        if tok in ("SRC", "TRG"):
            out.append(next(images))
        elif tok == "OUT":
            out.append(str(tmp / "OUT"))
        elif prev in ("--out", "--json") and not tok.startswith("-"):
            out.append(str(tmp / tok))
        else:
            out.append(tok)
    return out


def _run(cmd: list[str], env: dict[str, str], tmp: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "CORRVIZ_CACHE": str(tmp / "cache"), "CORRVIZ_CONFIG_DIR": str(tmp / "config"),
            "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg", **env}
    if "CORRVIZ_WEIGHTS" not in env:  # a line runs with the weights it names, no others
        full.pop("CORRVIZ_WEIGHTS", None)
    return subprocess.run(cmd, cwd=ROOT, env=full, capture_output=True, text=True, timeout=timeout)


def _tool(tokens: list[str]) -> list[str]:
    """The command with its executable taken from this virtual environment."""
    if tokens[0].startswith("corrviz"):
        return [str(BIN / tokens[0]), *tokens[1:]]
    if tokens[0] == ".venv/bin/python":
        return [sys.executable, *tokens[1:]]
    return tokens


def test_the_readme_says_how_the_lines_are_run() -> None:
    text = README.read_text().split("\n## Usage\n", 1)[1].split("\n## ", 1)[0]
    assert "source .venv/bin/activate" in text and ".venv/bin/" in text
    assert all(_split(line)[1][0] in KNOWN for line in usage_lines()), usage_lines()
    assert len(usage_lines()) >= 8


@pytest.mark.parametrize("line", usage_lines())
def test_readme_usage_line_parses(line: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fast: each line passes its tool's parser and the checks run before any model load."""
    from corrviz.app.main import parse_args
    from corrviz.core.commands import data, match
    from corrviz.core.commands import eval as eval_cmd

    monkeypatch.chdir(ROOT)  # data paths in the README are relative to the checkout
    env, tokens = _split(line)
    if tokens[0] == "xvfb-run":
        tokens = tokens[tokens.index("corrviz"):]
    tokens = _place(tokens, Path("/nonexistent-out"))
    head, args = tokens[0], tokens[1:]
    if head == "corrviz":
        parse_args(args)
    elif head == "corrviz-match":
        ns = match.build_parser().parse_args(args)
        match.check_feature_args(ns)
        match.parse_points(ns.points)
    elif head == "corrviz-eval":
        ns = eval_cmd.build_parser().parse_args(args)
        if "../shared/data" in line and not (SHARED / "data").is_dir():
            pytest.skip("../shared/data is not beside this checkout")
        eval_cmd.check_args(ns)
    elif head == "corrviz-data":
        data._parser().parse_args(args)
    else:
        assert tokens[:3] == [".venv/bin/python", "-m", "pytest"], line
        assert "slow" in (ROOT / "pyproject.toml").read_text()  # the marker the line selects is declared


@pytest.mark.slow
@pytest.mark.parametrize("line", usage_lines())
def test_readme_usage_line_runs(line: str, tmp_path: Path) -> None:
    """Slow (a process per line, some render): each line runs to its outputs."""
    env, tokens = _split(line)
    weights = env.get("CORRVIZ_WEIGHTS")
    if weights is not None and not (ROOT / weights).is_dir():
        pytest.skip(f"{weights} (the real pretrained weights) is not beside this checkout")
    if "../shared/data" in line and not (SHARED / "data").is_dir():
        pytest.skip("../shared/data is not beside this checkout")
    if weights is not None:
        env["CORRVIZ_WEIGHTS"] = str(ROOT / weights)
    tokens = _place(tokens, tmp_path)
    head = tokens[0]
    if head in ("corrviz", "xvfb-run"):  # the app: start to the first window, then quit
        env.update(CORRVIZ_PRINT_STARTUP="exit")
        if head == "corrviz":
            env.setdefault("QT_QPA_PLATFORM", "offscreen")
        proc = _run(_tool(tokens) if head == "corrviz" else
                    [tokens[0], *tokens[1:-1], str(BIN / tokens[-1])] if tokens[-1] == "corrviz" else tokens,
                    env, tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "first window after" in proc.stdout
        return
    if head == ".venv/bin/python":  # the slow test suite: check it collects, do not run it here
        proc = _run([*_tool(tokens), "--collect-only", "-q", "-p", "no:cacheprovider"], env, tmp_path)
        assert proc.returncode == 0, proc.stdout[-2000:]
        n = re.search(r"(\d+)(?:/\d+)? tests? (?:collected|selected)", proc.stdout)
        assert n and int(n.group(1)) >= 1, proc.stdout[-500:]
        return
    sub = tokens[1] if len(tokens) > 1 and not tokens[1].startswith("-") else ""
    if head == "corrviz-match":
        sub = ""
    extra = TINY.get((head, sub), [])
    proc = _run([*_tool(tokens), *extra], env, tmp_path)
    assert proc.returncode == 0, f"{line}\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr
    _check_outputs(head, sub, tokens, proc, tmp_path)


def _check_outputs(head: str, sub: str, tokens: list[str], proc: subprocess.CompletedProcess[str],
                   tmp: Path) -> None:
    def after(flag: str) -> str | None:
        return tokens[tokens.index(flag) + 1] if flag in tokens else None

    if head == "corrviz-match":
        if "--list-backbones" in tokens:
            count = re.search(r"^(\d+) backbones$", proc.stdout, re.M)
            assert count and "dense_sift" in proc.stdout
            assert len(proc.stdout.strip().splitlines()) == int(count.group(1)) + 1  # the count is the list
            return
        assert "matches" in proc.stdout
        if "--points" in tokens:
            n_pts = sum(1 for t in tokens if re.fullmatch(r"[\d.]+,[\d.]+", t))
            assert f"{n_pts} matches" in proc.stdout
        if after("--out"):
            assert Path(after("--out")).stat().st_size > 1000
        if after("--json"):
            data = json.loads(Path(after("--json")).read_text())
            assert data["backbone"] == (after("--backbone") or data["backbone"]) and data["matches"]
        if len(tokens) == 1:
            assert "PCK@0.1 (image)" in proc.stdout
    elif head == "corrviz-eval":
        results = Path(re.search(r"^results: (.+)$", proc.stdout, re.M).group(1))
        data = json.loads(results.read_text())
        assert data["protocol"]["n_evaluated"] >= 1 and data["protocol"]["backbone"] == after("--backbone")
        assert results.parent == Path(after("--out")).resolve() or results.parent == Path(after("--out"))
    elif head == "corrviz-data" and sub == "objects":
        meta = json.loads((tmp / "OUT" / "dataset.json").read_text())
        want = after("--objects")
        assert len(meta["objects"]) == (int(want) if want and want.isdigit() else len(meta["objects"]))
        assert meta["n_views"] == 4  # the last --views wins, as argparse promises
    elif head == "corrviz-data" and sub == "default":
        folder = Path(proc.stdout.strip().splitlines()[-1])
        assert (folder / "dataset.json").is_file()


# --------------------------------------------------------------------------- first-use errors
def _eval(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from corrviz.core.commands.eval import main

    code = main(args)
    return code, capsys.readouterr().err


def test_eval_errors_name_the_tool_and_the_missing_argument(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _eval(["pfwillow", "--backbone", "dense_sift"], capsys)
    assert code == 2 and err.startswith("corrviz-eval: error:") and "--data" in err and "--backbone" not in err
    code, err = _eval([], capsys)
    assert code == 2 and "BENCHMARK, --data, --backbone" in err


def test_eval_checks_arguments_before_loading_any_model(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import corrviz.core.evaluate.spec as spec

    def no_build(*a, **k):  # type: ignore[no-untyped-def]
        raise AssertionError("a model was built before the arguments were checked")

    monkeypatch.setattr(spec, "build_extractor", no_build)
    monkeypatch.setattr("corrviz.core.evaluate.runner.build_extractor", no_build)
    data = str(tmp_path)
    code, err = _eval(["pfwillow", "--data", data, "--backbone", "dinov2_vits14", "--resolution", "500"], capsys)
    assert code == 2 and "--resolution 500 is not a multiple of dinov2_vits14's patch size 14 (try 490 or 504)" in err
    code, err = _eval(["pfwillow", "--data", data, "--backbone", "dense_sift", "--alphas", "0.1;0.2"], capsys)
    assert code == 2 and "--alphas" in err
    code, err = _eval(["pfwillow", "--data", str(tmp_path / "nowhere"), "--backbone", "dense_sift"], capsys)
    assert code == 2 and "does not exist" in err
    code, err = _eval(["pfwillow", "--data", data, "--backbone", "dense_sift", "--checkpoint", "no.safetensors"],
                      capsys)
    assert code == 2 and "--checkpoint no.safetensors: file does not exist" in err


def test_match_checks_points_before_loading_any_model(capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import corrviz.core.commands.match as match

    def no_build(*a, **k):  # type: ignore[no-untyped-def]
        raise AssertionError("a model was built before the arguments were checked")

    monkeypatch.setattr(match, "choose_backbone", no_build)
    src, trg = str(DEMO / "source.png"), str(DEMO / "target.png")
    for args, needle in (([src, trg, "--points", "1;2"], "is not of the form x,y"),
                         ([src, trg, "--points", "5000,10"], "outside the source image"),
                         ([src, trg, "--backbone", "vit_tiny_patch16_224", "--resolution", "200"],
                          "not a multiple of vit_tiny_patch16_224's patch size 16 (try 192 or 208)"),
                         ([src, trg, "--out", "fig.gif"], "unsupported figure format")):
        assert match.main(args) == 2
        err = capsys.readouterr().err
        assert err.startswith("corrviz-match: error:") and needle in err, err


def test_a_folder_of_stray_pngs_is_not_a_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    from corrviz.core.io import save_image

    rng = np.random.default_rng(0)
    for rel in ("holiday/a.png", "holiday/b.png", "misc/deep/c.png", "d.png"):
        save_image(tmp_path / "stray" / rel, (rng.random((30, 40, 3)) * 255).astype(np.uint8))
    code, err = _eval(["pf-willow", "--data", str(tmp_path / "stray"), "--backbone", "dense_sift",
                       "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and str(tmp_path / "stray") in err and ".mat keypoint file" in err
    assert not (tmp_path / "out").exists()  # nothing written
    # a PF-WILLOW-like folder whose every item is broken: exit 2 with the first reasons
    cls = tmp_path / "willowish" / "car(G)"
    for name in ("x", "y", "z", "w"):
        save_image(cls / f"{name}.png", (rng.random((30, 40, 3)) * 255).astype(np.uint8))
        (cls / f"{name}.mat").write_bytes(b"not a mat file")
    code, err = _eval(["pfwillow", "--data", str(tmp_path / "willowish"), "--backbone", "dense_sift",
                       "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "yields no evaluable item; 4 skipped, first: car(G)/w:" in err and "(and 1 more)" in err


def test_help_texts_have_no_rest_markup_and_the_backbone_count_is_the_list(capsys) -> None:  # type: ignore[no-untyped-def]
    from corrviz.core.backbones import get_config, list_backbones
    from corrviz.core.commands import data, match
    from corrviz.core.commands import eval as eval_cmd
    from corrviz.core.errors import CorrvizError

    for parser in (match.build_parser(), eval_cmd.build_parser(), data._parser()):
        assert "``" not in parser.format_help()
    with pytest.raises(CorrvizError) as exc:
        get_config("dinov2_vits41")
    n = re.search(r"all (\d+) names", str(exc.value))
    assert n is None or int(n.group(1)) == len(list_backbones())


def test_non_tty_progress_writes_a_few_plain_lines() -> None:
    from corrviz.core.progress import TqdmProgress

    buf = io.StringIO()  # not a terminal, like a log file
    p = TqdmProgress("evaluating", file=buf)
    p.start(900, "pairs")
    for _ in range(900):
        p.step()
    p.close()
    lines = buf.getvalue().splitlines()
    assert [line.split("%")[0].split()[-1] for line in lines] == ["0", "25", "50", "75", "100"]
    assert "\r" not in buf.getvalue() and lines[-1].startswith("pairs: 100%") and "900/900" in lines[-1]


def test_corrviz_without_a_display_says_how_to_run(tmp_path: Path) -> None:
    from corrviz.app.main import display_problem

    assert "not set" in display_problem({}, "linux")
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert "no running X server" in display_problem({"DISPLAY": ":987"}, "linux")
    assert display_problem({}, "darwin") is None
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run([str(BIN / "corrviz"), "a.jpg"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "xvfb-run -a corrviz a.jpg" in proc.stderr and "QT_QPA_PLATFORM=offscreen" in proc.stderr
    assert "xcb" not in proc.stderr.replace("xvfb", "")


def test_views_is_one_flag_for_both_tools_with_the_old_name_as_alias() -> None:
    from corrviz.core.commands import data
    from corrviz.core.commands import eval as eval_cmd

    for argv in (["objects", "o", "--views", "5"], ["objects", "o", "--n-views", "5"], ["default", "--views", "5"],
                 ["mesh", "m.obj", "--out", "o", "--n-views", "5"]):
        assert data._parser().parse_args(argv).n_views == 5
    assert eval_cmd.build_parser().parse_args(["multiview", "--n-views", "7"]).views == 7
    assert data.object_names("3") == ["chair", "mug", "car"]
    with pytest.raises(Exception, match="unknown object"):
        data.object_names("chair,sofa")
