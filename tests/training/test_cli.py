"""corrviz-train: --list, bad input before any training, SIGINT from the command line, DDP under torchrun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from corrviz.training.cli import main

from .conftest import module_tensors, train_losses

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "corrviz.training.cli", *args]


def test_list_shows_methods_and_configs(capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    starts = [line.split()[0] for line in out.splitlines() if line and not line[0].isspace()]
    from corrviz.training.method import list_methods

    assert starts == sorted(list_methods()) and "mef" in starts  # one line per method, then its configs
    assert "mef_vit_tiny_cpu.yaml" in out and "mef_paper.yaml" in out


@pytest.mark.parametrize("args, message", [
    (["mfe"], "unknown training method 'mfe'. Did you mean: mef?"),
    (["mef", "optim.lrr=1"], "unknown config key 'optim.lrr'. Did you mean: lr? Valid keys under 'optim': betas, "),
    (["mef", "train.steps=many"], "config key 'train.steps' expects a int (default 4), got string 'many'"),
    (["mef", "model.backbone=dinov3"], "unknown backbone 'dinov3'"),
    (["mef", "data.objects=[mug]"], "category 'mug' is held out for evaluation"),
    (["mef", "data.seed_start=0"], "seed 0 is reserved for evaluation"),
    (["mef", "train.amp=bf16"], "bf16 autocast is used on CUDA only"),
])
def test_bad_input_is_one_line_before_training(tiny_config, capsys, args, message):
    cmd = [args[0], "--config", str(tiny_config), *args[1:]] if args[0] == "mef" else args
    assert main(cmd) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1
    assert not (tiny_config.parent / "runs").exists()  # nothing was started


def test_data_folder_in_the_wrong_layout(tiny_config, tmp_path, capsys):
    (tmp_path / "notdata").mkdir()
    (tmp_path / "notdata" / "image.png").write_bytes(b"")
    assert main(["mef", "--config", str(tiny_config), f"data.root={tmp_path / 'notdata'}"]) == 2
    err = capsys.readouterr().err
    assert "notdata/dataset.json" in err and "not a corrviz dataset" in err


def test_resume_folder_of_another_method(tiny_config, tmp_path, capsys):
    other = tmp_path / "sph-run"
    other.mkdir()
    (other / "run.json").write_text(json.dumps({"method": "sph"}))
    assert main(["mef", "--resume", str(other)]) == 2
    assert "is a run of method 'sph', it cannot be resumed as 'mef'" in capsys.readouterr().err
    assert main(["mef", "--resume", str(tmp_path / "nowhere")]) == 2
    assert "run folder does not exist" in capsys.readouterr().err


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    env["OMP_NUM_THREADS"] = "1"
    return env


def test_sigint_saves_a_checkpoint_that_resumes(tiny_config):
    run = tiny_config.parent / "runs" / "sigint"
    proc = subprocess.Popen(_cli("mef", "--config", str(tiny_config), "run.name=sigint", "train.steps=400",
                                 "train.save_last_every=0"), env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if (run / "metrics.jsonl").exists() and len(train_losses(run)) >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "stopping after this step" in err and f"--resume {run}" in out
    link = run / "checkpoints" / "last"
    stopped = int(link.resolve().name.split("_")[1])
    assert stopped >= 2 and len(train_losses(run)) == stopped
    resumed = subprocess.run(_cli("mef", "--resume", str(run), f"train.steps={stopped + 1}"), env=_env(),
                             capture_output=True, text=True, timeout=240)
    assert resumed.returncode == 0, resumed.stderr
    assert link.resolve().name == f"step_{stopped + 1:07d}" and len(train_losses(run)) == stopped + 1


def test_ddp_two_processes_match_one_process(tiny_config):
    """torchrun --nproc_per_node 2 (gloo) with batch 1 each == 1 process with batch 2, within 1e-5."""
    from corrviz.training import train

    steps = ["train.steps=5", "train.save_last_every=0"]
    single = train("mef", tiny_config, ["run.name=single", "train.batch_size=2", *steps])
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                          "--master_port", "29671", "-m", "corrviz.training.cli", "mef", "--config",
                          str(tiny_config), "run.name=ddp", "train.batch_size=1", "--quiet", *steps],
                         env=_env(), capture_output=True, text=True, timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    run = tiny_config.parent / "runs" / "ddp"
    a, b = train_losses(single.run_dir), train_losses(run)
    assert len(a) == len(b) == 5
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-5
    assert len(set(a)) == 5
    wa, wb = module_tensors(single.run_dir), module_tensors(run)
    assert sorted(wa) == sorted(wb)
    # Adam divides by sqrt(v): float-level gradient differences grow to ~1e-5 of each tensor after 5 steps at lr
    # 1e-2, and to ~1e-4 absolute in single elements whose gradient is near 0 (there sign noise drives the step),
    # so the bound is on each tensor's relative difference (measured <= 3.1e-5 with torch 2.14.1)
    assert max(float((wa[k] - wb[k]).norm() / wa[k].norm()) for k in wa) < 1e-4
    assert json.loads((run / "run.json").read_text())["environment"]["world_size"] == 2
    assert torch.cat([v.flatten() for k, v in wb.items() if "lora_b" in k]).abs().max() > 0


def test_progress_lines_in_logs_show_loss_rate_and_eta(monkeypatch):
    import io

    from corrviz.training import cli

    clock = iter([0.0, 100.0, 101.0, 102.0, 103.0, 104.0])  # start; 100 s of setup; then 1 s per step
    monkeypatch.setattr(cli.time, "time", lambda: next(clock))
    buf = io.StringIO()
    p = cli.TrainProgress(every=2, stream=buf)
    p.start(10, "training")
    for _ in range(5):
        p.step(1, "loss 0.5000 lr 1.00e-04")
    lines = buf.getvalue().splitlines()
    assert lines == ["step 2/10  loss 0.5000 lr 1.00e-04  1.00 step/s  eta 0m08s",
                     "step 4/10  loss 0.5000 lr 1.00e-04  1.00 step/s  eta 0m06s"]
