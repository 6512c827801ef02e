"""``corrviz-train diy_sc labels`` and ``corrviz-train diy_sc ablation``: DIY-SC's own commands.

::

    corrviz-train diy_sc labels --data SYNTH --split train --out labels.safetensors \
        [--backbone B --weights F --resolution R --source -1:prenorm ...] [--mapper SPH_CKPT] \
        [--filter none|cycle|cycle+sphere] [--tuples N] [--seed-every 3] [--r-max 2] \
        [--sphere-angle 0.4712] [--max-per-pair 50] [--seed 0] [--report report.json]

writes the label store and prints the count and (on a synthetic SPair) the precision of every stage:
raw chaining, + cycle consistency, + spherical rejection.

::

    corrviz-train diy_sc ablation --data SYNTH --mapper SPH_CKPT --out DIR --config CFG [key=value ...]

builds the three label stores (no filter / cycle only / cycle + sphere) of the train split and one
validation store for each, trains one adapter on each with the SAME config, evaluates each on the
held-out test split with the same protocol (PCK@0.1 bbox, per image and per keypoint, by viewpoint
bin, window soft-argmax), and writes DIR/ablation.json and DIR/ablation.md (with the base backbone
as the first row).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from corrviz.core.errors import CorrvizError

from .diy_sc_labels import STAGES, LabelOptions, generate_labels


def _source(text: str) -> tuple[int, str]:
    layer, _, facet = text.partition(":")
    try:
        return int(layer), facet or "prenorm"
    except ValueError:
        raise argparse.ArgumentTypeError(f"--source {text!r}: give LAYER:FACET, e.g. -1:prenorm") from None


def label_parser(prog: str = "corrviz-train diy_sc labels") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="DIY-SC pseudo-labels of a synthetic SPair split.")
    p.add_argument("--data", required=True, help="synthetic SPair folder (corrviz-data synthetic-spair)")
    p.add_argument("--split", default="train", choices=("train", "val", "test"))
    p.add_argument("--out", required=True, help="label store to write (.safetensors; a .json summary beside it)")
    p.add_argument("--category", action="append", default=[], help="only these categories (repeatable)")
    p.add_argument("--backbone", default="dinov2_vitb14")
    p.add_argument("--weights", default="", help="backbone weights file (else CORRVIZ_WEIGHTS / hub)")
    p.add_argument("--resolution", type=int, default=840, help="canvas side in px (paper: 840)")
    p.add_argument("--source", type=_source, action="append", default=[], metavar="LAYER:FACET",
                   help="feature source (repeatable; each L2-normalised, concatenated); default -1:prenorm")
    p.add_argument("--mapper", default="", help="trained SPH sphere-mapper checkpoint (spherical rejection)")
    p.add_argument("--filter", default="cycle+sphere", choices=("none", "cycle", "cycle+sphere"),
                   help="which labels the store keeps (all stages are measured either way)")
    p.add_argument("--tuples", type=int, default=200, help="4-tuples per category")
    p.add_argument("--seed-every", type=int, default=3, help="seed every n-th foreground cell of the first image")
    p.add_argument("--r-max", type=float, default=2.0, help="cycle-consistency radius in cells (paper 1, code 2)")
    p.add_argument("--sphere-angle", type=float, default=0.15 * math.pi, help="geodesic rejection angle (rad)")
    p.add_argument("--max-per-pair", type=int, default=50)
    p.add_argument("--alpha", type=float, default=0.1, help="precision threshold (x bbox side)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-measure", action="store_true", help="skip the precision measurement")
    p.add_argument("--report", default="", help="also write the report as JSON here")
    return p


def options(a: argparse.Namespace, filt: str | None = None, out: str | None = None, split: str | None = None
            ) -> LabelOptions:
    return LabelOptions(data=a.data, out=out or a.out, split=split or a.split, categories=tuple(a.category),
                        backbone=a.backbone, weights=a.weights, resolution=a.resolution,
                        sources=tuple(a.source) or ((-1, "prenorm"),), tuples=a.tuples, seed_every=a.seed_every,
                        r_max=a.r_max, sphere_angle=a.sphere_angle, mapper=a.mapper, filter=filt or a.filter,
                        max_per_pair=a.max_per_pair, alpha=a.alpha, seed=a.seed, measure=not a.no_measure)


def format_report(report: dict[str, Any]) -> str:
    lines = []
    prec = report.get("precision")
    names = {"raw": "raw chaining", "cycle": "+ cycle consistency", "sphere": "+ spherical rejection"}
    for s in STAGES:
        n = report["tracks_per_stage"][s]
        if prec:
            p = prec[s]
            lines.append(f"{names[s]:24s} tracks {n:7d}  labels {p['labels']:8d}  precision {100 * p['precision']:6.2f} %")
        else:
            lines.append(f"{names[s]:24s} tracks {n:7d}")
    lines.append(f"store: {report['n_pairs']} pairs, {report['n_labels']} labels -> {report['out']}")
    return "\n".join(lines)


def labels_main(argv: list[str]) -> int:
    from corrviz.core.io import write_json

    from ..cli import TrainProgress

    a = label_parser().parse_args(argv)
    o = options(a)
    from .diy_sc_labels import check_options

    check_options(o)
    report = generate_labels(o, TrainProgress(every=50))
    print(format_report(report))
    if a.report:
        write_json(a.report, report)
    if report["n_labels"] == 0:
        print("corrviz-train diy_sc labels: no label survived the filters; nothing to train on", file=sys.stderr)
        return 1
    return 0


ABLATION = ("none", "cycle", "cycle+sphere")


def ablation_parser() -> argparse.ArgumentParser:
    p = label_parser("corrviz-train diy_sc ablation")
    p.description = ("DIY-SC ablation: label stores with no filter / cycle only / cycle + sphere from the same "
                     "tuples, one adapter trained on each with the same config, all evaluated the same way.")
    for a in p._actions:
        if a.dest == "out":
            a.help = "folder for the label stores, runs, evaluations and the table"
        if a.dest == "split":
            a.help = "(ignored: train labels from the train split, validation labels from val, evaluation on test)"
    p.add_argument("--config", default="training/configs/diy_sc_vit_tiny_cpu.yaml", help="training config of every arm")
    p.add_argument("--val-tuples", type=int, default=20, help="4-tuples per category of the validation store")
    p.add_argument("--eval-split", default="test", help="split the arms are evaluated on (held-out instances)")
    p.add_argument("--eval-category", action="append", default=[], help="evaluation categories (default: the labels')")
    p.add_argument("--only", choices=ABLATION, default=None, help="train / evaluate this arm only (run arms in parallel)")
    p.add_argument("--labels-only", action="store_true", help="write the label stores and stop")
    p.add_argument("overrides", nargs="*", help="config overrides key=value for every arm")
    return p


def _arm_name(filt: str) -> str:
    return filt.replace("+", "_")


def _pck_rows(path: Path) -> dict[str, float]:
    rows = json.loads(path.read_text())["results"]
    out = {}
    for r in rows:
        if r.get("metric") == "pck" and r.get("alpha") == 0.1 and r.get("norm") == "bbox" \
                and r.get("category") == "all" and r.get("aggregation") in ("per_image", "per_keypoint"):
            out[f"{r['aggregation']}/{r['viewpoint']}"] = float(r["value"])
    if not out:
        raise CorrvizError(f"{path}: no PCK@0.1 (bbox) rows")
    return out


def _evaluate(a: argparse.Namespace, out: Path, tag: str, checkpoint: str | None) -> dict[str, float]:
    from corrviz.core.commands import eval as eval_cli

    folder = out / "eval" / tag
    found = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not found:
        cats = a.eval_category or a.category
        argv = ["synthetic-spair", "--data", a.data, "--split", a.eval_split, "--backbone", a.backbone,
                "--resolution", str(a.resolution), "--matcher", "soft-argmax", "--out", str(folder), "--no-plots",
                "--quiet"] + [x for c in cats for x in ("--category", c)]
        if a.weights:
            argv += ["--weights", a.weights]
        if checkpoint:
            argv += ["--checkpoint", checkpoint]
        else:
            layer, facet = a.source[-1] if a.source else (-1, "prenorm")
            argv += ["--layer", str(layer), "--facet", facet]
        rc = eval_cli.main(argv)
        if rc != 0:
            raise CorrvizError(f"evaluation of {tag} failed (corrviz-eval exit {rc})")
        found = sorted(folder.glob("*.json"))
    return _pck_rows(found[0])


def ablation_main(argv: list[str]) -> int:
    from corrviz.core.io import atomic_write, write_json

    from ..cli import TrainProgress
    from ..trainer import train

    a = ablation_parser().parse_intermixed_args(argv)
    out = Path(a.out)
    if len(a.source) > 1:
        raise CorrvizError("--source: the ablation's base row evaluates one source; give one LAYER:FACET")
    filters = [a.only] if a.only else list(ABLATION)
    stores = {f: out / f"trn_{f}.safetensors" for f in ABLATION}
    val = out / "val.safetensors"
    if "cycle+sphere" in ABLATION and not a.mapper:
        raise CorrvizError("--mapper CKPT is needed for the cycle + sphere arm (a trained SPH mapper)")
    out.mkdir(parents=True, exist_ok=True)
    models = None
    if not all(p.is_file() for p in [*stores.values(), val]):
        from .diy_sc_labels import check_options, load_models

        o = options(a, "cycle+sphere", str(stores["cycle+sphere"]), "train")
        check_options(o)
        models = load_models(o)
        report = generate_labels(o, TrainProgress(every=100), models, outs={f: str(p) for f, p in stores.items()})
        write_json(out / "labels_report.json", report)
        print(format_report(report))
        vo = options(a, "cycle+sphere", str(val), "val")
        vo.tuples = int(a.val_tuples)
        vo.measure = True
        vr = generate_labels(vo, TrainProgress(every=100), models)
        write_json(out / "val_report.json", vr)
    if a.labels_only:
        return 0
    results: dict[str, Any] = {}
    for f in filters:
        run_name = f"diy_sc_ablation_{_arm_name(f)}"
        run_dir = out / "runs" / run_name
        best = run_dir / "checkpoints" / "best" / "model.safetensors"
        if not best.is_file():
            over = [*a.overrides, f"data.labels={stores[f]}", f"eval.labels={val}", f"run.out_dir={out / 'runs'}",
                    f"run.name={run_name}"]
            if a.weights:
                over.append(f"model.weights={a.weights}")
            res = train("diy_sc", a.config, over, progress=TrainProgress(every=100), verbose=True)
            if res.status != "finished":
                print(f"corrviz-train diy_sc ablation: arm {f} {res.status}; rerun to continue", file=sys.stderr)
                return 130
        results[f] = _evaluate(a, out, _arm_name(f), str(best))
    if a.only:
        return 0
    base = _evaluate(a, out, "base", None)
    labels = json.loads((out / "labels_report.json").read_text())
    write_json(out / "ablation.json", {"base": base, "arms": results, "labels": labels})
    lines = ["| labels | label precision | labels kept | PCK@0.1 per image | per keypoint | small | medium | large |",
             "|---|---|---|---|---|---|---|---|"]

    def fmt(r: dict[str, float]) -> str:
        return " | ".join(f"{100 * r.get(k, float('nan')):.2f}" for k in
                          ("per_image/all", "per_keypoint/all", "per_keypoint/small", "per_keypoint/medium",
                           "per_keypoint/large"))

    lines.append(f"| base features (no adapter) | - | - | {fmt(base)} |")
    stage = {"none": "raw", "cycle": "cycle", "cycle+sphere": "sphere"}
    for f in ABLATION:
        p = labels.get("precision", {}).get(stage[f], {})
        prec = f"{100 * p['precision']:.2f}" if p else "-"
        kept = labels.get("stores", {}).get(f, {}).get("n_labels", "-")
        lines.append(f"| {f} | {prec} | {kept} | {fmt(results[f])} |")
    with atomic_write(out / "ablation.md", "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


SUBCOMMANDS = {"labels": labels_main, "ablation": ablation_main}
