"""The trainer on a tiny MEF run: bit-exact resume, cancel, atomic checkpoints, run folder."""

from __future__ import annotations

import json

import pytest
import torch

from corrviz.core.backbones import create_backbone
from corrviz.core.checkpoint import apply_checkpoint
from corrviz.core.progress import Progress
from corrviz.training import train
from corrviz.training.checkpoints import load_checkpoint_folder

from .conftest import module_tensors, train_losses


def _assert_same_weights(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_is_bit_exact(tiny_config):
    straight = train("mef", tiny_config, ["run.name=straight", "train.eval_every=2", "train.eval_at_start=true"])
    assert straight.status == "finished" and straight.step == 4
    half = train("mef", tiny_config, ["run.name=halves", "train.steps=4", "train.eval_every=2",
                                      "train.eval_at_start=true"], progress=_CancelAt(2))
    assert half.status == "cancelled" and half.step == 2
    resumed = train("mef", resume=half.run_dir)
    assert resumed.status == "finished" and resumed.step == 4
    a, b = train_losses(straight.run_dir), train_losses(resumed.run_dir)
    assert len(a) == 4 and a == b  # identical floats, not approximately
    assert len(set(a)) == 4  # the loss really changes from step to step
    _assert_same_weights(module_tensors(straight.run_dir), module_tensors(resumed.run_dir))
    # the trained weights moved away from the zero-initialised LoRA B
    lora_b = [v for k, v in module_tensors(straight.run_dir).items() if "lora_b" in k]
    assert lora_b and all(float(v.abs().max()) > 0 for v in lora_b)
    readme = (resumed.run_dir / "README.md").read_text()
    assert "Started" in readme and "Resumed" in readme and "at step 2" in readme


class _CancelAt(Progress):
    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def step(self, n: int = 1, message: str | None = None) -> None:
        if self.done + n >= self.at:
            self.cancel()
        super().step(n, message)


def test_progress_cancel_leaves_a_loadable_checkpoint(tiny_config):
    res = train("mef", tiny_config, ["run.name=cancel", "train.steps=50", "train.save_last_every=0"],
                progress=_CancelAt(1))
    assert res.status == "cancelled" and res.step == 1
    folder = res.run_dir / "checkpoints" / "last"
    model_file, _, meta = load_checkpoint_folder(folder.resolve())
    assert meta["step"] == 1 and meta["sampler"]["draws"] == 1
    adapted = apply_checkpoint(create_backbone("test_dinov2_tiny", pretrained=False), model_file)
    assert [s["type"] for s in adapted.specs] == ["lora", "conv"]
    assert "Cancelled" in (res.run_dir / "README.md").read_text()


def test_killed_write_keeps_the_previous_checkpoint(tiny_config, monkeypatch):
    import safetensors.torch

    ok = train("mef", tiny_config, ["run.name=kill", "train.steps=2"])
    before = module_tensors(ok.run_dir)
    real = safetensors.torch.save_file

    def dies_midway(tensors, filename, metadata=None):
        real(tensors, filename, metadata=metadata)
        with open(filename, "r+b") as fh:  # half the file is on disk when the process "dies"
            fh.truncate(fh.seek(0, 2) // 2)
        raise KeyboardInterrupt

    monkeypatch.setattr(safetensors.torch, "save_file", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        train("mef", resume=ok.run_dir, overrides=["train.steps=3"])
    monkeypatch.setattr(safetensors.torch, "save_file", real)
    last = ok.run_dir / "checkpoints" / "last"
    assert last.resolve().name == "step_0000002"
    _assert_same_weights(before, module_tensors(ok.run_dir))
    new = ok.run_dir / "checkpoints" / "step_0000003"
    assert not (new / "model.safetensors").exists() and not (new / "trainer.safetensors").exists()
    assert not [p for p in new.parent.rglob("*") if p.name.startswith(".")]  # no temporary left behind
    again = train("mef", resume=ok.run_dir, overrides=["train.steps=3"])
    assert again.status == "finished" and again.step == 3


def test_run_folder_contents(tiny_config):
    res = train("mef", tiny_config, ["run.name=folder", "train.steps=2", "train.eval_every=1"])
    d = res.run_dir
    run = json.loads((d / "run.json").read_text())
    assert run["method"] == "mef" and "commit" in run["git"] and "dirty" in run["git"]
    assert run["environment"]["torch"] == torch.__version__ and run["environment"]["device"] == "cpu"
    assert "train.eval_every=1" in run["command"] and "corrviz-train" in (d / "README.md").read_text()
    cfg = (d / "config.yaml").read_text()
    assert "eval_every: 1" in cfg and "backbone: test_dinov2_tiny" in cfg
    rows = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [1, 2]
    assert all(0 <= r["pcdp@0.05"] <= 1 and r["ape"] > 0 for r in evals)
    trains = [r for r in rows if r["kind"] == "train"]
    assert [r["step"] for r in trains] == [1, 2] and all(r["lr"] > 0 for r in trains)
    assert (d / "checkpoints" / "best").exists() and (d / "checkpoints" / "last").exists()
