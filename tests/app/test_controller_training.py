"""Training and compare controllers with mocked views, no display: config checks, the run monitor, cancel, resume."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from unittest.mock import MagicMock

import numpy as np
import pytest

from corrviz.app.controller_compare import affine_errors, checkpoint_options, default_points, side_summary
from corrviz.app.controller_training import (
    PANEL_CONFIG,
    TrainingController,
    data_choices,
    read_config_value,
    set_config_value,
)
from corrviz.app.run_monitor import (
    MetricsTail,
    RunSeries,
    format_duration,
    list_runs,
    progress_text,
    run_status,
)
from corrviz.app.train_process import TrainProcess

from .conftest import SyncRunner

TINY = {"model.backbone": "test_dinov2_tiny", "model.pretrained": False, "model.resolution": 56,
        "model.lora_blocks": 2, "data.objects": ["box", "chair"], "data.seeds": 1, "data.n_views": 6,
        "data.render_resolution": 56, "data.points_per_view": 48, "eval.objects": ["mug"], "eval.n_views": 12,
        "eval.resolution": 56, "eval.n_pairs": 2, "eval.n_points": 20, "eval.max_rotation_deg": 90.0,
        "train.steps": 200, "train.log_every": 1, "train.eval_every": 0, "train.eval_at_start": False,
        "train.threads": 1, "optim.lr": 0.01}


class FakeSettings(dict):
    def value(self, key, default=None):  # noqa: ANN001
        return self.get(key, default)

    def set_value(self, key, value):  # noqa: ANN001
        self[key] = value


def make_view() -> MagicMock:
    view = MagicMock()
    text = {"yaml": ""}
    view.set_config_text.side_effect = lambda t: text.__setitem__("yaml", t)
    view.config_text.side_effect = lambda: text["yaml"]
    view.resume_steps.return_value = 0
    return view


def last_message(view: MagicMock) -> tuple[str, bool]:
    args, kwargs = view.set_message.call_args
    return args[0], kwargs.get("ok", args[1] if len(args) > 1 else True)


@pytest.fixture
def controller(tmp_path):
    from corrviz.training.method import get_method

    ctx = SimpleNamespace(session=None, runner=SyncRunner(), settings=FakeSettings({"training/runs_folder": str(
        tmp_path / "runs")}), report_error=MagicMock(), show_status=MagicMock())
    view = make_view()
    launched: list = []
    checkpoints, compares = [], []

    def launch(argv, folder):  # noqa: ANN001
        proc = FakeProcess(argv, folder)
        launched.append(proc)
        return proc

    c = TrainingController(ctx, view, on_checkpoint=lambda p, info: checkpoints.append((p, info)),
                           on_compare=compares.append, launch=launch)
    mef = get_method("mef")
    c._on_catalog({"methods": {"mef": {"description": mef.description, "presets": [str(p) for p in mef.configs()],
                                       "defaults": mef.default_config()}},
                   "backbones": {"dinov2_vits14": "vit", "test_dinov2_tiny": "vit", "dense_sift": "classical"}, "devices": ["cpu"]})
    c.launched, c.checkpoints_seen, c.compares_seen = launched, checkpoints, compares
    return c


class FakeProcess:
    """Stands in for the corrviz-train child: the test writes the run folder it would write."""

    def __init__(self, argv, folder) -> None:  # noqa: ANN001
        self.argv, self.run_dir = argv, Path(folder)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.code = None
        self.cancel_requested = self.killed = False

    def poll(self):  # noqa: ANN201
        return self.code

    @property
    def running(self) -> bool:
        return self.code is None

    def cancel(self) -> None:
        self.cancel_requested = True

    def log_tail(self, lines: int = 8) -> str:
        return "Traceback: boom"


def write_run(folder: Path, steps: int, end: str | None, evals: list[tuple[int, float]] = (), total: int = 10,
              created: str = "20260101-000000") -> None:
    """A run folder as corrviz-train writes it (run.json, config.yaml, README, metrics, checkpoints/last)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.json").write_text(json.dumps({"method": "mef", "command": "corrviz-train mef", "created": created}))
    (folder / "config.yaml").write_text(f"method: mef\ntrain:\n  steps: {total}\n  batch_size: 1\n")
    readme = "# Training run\n\nStarted 2026 UTC with: `corrviz-train mef`\n\n"
    if end:
        readme += f"{end} 20260101-000100 UTC at step {steps}\n\n"
    (folder / "README.md").write_text(readme)
    rows = [{"step": s, "kind": "train", "time": 1.0 + s, "loss": 1.0 / s, "steps_per_s": 2.0} for s in range(1, steps + 1)]
    rows += [{"step": s, "kind": "eval", "time": 5.0, "pcdp@0.05": v, "ape": 0.1} for s, v in evals]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if steps:
        ck = folder / "checkpoints" / f"step_{steps:07d}"
        ck.mkdir(parents=True)
        (ck / "model.safetensors").write_bytes(b"x")
        os.symlink(ck.name, folder / "checkpoints" / "last")


# -- pure parts -------------------------------------------------------------------------------------
def test_data_choices_follow_the_method_config_keys():
    choices = {c.kind: c for c in data_choices("mef", {"objects": ["box"], "root": "", "seeds": 4})}
    assert choices["default"].supported and choices["categories"].supported and choices["folder"].supported
    assert not choices["video"].supported and "data.video" in choices["video"].why_not
    assert not choices["meshes"].supported and "data.mesh_dir" in choices["meshes"].why_not
    with_video = {c.kind: c for c in data_choices("x", {"video": ""})}
    assert with_video["video"].supported and not with_video["categories"].supported


def test_config_text_edits_keep_the_rest_and_reject_broken_yaml():
    from corrviz.training.config import ConfigError

    text = "method: mef\ntrain:\n  steps: 10\n  device: cpu\nmodel:\n  backbone: a\n"
    out = set_config_value(text, "model.backbone", "test_dinov2_tiny")
    assert read_config_value(out, "model.backbone") == "test_dinov2_tiny"
    assert read_config_value(out, "train.steps") == 10 and read_config_value(out, "train.device") == "cpu"
    assert read_config_value(set_config_value(out, "data.objects", ["box", "car"]), "data.objects") == ["box", "car"]
    with pytest.raises(ConfigError, match="not valid YAML"):
        set_config_value("train: [unclosed", "train.steps", 3)


def test_metrics_tail_reads_complete_lines_and_restarts_on_a_rewritten_file(tmp_path):
    path = tmp_path / "metrics.jsonl"
    tail = MetricsTail(path)
    assert tail.poll() == []  # no file yet
    path.write_text('{"step": 1, "kind": "train", "loss": 0.5}\n{"step": 2, "ki')
    assert [r["step"] for r in tail.poll()] == [1]  # the half-written line waits
    with open(path, "a") as fh:
        fh.write('nd": "train", "loss": 0.4}\n')
    assert [r["step"] for r in tail.poll()] == [2] and not tail.was_reset
    assert tail.poll() == []
    tmp = tmp_path / "new.jsonl"  # a resume rewrites the file (atomically: a new inode)
    tmp.write_text('{"step": 1, "kind": "train", "loss": 0.5}\n')
    os.replace(tmp, path)
    assert [r["step"] for r in tail.poll()] == [1] and tail.was_reset


def test_series_rate_eta_and_progress_line():
    s = RunSeries()
    assert s.add([{"step": 10, "kind": "eval", "pcdp@0.05": 0.3},
                  {"step": 20, "kind": "train", "loss": 0.5, "steps_per_s": 4.0},
                  {"step": 40, "kind": "train", "loss": 0.25, "steps_per_s": 2.0}]) == 2
    assert s.steps == [20, 40] and s.loss == [0.5, 0.25] and s.evals == {"pcdp@0.05": ([10], [0.3])}
    assert s.eta_seconds(100) == pytest.approx(30.0)  # 60 steps left at 2 step/s
    assert progress_text(s, 100) == "step 40/100 · loss 0.2500 · 2.00 step/s · ETA 30s"
    assert format_duration(75) == "1m15s" and format_duration(3725) == "1h02m" and format_duration(float("nan")) == "?"


def test_past_runs_status_metrics_and_order(tmp_path):
    write_run(tmp_path / "a", 4, "Finished", [(0, 0.2), (4, 0.35)], total=4, created="20260101-000000")
    write_run(tmp_path / "b", 2, "Cancelled", [(2, 0.25)], created="20260102-000000")
    write_run(tmp_path / "c", 0, None, created="20260103-000000")
    (tmp_path / "not_a_run").mkdir()
    runs = list_runs(tmp_path)
    assert [r.name for r in runs] == ["c", "b", "a"]  # newest first; folders without run.json left out
    c, b, a = runs
    assert (a.status, a.step, a.total_steps) == ("finished", 4, 4)
    assert a.first_metrics == {"pcdp@0.05": 0.2, "ape": 0.1} and a.final_metrics["pcdp@0.05"] == 0.35
    assert (b.status, b.step) == ("cancelled", 2) and b.first_metrics == {}  # no step-0 evaluation
    assert b.checkpoint == (tmp_path / "b" / "checkpoints" / "step_0000002" / "model.safetensors").resolve()
    assert c.status == "running or stopped" and c.checkpoint is None and "steps: 10" in c.config_text()
    with open(tmp_path / "b" / "README.md", "a") as fh:  # resumed after the cancel: running again
        fh.write("Resumed 2026 UTC at step 2 with: `corrviz-train mef --resume b`\n\n")
    assert run_status(tmp_path / "b") == ("running or stopped", None)


def test_compare_errors_against_a_known_affine():
    affine = np.array([[0.5, 0.0, 10.0], [0.0, 0.5, -4.0]])
    pts = np.array([[100.0, 40.0], [20.0, 20.0]])
    pred = np.array([[60.0, 16.0], [20.0 + 3.0, 6.0 + 4.0]])  # exact, then 5 px off
    np.testing.assert_allclose(affine_errors(pts, pred, affine), [0.0, 5.0])
    assert side_summary(np.array([0.5, 0.7]), np.array([0.0, 5.0]), 80) == \
        "mean error 2.5 px · PCK@0.05 1/2 · mean similarity 0.600"
    assert len(default_points(200, 100)) == 9 and default_points(200, 100)[4] == (100.0, 50.0)


def test_checkpoint_options_take_the_trained_tap_and_resolution():
    from corrviz.core.session import ExtractionOptions

    base = ExtractionOptions("dense_sift", 448)
    out = checkpoint_options(base, "/x/model.safetensors",
                             {"backbone": "test_dinov2_tiny", "feature": {"layer": -1, "facet": "norm", "resolution": 56}})
    assert (out.backbone, out.resolution, out.layer, out.facet, out.checkpoint) == \
        ("test_dinov2_tiny", 56, -1, "norm", "/x/model.safetensors")


# -- the controller ---------------------------------------------------------------------------------
def test_catalog_fills_the_view_and_the_editor(controller):
    v = controller.view
    v.set_methods.assert_called_with([("mef", controller.catalog["methods"]["mef"]["description"])])
    presets = v.set_presets.call_args[0][0]
    assert presets[0] == ("defaults", None) and any(label == "mef_vit_tiny_cpu.yaml" for label, _ in presets)
    v.set_backbones.assert_called_with(["dinov2_vits14", "test_dinov2_tiny"])  # the default's family only (ViT)
    assert read_config_value(v.config_text(), "model.backbone") == "dinov2_vits14"  # the method's defaults
    v.show_method.assert_called_with("mef")  # the panel shows the method the controller holds
    preset = next(p for label, p in presets if label == "mef_vit_tiny_cpu.yaml")
    controller.select_preset(preset)
    v.show_preset.assert_called_with(preset)  # ... and the preset whose config the editor holds
    assert read_config_value(v.config_text(), "model.backbone") == "vit_tiny_patch16_224"
    assert read_config_value(v.config_text(), "train.steps") == 1200


def test_check_shows_the_config_errors_in_the_panel(controller):
    c, v = controller, controller.view
    c.set_value("train.stepz", 3)
    c.check()
    text, ok = last_message(v)
    assert not ok and "unknown config key 'train.stepz'" in text and "steps" in text
    c.select_preset(None)
    c.set_value("train.steps", "many")
    c.check()
    text, ok = last_message(v)
    assert not ok and "'train.steps' expects a int" in text and "many" in text
    c.select_preset(None)
    for k, val in TINY.items():
        c.set_value(k, val)
    c.set_data("categories", ["mug"])  # a held-out category: refused before anything runs
    c.check()
    text, ok = last_message(v)
    assert not ok and "held out" in text
    assert c.launched == []


def test_start_follows_the_metrics_then_hands_over_the_checkpoint(controller, tmp_path):
    c, v = controller, controller.view
    for k, val in TINY.items():
        c.set_value(k, val)
    c.start()
    assert len(c.launched) == 1, last_message(v)
    proc = c.launched[0]
    folder = proc.run_dir
    assert folder.parent == (tmp_path / "runs").resolve() and folder.name.startswith("mef-")
    assert proc.argv[proc.argv.index("--config") + 1] == str(folder / PANEL_CONFIG)
    assert f"run.name={folder.name}" in proc.argv and f"run.out_dir={folder.parent}" in proc.argv
    assert read_config_value((folder / PANEL_CONFIG).read_text(), "model.backbone") == "test_dinov2_tiny"
    v.set_running.assert_called_with(True)
    c.start()  # a second start while one runs is refused
    assert len(c.launched) == 1 and "already going" in last_message(v)[0]
    write_run(folder, 2, None, total=200)  # the child has logged two steps
    c.poll()
    series = v.show_series.call_args[0][0]
    assert series.steps == [1, 2] and series.loss == [1.0, 0.5]
    assert v.set_progress_text.call_args[0][0].startswith("step 2/200 · loss 0.5000 · 2.00 step/s · ETA 1m39s")
    c.cancel()
    assert proc.cancel_requested and "stopping after the current step" in last_message(v)[0]
    with open(folder / "README.md", "a") as fh:
        fh.write("Cancelled 20260101-000100 UTC at step 2\n\n")
    proc.code = 130
    c.poll()
    assert c.process is None
    v.set_running.assert_called_with(False)
    text, ok = last_message(v)
    assert ok and text.startswith("cancelled at step 2; last checkpoint")
    (path, info), = c.checkpoints_seen
    assert path == (folder / "checkpoints" / "step_0000002" / "model.safetensors").resolve() and info.step == 2
    assert [r.name for r in c.compares_seen] == [folder.name]
    assert folder.name in [r.name for r in v.set_runs.call_args[0][0]]


def test_a_crashed_run_says_so_with_its_log(controller):
    c, v = controller, controller.view
    for k, val in TINY.items():
        c.set_value(k, val)
    c.start()
    proc = c.launched[0]
    proc.code = 1
    c.poll()
    text, ok = last_message(v)
    assert not ok and "exit code 1" in text and "no checkpoint was written" in text and "Traceback: boom" in text
    assert c.checkpoints_seen == [] and c.compares_seen == []


def test_resume_needs_a_checkpoint_and_more_steps(controller, tmp_path):
    c, v = controller, controller.view
    runs = tmp_path / "runs"
    write_run(runs / "done", 4, "Finished", total=4)
    write_run(runs / "empty", 0, None)
    c.resume(str(runs / "empty"))
    assert "no last checkpoint" in last_message(v)[0] and c.launched == []
    c.resume(str(runs / "done"))
    assert "give more steps" in last_message(v)[0] and c.launched == []
    v.resume_steps.return_value = 8
    c.ctx.runner.submit = lambda ch, fn, on_result=None, on_error=None, **kw: on_result(None, 0.0)  # skip prepare
    c.resume(str(runs / "done"))
    argv = c.launched[0].argv
    assert argv[argv.index("--resume") + 1] == str(runs / "done") and "train.steps=8" in argv
    assert c.total_steps == 8


def test_cancel_sends_sigint_first_and_kills_on_the_second(tmp_path):
    script = ("import signal, sys, time\n"
              "signal.signal(signal.SIGINT, lambda *a: print('SIGINT: saving', flush=True))\n"
              "print('ready', flush=True)\n"
              "time.sleep(60)\n")
    proc = TrainProcess([sys.executable, "-c", script], tmp_path / "run")
    t0 = time.time()
    while "ready" not in proc.log_tail() and time.time() - t0 < 20:
        time.sleep(0.05)
    proc.cancel()
    t0 = time.time()
    while "SIGINT" not in proc.log_tail() and time.time() - t0 < 20:
        time.sleep(0.05)
    assert proc.running and "SIGINT: saving" in proc.log_tail()  # the trainer's handler runs; it keeps going
    proc.cancel()
    assert proc.wait(20) == -9 and proc.killed and not proc.running
