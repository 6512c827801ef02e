"""Run the README's results (every benchmark in the shared data x the weight-free backbones, the real
ImageNet-supervised ViT-Tiny/16 (not DINOv2) and the random-init ViT floor) through ``corrviz-eval``
and print them as markdown, with the protocol, the exact command of each row and the published
numbers of the method spec (section 7).

    python scripts/results_table.py --data ../shared/data --weights-dir ../shared/weights \
        --out results/ --write docs/results.md

Backbones that need weights get ``--weights <weights dir>/<name>.safetensors`` in their command; when
that file is absent their rows are left out and the document says so.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shlex
import sys
from pathlib import Path
from typing import Any

BACKBONES: tuple[tuple[str, int], ...] = (("dense_sift", 448), ("daisy", 448), ("vit_tiny_patch16_224", 224),
                                          ("vit_tiny_patch16_224", 448), ("test_dinov2_tiny", 224))
# label, benchmark, folder under the data root ("@default": corrviz's own objects), extra arguments
RUNS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("pfwillow", "pfwillow", "PF-WILLOW", ("--matcher", "nn")),
    ("spair", "spair", "SPair-71k", ("--matcher", "nn")),
    ("pfpascal", "pfpascal", "PF-PASCAL", ("--matcher", "nn")),
    ("ap10k", "ap10k", "AP-10K", ("--matcher", "nn", "--kind", "all")),
    ("badja", "badja", "", ("--matcher", "soft-argmax")),
    ("multiview_default", "multiview", "@default", ("--matcher", "nn")),
    ("multiview_meshes", "multiview", "meshes", ("--matcher", "nn")),
)
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[2] / "shared" / "weights"
PUBLISHED = """\
| setting (methods.md section 7) | published | ours, same protocol? |
|---|---|---|
| DINOv2-B/14, SPair-71k test, PCK@0.1 bbox, 840 px, NN, per-keypoint (macro) | 55.6 (56.2) | SPair rows above: same metric, matcher and aggregations; differs in backbone (DINOv2 weights are not on this machine; the one real pretrained row, ViT-Tiny/16, is ImageNet-supervised, not DINOv2), resolution (448 / 224 px), and subset (the 92 test pairs whose images are present, 7 of 18 categories, not 12,234 pairs) |
| DINOv2-B + sphere (alpha 0.2), SPair macro PCK@0.1 / KAP@0.1 (DINOv2 alone KAP) | 63.6 / 51.5 (46.5) | KAP@0.1 above: same definition; differs in backbone, no sphere mapper (no trained SPH head here), and subset (only the pairs with both ImageAnnotation files: KAP pair count in the row) |
| DINOv2-B adapter on DINOv2 pseudo-labels, SPair PCK@0.1 | 67.17 per-image / 70.29 per-keypoint | not comparable: needs a trained adapter |
| DINOv2-S, PF-PASCAL different-view PCK@0.1 (img), before -> after MEF | 53.26 -> 53.78 | not measurable: no PF-PASCAL pair has both images in the shared sample (7 of 506 images) |
| DINOv2-S, TAP-Vid DAVIS AJ, before -> after MEF | 37.56 -> 45.17 | not measurable: TAP-Vid ground truth is not available; BADJA PCK@0.2 (sqrt mask area) is a different protocol |
| DINOv2-reg-B, SPair viewpoint bins S/M/L/All, before -> after 3DPoV | 58.20/51.56/53.41/53.47 -> 60.16/52.79/54.50/55.40 | SPair S/M/L columns above (PCK@0.1 bbox, per-keypoint): differs in backbone, resolution and subset (bins hold 47 / 35 / 10 pairs) |

No published PF-WILLOW or AP-10K number in section 7 shares our protocol, so those rows stand alone.

## Reading these numbers

- PF-WILLOW is balanced (every pair has 10 keypoints, every class 90 pairs), so per-keypoint,
  per-image and macro PCK coincide there by construction; on SPair they differ.
- PF-WILLOW's 100 image files hold 70 distinct images (30 files are byte-identical copies across
  classes); the content-keyed cache extracts each once, hence 70 extractions per backbone.
- Cross-instance semantic matching (SPair) is beyond hand-crafted descriptors: their SPair PCK@0.1
  stays in single digits, and their KAP@0.1 equals the random-init floor's (11 pairs, 4 categories;
  41 % of the samples are positives), i.e. no skill: with uninformative features the maximum over the
  large region outside the alpha disc usually beats the maximum inside it.
- The `vit_tiny_patch16_224` rows are the only real pretrained features here. It is a 5.7 M-parameter
  ImageNet-supervised classifier, NOT DINOv2: its rows show what semantic pretraining adds over the
  descriptors and the floor (SPair, KAP), and how a supervised net at 224 px training size behaves at
  448 px, but they are no stand-in for the DINOv2 numbers of section 7.
- These rows check the pipeline on real data; they are not a comparison with the papers.
"""


def command(bench: str, data: Path, backbone: str, res: int, extra: tuple[str, ...], out: Path,
            weights: Path | None = None) -> list[str]:
    w = ["--weights", str(weights)] if weights is not None else []
    return ["corrviz-eval", bench, "--data", str(data), "--backbone", backbone, "--resolution", str(res), *w,
            *extra, "--out", str(out), "--quiet"]


def weights_file(backbone: str, weights_dir: Path) -> Path | None:
    """``<weights dir>/<name>.safetensors`` for backbones that need weights; None for the others."""
    from corrviz.core.backbones import get_config

    return weights_dir / f"{backbone}.safetensors" if get_config(backbone).needs_weights else None


def available(backbones: tuple[tuple[str, int], ...], weights_dir: Path) -> tuple[tuple[tuple[str, int], ...], list[str]]:
    """The backbones that can run here, and a line for each one left out (its weights file is absent)."""
    keep, missing = [], []
    for name, res in backbones:
        w = weights_file(name, weights_dir)
        if w is not None and not w.is_file():
            missing.append(f"{name} at {res} px: not run, weights file {w} not found")
        else:
            keep.append((name, res))
    return tuple(keep), missing


def run_all(data_root: Path, out: Path, limit: int | None, backbones: tuple[tuple[str, int], ...],
            benchmarks: set[str] | None, weights_dir: Path = DEFAULT_WEIGHTS,
            reuse: set[str] | None = None) -> list[dict[str, Any]]:
    """Run every (benchmark, backbone) through corrviz-eval; ``reuse``: backbones whose earlier JSON in
    ``out`` (same tag, same limit) is taken as it is instead of running again."""
    from corrviz.core.commands.eval import main as eval_main

    done: list[dict[str, Any]] = []
    for label, bench, folder, extra in RUNS:
        if benchmarks is not None and bench not in benchmarks and label not in benchmarks:
            continue
        data = Path("default") if folder == "@default" else data_root / folder if folder else data_root
        for backbone, res in backbones:
            args = command(bench, data, backbone, res, extra, out, weights_file(backbone, weights_dir))
            if limit is not None:
                args[-1:-1] = ["--limit", str(limit)]
            tag = f"{label}_{backbone}_{res}_{extra[1]}"
            args[-1:-1] = ["--tag", tag]
            row = {"bench": label, "backbone": backbone, "res": res, "cmd": shlex.join(args), "result": None}
            old = out / f"{tag}.json"
            if reuse and backbone in reuse and old.is_file():
                result = json.loads(old.read_text())
                if result["protocol"].get("limit") == limit:
                    done.append(dict(row, result=result))
                    continue
            err = io.StringIO()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                rc = eval_main(args[1:])
            if rc == 2 and "no evaluable item" in err.getvalue():  # e.g. a sample that lacks the images
                row["error"] = err.getvalue().strip().splitlines()[-1]
                print(f"results_table: {label}: {row['error'][:300]}", file=sys.stderr)
            elif rc != 0:
                raise SystemExit(f"{shlex.join(args)} failed with exit code {rc}:\n{err.getvalue()[-2000:]}")
            else:
                row["result"] = json.loads((out / f"{tag}.json").read_text())
            done.append(row)
    return done


def _v(result: dict[str, Any], metric: str, alpha: float | None = None, norm: str | None = None,
       agg: str | None = None, viewpoint: str = "all") -> str:
    for r in result["results"]:
        if (r["metric"] == metric and r["category"] == "all" and r["viewpoint"] == viewpoint
                and (alpha is None or r["alpha"] == alpha) and (norm is None or r["norm"] == norm)
                and (agg is None or r["aggregation"] == agg)):
            return "n/a" if r["value"] is None else f"{100 * r['value']:.1f}"
    return "n/a"


def _label(p: dict[str, Any]) -> str:
    """``name (weight-free)``, ``name (random init)``, or the name with what the pretrained net is."""
    from corrviz.core.backbones import get_config

    src = p["weights_source"]
    if src in ("weight-free", "random init"):
        return f"{p['backbone']} ({src})"
    return f"{p['backbone']} (pretrained: {get_config(p['backbone']).description})"


def _who(run: dict[str, Any]) -> str:
    p = run["result"]["protocol"]
    return f"{_label(p)} | {p['resolution']} | {p['layer']}/{p['facet']}"


def generic_command(cmd: str) -> str:
    """A row's command with BACKBONE / PX for the backbone and resolution, without weights, output and tag."""
    args, out, skip = shlex.split(cmd), [], 0
    for i, a in enumerate(args):
        if skip:
            skip -= 1
            continue
        if a in ("--weights", "--out", "--tag", "--limit"):
            skip = 1
            continue
        if a == "--quiet":
            continue
        out.append({"--backbone": "BACKBONE", "--resolution": "PX"}.get(args[i - 1], a) if i else a)
    return " ".join(out)


def tables(runs: list[dict[str, Any]], only: tuple[str, ...] | None = None, commands: bool = True) -> str:
    """Markdown tables of the runs; ``only`` some benchmarks; ``commands=False``: a generic command above
    each table instead of the list of exact commands at the end (the README's form)."""
    out: list[str] = []
    by = {b: [r for r in runs if r["bench"] == b and r["result"] is not None and (only is None or b in only)]
          for b, _, _, _ in RUNS}

    def above(label: str) -> list[str]:
        return [] if commands else [f"`{generic_command(by[label][0]['cmd'])}`", ""]

    if by["pfwillow"]:
        out += above("pfwillow") + ["### PF-WILLOW (900 ordered pairs; PCK bbox = alpha x max side of the box around the target "
                "keypoints; NN matcher)", "",
                "| backbone (weights) | px | layer/facet | pairs | " + " | ".join(
                    f"@{a} {agg}" for a in (0.05, 0.1, 0.15) for agg in ("kp", "img", "macro")) + " |",
                "|---|---|---|---|" + "---|" * 9]
        for r in by["pfwillow"]:
            res = r["result"]
            cells = [_v(res, "pck", a, "bbox", agg) for a in (0.05, 0.1, 0.15)
                     for agg in ("per_keypoint", "per_image", "macro")]
            out.append(f"| {_who(r)} | {res['protocol']['n_evaluated']} | " + " | ".join(cells) + " |")
        out.append("")
    if by["spair"]:
        out += above("spair") + ["### SPair-71k test, pairs whose images are present (PCK@0.1 bbox, NN; KAP@0.1)", "",
                "| backbone (weights) | px | layer/facet | pairs (skipped) | per-kp | per-img | macro | "
                "small | medium | large | KAP@0.1 (pairs) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in by["spair"]:
            res, p = r["result"], r["result"]["protocol"]
            vps = [_v(res, "pck", 0.1, "bbox", "per_keypoint", vp) for vp in ("small", "medium", "large")]
            out.append(f"| {_who(r)} | {p['n_evaluated']} ({p['n_skipped']}) | "
                       + " | ".join(_v(res, "pck", 0.1, "bbox", a) for a in ("per_keypoint", "per_image", "macro"))
                       + " | " + " | ".join(vps) + f" | {_v(res, 'kap', 0.1, 'bbox', 'macro')} ({p['kap_pairs']}) |")
        out.append("")
    for bench, title in (("ap10k", "AP-10K (all pair kinds present: one cross-family pair)"),
                         ("pfpascal", "PF-PASCAL test pairs (PCK img)")):
        if by[bench]:
            out += above(bench) + [f"### {title}", "", "| backbone (weights) | px | layer/facet | pairs (skipped) | "
                    "PCK@0.1 bbox per-kp | PCK@0.1 img per-kp |", "|---|---|---|---|---|---|"]
            for r in by[bench]:
                res, p = r["result"], r["result"]["protocol"]
                out.append(f"| {_who(r)} | {p['n_evaluated']} ({p['n_skipped']}) | "
                           f"{_v(res, 'pck', 0.1, 'bbox', 'per_keypoint')} | "
                           f"{_v(res, 'pck', 0.1, 'img', 'per_keypoint')} |")
            out.append("")
    if by["badja"]:
        out += above("badja") + ["### BADJA over DAVIS frames (horsejump-high, the one sequence with frames; soft-argmax within "
                "35 px, query = first visible annotated frame)", "",
                "| backbone (weights) | px | layer/facet | clips (skipped) | queries | PCK@0.2 sqrt(area) | "
                "delta_avg | AJ | OA |", "|---|---|---|---|---|---|---|---|---|"]
        for r in by["badja"]:
            res, p = r["result"], r["result"]["protocol"]
            out.append(f"| {_who(r)} | {p['n_evaluated']} ({p['n_skipped']}) | {p['n_queries']} | "
                       f"{_v(res, 'badja_pck', 0.2)} | {_v(res, 'delta_avg')} | {_v(res, 'average_jaccard')} | "
                       f"{_v(res, 'occlusion_accuracy')} |")
        out.append("")
    for label, title in (("multiview_default", "corrviz's default objects (procedural, exact ground truth)"),
                         ("multiview_meshes", "the real meshes in shared/data/meshes")):
        if by[label]:
            out += above(label) + [f"### Multi-view APE / PCDP on {title}", "",
                    "42 views at 512 px (icosphere directions, distance 2, focal 560 px, black background); per "
                    "object 12 view pairs within 60 degrees, 200 object pixels of view A visible in view B per "
                    "pair (seeded); NN over the object cells of view B; APE in % of min(W, H), lower is better.",
                    "", "| backbone (weights) | px | layer/facet | objects (skipped) | points | APE | PCDP@0.05 | "
                    "PCDP@0.1 | PCDP@0.2 |", "|---|---|---|---|---|---|---|---|---|"]
            for r in by[label]:
                res, p = r["result"], r["result"]["protocol"]
                out.append(f"| {_who(r)} | {p['n_evaluated']} ({p['n_skipped']}) | {p['n_points']} | "
                           f"{_v(res, 'ape')} | " + " | ".join(_v(res, "pcdp", d) for d in (0.05, 0.1, 0.2)) + " |")
            out.append("")
    if not commands:
        return "\n".join(out)
    failed = {r["bench"]: r for r in runs if r["result"] is None}
    if failed:
        out += ["### Not evaluable on this data", ""]
        out += [f"- {b}: `{r['cmd']}` exits 2: {r['error'][:400]}" for b, r in failed.items()] + [""]
    out += ["### Commands", "", "Each row above came from exactly one of these (in this order):", "", "```"]
    out += [r["cmd"] for r in runs if r["result"] is not None] + ["```", ""]
    return "\n".join(out)


def document(runs: list[dict[str, Any]], missing: list[str] | None = None) -> str:
    p0 = next((r["result"]["protocol"] for r in runs if r["result"] is not None), {})
    missing = "".join(f"- Left out: {m}.\n" for m in missing or [])
    head = f"""# Zero-shot results on the shared real data

Before / after results of the finetuning methods (trained on corrviz's own renders, evaluated on
held-out data) are in [results_training.md](results_training.md).

Produced by `python scripts/results_table.py` (corrviz {p0.get('corrviz_version', '?')}). All numbers are
percentages. Full protocol, common to every row unless the row says otherwise:

- Features: canvas `pad_center` (resize keeping aspect so the long side fits, centre on a square canvas
  with zero padding); point features sampled bilinearly on the patch grid at patch centres
  (align_corners=False); cosine similarity of L2-normalised features; the argmax is restricted to cells
  covered by the image (padding excluded).
- Resolutions: dense SIFT and DAISY at 448 px (8 px grid stride -> 56 x 56 cells, comparable to the
  60 x 60 grid DINOv2 gets at 840 px); `vit_tiny_patch16_224` at 224 px (its training size, 14 x 14
  patches) and 448 px (28 x 28; position embeddings resized by timm's rule, bicubic to the target
  size with antialias); `test_dinov2_tiny` (random init, 32 dims, 3 blocks, patch 14) at its default
  224 px (16 x 16) as a floor. Layer/facet columns give the tap (classical descriptors have a single
  "layer"; the ViTs use the last block's output before the final LayerNorm, `11/prenorm` and `2/prenorm`).
- Matcher: nearest neighbour (argmax cell centre) for keypoint transfer; tracking uses the seed 000
  A.10 recipe: NN from the query frame into every frame, soft-argmax (beta 0.02) over the cells within
  35 px of the argmax, occluded when the peak cosine similarity is below 0.5.
- PCK@alpha: correct when the error <= alpha x max(h, w) of the TARGET box ("bbox"; PF-WILLOW and
  PF-PASCAL boxes are tight around the target keypoints) or of the target image ("img").
  Aggregations side by side: per-keypoint (kp: pooled keypoints), per-image (img: mean of per-pair
  accuracy), macro (mean over categories of per-category per-keypoint PCK).
- KAP@alpha: section 3 of the method spec (pair-wise min-max normalisation, sklearn AP per category,
  mean over categories), on SPair pairs whose two ImageAnnotation files are present.
- Skipped counts are items the loaders or the runner could not use (missing images or frames); every
  reason is in each run's JSON (`skipped`).
- Weights: none of the foundation-model checkpoints (DINOv2, DINO, CLIP, MAE) exist on this machine, so
  no DINOv2 numbers can be produced here. The one real pretrained net is `vit_tiny_patch16_224`, an
  ImageNet-supervised ViT-Tiny/16 classifier (timm's AugReg `augreg_in21k_ft_in1k`, mean = std = 0.5;
  file and checks in ../shared/weights/README.md): its rows are a supervised ImageNet model, NOT
  DINOv2. The random-init ViT is a floor, not a model.
{missing}
"""
    return head + tables(runs) + "\n## Published numbers (methods.md section 7) and what differs\n\n" + PUBLISHED


README_HEADING = "## Results on the shared real data (zero-shot)"
README_BENCHES = ("pfwillow", "spair", "badja", "multiview_default", "multiview_meshes")


def readme_section(runs: list[dict[str, Any]], weights_dir: str, argv: list[str]) -> str:
    """The README's results section: what the rows are, the command that regenerates it, the tables."""
    tiny = f"{weights_dir}/vit_tiny_patch16_224.safetensors"
    argv = [a for i, a in enumerate(argv) if a != "--reuse" and (i == 0 or argv[i - 1] != "--reuse")]
    return f"""{README_HEADING}

No self-supervised foundation-model weights (DINOv2, DINO, CLIP, MAE) can be had on the machine these
numbers were made on. The rows are the weight-free backbones (dense SIFT, DAISY), the one real
pretrained net, `vit_tiny_patch16_224`, an **ImageNet-supervised ViT-Tiny/16 classifier, not DINOv2**
(timm's AugReg weights, `{weights_dir}`), at 224 and 448 px, and a random-init ViT as a floor.
They check the whole pipeline on real data in the original formats. With DINOv2 weights in
`$CORRVIZ_WEIGHTS`, the same commands give the papers' protocol (e.g. `--backbone dinov2_vitb14
--resolution 840`). Numbers are percentages. All of them, with the full protocol, the published
numbers of the method spec beside them and what differs (weights, subset size), are in
[docs/results.md](docs/results.md); this section and that file are regenerated by:

```bash
.venv/bin/python scripts/results_table.py {shlex.join(argv)}
```

Each row below is one `corrviz-eval` run; the command above each table has `BACKBONE` and `PX` for
the row's backbone and resolution (px column); the ViT-Tiny rows add `--weights {tiny}`.

""" + tables(runs, only=README_BENCHES, commands=False)


def replace_section(text: str, heading: str, section: str) -> str:
    """``text`` with the section under ``heading`` (up to the next ``## `` heading) replaced."""
    if heading not in text:
        raise SystemExit(f"results_table: the README has no {heading!r} section to replace")
    before, rest = text.split(heading, 1)
    nxt = rest.find("\n## ")
    after = rest[nxt + 1:] if nxt >= 0 else ""
    return before + section.rstrip("\n") + "\n" + ("\n" + after if after else "")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(DEFAULT_DATA), help="shared data root [../shared/data]")
    p.add_argument("--weights-dir", default=str(DEFAULT_WEIGHTS),
                   help="folder of <backbone>.safetensors for the pretrained rows [../shared/weights]")
    p.add_argument("--out", default="results", help="folder for each run's JSON / CSV / plots")
    p.add_argument("--limit", type=int, default=None, help="first N pairs / clips per run (smoke tests)")
    p.add_argument("--backbone", action="append", default=None, help="only these backbones (name or name:px)")
    p.add_argument("--benchmark", action="append", default=None, help="only these benchmarks")
    p.add_argument("--write", default=None, help="also write the full markdown document here")
    p.add_argument("--readme", default=None, help="also replace the README's results section in this file")
    p.add_argument("--reuse", action="append", default=None, metavar="BACKBONE",
                   help="take this backbone's runs from the JSON files already in --out (same tag and limit)")
    raw = sys.argv[1:] if argv is None else list(argv)
    args = p.parse_args(raw)
    backbones = BACKBONES
    if args.backbone:
        known = dict(BACKBONES)
        backbones = tuple((b.split(":")[0], int(b.split(":")[1]) if ":" in b else known.get(b, 448))
                          for b in args.backbone)
    backbones, missing = available(backbones, Path(args.weights_dir))
    for m in missing:
        print(f"results_table: {m}", file=sys.stderr)
    runs = run_all(Path(args.data), Path(args.out), args.limit, backbones,
                   set(args.benchmark) if args.benchmark else None, Path(args.weights_dir),
                   set(args.reuse) if args.reuse else None)
    text = document(runs, missing)
    print(text)
    if args.write:
        from corrviz.core.io import atomic_write

        with atomic_write(args.write, "w") as fh:
            fh.write(text)
    if args.readme:
        from corrviz.core.io import atomic_write

        readme = Path(args.readme)
        new = replace_section(readme.read_text(), README_HEADING, readme_section(runs, args.weights_dir, raw))
        with atomic_write(readme, "w") as fh:
            fh.write(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
