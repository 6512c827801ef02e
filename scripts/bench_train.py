"""MEF training speed: steps/s, step / bare forward+backward ratio, achieved GFLOP/s vs a torch matmul.

``python scripts/bench_train.py [--device cuda] [--steps 5] [--points 3000]``

For each setting (default: ``vit_tiny_patch16_224`` at 224 and 448 px with the real weights when
CORRVIZ_WEIGHTS has them, ``dinov2_vits14`` random init at 448 px) it builds the MEF plug-in's
model and data exactly as ``corrviz-train mef`` does and times, on the same batch:

* a training step: data pipeline (pair sampling, ray-cast correspondences, augmentation) +
  forward + SmoothAP loss + backward + clipping + AdamW step (``corrviz.training.trainer.train_step``);
* a bare forward+backward of the same model on the same images (backward of the feature sum).

A second table (3DPoV, ``--pov-setting``; ``--setting none`` prints only it) times a full 3DPoV step
(clip batch, student + teacher forward, sorting networks, ranking CE, backward, AdamW) and the share
of it spent in the sorting networks and the loss.

Ratio = step / bare (target <= 1.25: data and loss add at most 25 %). FLOPs of the bare
forward+backward are counted with ``torch.utils.flop_counter``; GFLOP/s = those FLOPs / time, next
to a square matmul measured in the same run (fp32 on CPU, bf16 on CUDA). On CUDA the step runs in
bf16 autocast. Medians over ``--steps`` timed repetitions after one warm-up. "step CPU s" is the
process CPU time of a step (all threads): on a shared machine it shows what the step costs when the
cores are not also busy with other work (wall ~ CPU / threads when idle).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

DEFAULTS = [("vit_tiny_patch16_224", 224, True), ("vit_tiny_patch16_224", 448, True), ("dinov2_vits14", 448, False)]


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def matmul_gflops(dev: torch.device, n: int, reps: int = 5) -> float:
    dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    a = torch.randn(n, n, device=dev, dtype=dtype)
    b = torch.randn(n, n, device=dev, dtype=dtype)
    a @ b
    _sync(dev)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        _sync(dev)
        times.append(time.perf_counter() - t)
    return 2 * n ** 3 / statistics.median(times) / 1e9


def bench_setting(backbone: str, resolution: int, pretrained: bool, args: argparse.Namespace) -> dict:
    from corrviz.core.backbones import weights_available
    from corrviz.training.methods.mef import MEF
    from corrviz.training.optim import build_optimizer
    from corrviz.training.trainer import prepare, train_step

    if pretrained and not weights_available(backbone)[0]:
        pretrained = False
    dev = torch.device(args.device)
    amp = dev.type == "cuda"
    over = [f"model.backbone={backbone}", f"model.pretrained={str(pretrained).lower()}",
            f"model.resolution={resolution}", f"data.render_resolution={args.render or resolution}",
            f"data.points_per_view={args.points}", f"data.objects=[{','.join(args.objects)}]", "data.seeds=1",
            f"data.n_views={args.views}", f"train.device={args.device}", "eval.n_views=42"]
    if args.lora_blocks:
        over.append(f"model.lora_blocks={args.lora_blocks}")
    _, cfg, _ = prepare("mef", None, over)
    method = MEF()
    model = method.build_model(cfg, dev)
    data = method.build_data(cfg)
    params = [p for _, p in model.trainable_parameters()]
    opt = build_optimizer(params, cfg)

    # one fixed pair with a typical number of points: every timed step samples this same batch again
    # (the full data pipeline runs each time) and the bare forward+backward uses its images
    index = next((k for k in range(0, len(data), max(1, len(data) // 50))
                  if len(data.sample(k, np.random.default_rng([0, k]))["q_xy"]) >= 0.5 * args.points), 0)

    def batch(_: int):
        return data.collate([data.sample(index, np.random.default_rng([0, index]))])

    cpu_times: list[float] = []

    def full(k: int) -> float:
        t, c = time.perf_counter(), time.process_time()
        train_step(model, opt, params, batch(k), 1.0, dev, amp)
        _sync(dev)
        cpu_times.append(time.process_time() - c)
        return time.perf_counter() - t

    fixed = batch(0)
    images = torch.cat([it["images"] for it in fixed]).to(dev)

    bare_cpu: list[float] = []

    def bare() -> float:
        t, c = time.perf_counter(), time.process_time()
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            feats = model.features(images)
        opt.zero_grad(set_to_none=True)
        feats.float().sum().backward()
        _sync(dev)
        bare_cpu.append(time.process_time() - c)
        return time.perf_counter() - t

    full(0)
    bare()
    cpu_times.clear()
    step_s = statistics.median(full(k + 1) for k in range(args.steps))
    step_cpu = statistics.median(cpu_times)
    bare_cpu.clear()
    bare_s = statistics.median(bare() for _ in range(args.steps))
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            feats = model.features(images)
        feats.float().sum().backward()
    flops = fc.get_total_flops()
    return {"backbone": backbone, "px": resolution, "weights": "pretrained" if pretrained else "random-init",
            "step_s": step_s, "bare_s": bare_s, "ratio": step_s / bare_s, "gflop": flops / 1e9,
            "gflops": flops / 1e9 / bare_s, "step_cpu_s": step_cpu, "bare_cpu_s": statistics.median(bare_cpu), "queries": len(fixed[0]["q_xy"]), "candidates": len(fixed[0]["c_xy"])}


def bench_pov(backbone: str, resolution: int, pretrained: bool, args: argparse.Namespace) -> dict:
    """3DPoV: a full training step (clip batch, student + teacher forward, sorting networks, CE, backward, AdamW)
    and the share of it spent in the sorting networks and the ranking loss (PovModel.sort_seconds)."""
    from corrviz.core.backbones import weights_available
    from corrviz.training.methods.pov import Pov
    from corrviz.training.optim import build_optimizer
    from corrviz.training.trainer import prepare, train_step

    if pretrained and not weights_available(backbone)[0]:
        pretrained = False
    dev = torch.device(args.device)
    over = [f"model.backbone={backbone}", f"model.pretrained={str(pretrained).lower()}", f"model.resolution={resolution}",
            f"data.render_resolution={resolution}", f"data.objects=[{','.join(args.objects)}]", "data.seeds=1",
            "data.clips_per_object=2", f"data.points_per_clip={args.pov_points}", f"train.batch_size={args.pov_batch}",
            f"loss.network={args.pov_network}", f"train.device={args.device}"]
    grid = resolution // 16 if "patch16" in backbone else resolution // 14
    if grid < 8:
        over.append(f"data.crop={grid}")
    _, cfg, _ = prepare("3dpov", None, over)
    method = Pov()
    model = method.build_model(cfg, dev)
    data = method.build_data(cfg)
    params = [p for _, p in model.trainable_parameters()]
    opt = build_optimizer(model.param_groups(), cfg)

    def step(k: int) -> tuple[float, float]:
        items = [data.sample(i % len(data), np.random.default_rng([0, i])) for i in range(args.pov_batch)]
        t = time.perf_counter()
        train_step(model, opt, params, data.collate(items), 1.0, dev, dev.type == "cuda")
        _sync(dev)
        return time.perf_counter() - t, model.sort_seconds

    step(0)
    times = [step(k + 1) for k in range(args.steps)]
    step_s = statistics.median(t for t, _ in times)
    sort_s = statistics.median(s for _, s in times)
    return {"backbone": backbone, "px": resolution, "weights": "pretrained" if pretrained else "random-init",
            "step_s": step_s, "sort_s": sort_s, "network": args.pov_network}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=5, help="timed repetitions (after one warm-up)")
    p.add_argument("--points", type=int, default=3000, help="foreground points per view (the spec's 3000)")
    p.add_argument("--setting", action="append", default=None, metavar="BACKBONE:PX[:pretrained]",
                   help="override the default settings, e.g. test_dinov2_tiny:56")
    p.add_argument("--objects", nargs="+", default=["chair", "box"])
    p.add_argument("--views", type=int, default=42)
    p.add_argument("--render", type=int, default=0, help="render resolution (default: the model resolution)")
    p.add_argument("--lora-blocks", type=int, default=0)
    p.add_argument("--matmul", type=int, default=2048, help="side of the reference matmul")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--pov-setting", action="append", default=None, metavar="BACKBONE:PX[:pretrained]",
                   help="3DPoV rows (default: the first --setting, else vit_tiny_patch16_224:224:pretrained); "
                   "--pov-setting none skips them")
    p.add_argument("--pov-batch", type=int, default=4, help="3DPoV clips per batch [4, the CPU config]")
    p.add_argument("--pov-points", type=int, default=32, help="3DPoV tracks per clip [32, the CPU config]")
    p.add_argument("--pov-network", default="bitonic", help="3DPoV sorting network [bitonic, the CPU config]")
    args = p.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device is available")
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = DEFAULTS
    if args.setting == ["none"]:
        settings, args.setting = [], None  # 3DPoV rows only
    elif args.setting:
        settings = []
        for s in args.setting:
            parts = s.split(":")
            settings.append((parts[0], int(parts[1]), len(parts) > 2 and parts[2] == "pretrained"))
    dev = torch.device(args.device)
    ref = matmul_gflops(dev, args.matmul)
    rows = [bench_setting(b, r, pre, args) for b, r, pre in settings]
    ref_after = matmul_gflops(dev, args.matmul)
    ref = max(ref, ref_after)
    print(f"device {args.device} ({'bf16 autocast' if dev.type == 'cuda' else 'fp32'}), torch threads "
          f"{torch.get_num_threads()}, {args.points} points per view; matmul {args.matmul}^2: {ref:.1f} GFLOP/s")
    head = (f"{'backbone':22s} {'px':>4s} {'weights':11s} {'Q':>5s} {'M':>5s} {'step s':>7s} {'steps/s':>7s} "
            f"{'fwd+bwd s':>9s} {'ratio':>6s} {'GFLOP':>6s} {'GFLOP/s':>8s} {'% matmul':>8s} {'step CPU s':>10s} {'fwd+bwd CPU s':>13s} {'CPU ratio':>9s}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['backbone']:22s} {r['px']:4d} {r['weights']:11s} {r['queries']:5d} {r['candidates']:5d} "
              f"{r['step_s']:7.3f} {1 / r['step_s']:7.2f} {r['bare_s']:9.3f} {r['ratio']:6.2f} {r['gflop']:6.1f} "
              f"{r['gflops']:8.1f} {100 * r['gflops'] / ref:7.1f}% {r['step_cpu_s']:10.3f} {r['bare_cpu_s']:13.3f} "
              f"{r['step_cpu_s'] / r['bare_cpu_s']:9.2f}")
    pov = args.pov_setting or (args.setting[:1] if args.setting else ["vit_tiny_patch16_224:224:pretrained"])
    if pov != ["none"]:
        print(f"3DPoV: {args.pov_batch} clips x 4 frames, {args.pov_points} tracks per clip, 5 references of "
              f"8x8 patches, {args.pov_network} network")
        head = f"{'method':7s} {'backbone':22s} {'px':>4s} {'weights':11s} {'step s':>7s} {'steps/s':>7s} {'sort s':>7s} {'sort %':>6s}"
        print(head)
        print("-" * len(head))
        for s in pov:
            parts = s.split(":")
            r = bench_pov(parts[0], int(parts[1]), len(parts) > 2 and parts[2] == "pretrained", args)
            print(f"{'3dpov':7s} {r['backbone']:22s} {r['px']:4d} {r['weights']:11s} {r['step_s']:7.3f} "
                  f"{1 / r['step_s']:7.2f} {r['sort_s']:7.3f} {100 * r['sort_s'] / r['step_s']:6.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
