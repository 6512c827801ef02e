"""Tiny MEF runs for the trainer tests: a 3-block random-init ViT at 56 px, 2 objects x 6 views."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

TINY = """
method: mef
run: {{out_dir: {out}, seed: 0}}
optim: {{lr: 1.0e-2}}
schedule: {{kind: cosine, warmup_steps: 1}}
train: {{steps: 4, batch_size: 1, log_every: 1, eval_every: 0, eval_at_start: false, save_last_every: 1}}
model: {{backbone: test_dinov2_tiny, pretrained: false, resolution: 56, lora_blocks: 2}}
data: {{objects: [box, chair], seeds: 1, n_views: 6, render_resolution: 56, points_per_view: 48,
        max_rotation_deg: 120.0}}
eval: {{objects: [mug], n_views: 12, resolution: 56, n_pairs: 2, n_points: 20, max_rotation_deg: 90.0}}
"""


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY.format(out=tmp_path / "runs"))
    return path


def train_losses(run_dir: Path) -> list[float]:
    rows = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines() if line]
    return [r["loss"] for r in rows if r["kind"] == "train"]


def module_tensors(run_dir: Path, which: str = "last") -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(Path(run_dir) / "checkpoints" / which / "model.safetensors"))
