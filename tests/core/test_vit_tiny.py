"""The real pretrained ViT-Tiny/16 (ImageNet-supervised, not DINOv2) from ../shared/weights.

Every test here needs the real file; each skips with the reason when it is absent.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from corrviz.core.backbones import create_backbone, default_backbone, get_config

NAME = "vit_tiny_patch16_224"
WEIGHTS = Path(__file__).resolve().parents[2].parent / "shared" / "weights"


@pytest.fixture()
def real_weights(monkeypatch) -> Path:
    if not (WEIGHTS / f"{NAME}.safetensors").is_file():
        pytest.skip(f"real ViT-Tiny weights not found at {WEIGHTS / (NAME + '.safetensors')}")
    monkeypatch.setenv("CORRVIZ_WEIGHTS", str(WEIGHTS))
    return WEIGHTS


@pytest.fixture(scope="module")
def tiny_real():
    if not (WEIGHTS / f"{NAME}.safetensors").is_file():
        pytest.skip(f"real ViT-Tiny weights not found at {WEIGHTS / (NAME + '.safetensors')}")
    return create_backbone(NAME, weights=WEIGHTS / f"{NAME}.safetensors")


def _photo(name: str, res: int = 224) -> torch.Tensor:
    from skimage import data

    img = torch.from_numpy(getattr(data, name)()).permute(2, 0, 1)[None].float() / 255
    return F.interpolate(img, size=(res, res), mode="bicubic", antialias=True).clamp(0, 1)


def flipped_nn_rate(bb, img: torch.Tensor, facet: str = "norm") -> float:
    """Fraction of patches whose nearest patch in the horizontally flipped image is the mirrored one."""
    with torch.no_grad():
        a = bb.forward_features(img, facet=facet)[0]
        b = bb.forward_features(img.flip(-1), facet=facet)[0]
    d, h, w = a.shape
    sim = F.normalize(a.reshape(d, -1).T, dim=1) @ F.normalize(b.reshape(d, -1).T, dim=1).T
    i, j = np.divmod(np.arange(h * w), w)
    return float((sim.argmax(1).numpy() == i * w + (w - 1 - j)).mean())


def test_config_is_the_timm_augreg_vit_tiny():
    cfg = get_config(NAME)
    assert (cfg.timm_name, cfg.patch_size, cfg.embed_dim, cfg.depth, cfg.num_registers) == (NAME, 16, 192, 12, 0)
    assert cfg.mean == cfg.std == (0.5, 0.5, 0.5)
    assert cfg.timm_id == "vit_tiny_patch16_224.augreg_in21k_ft_in1k"
    assert cfg.pos_interpolation == "bicubic_antialias_size"
    assert {"prenorm", "norm"} <= set(cfg.facets)
    assert "ImageNet-supervised" in cfg.description and "not DINOv2" in cfg.description


def test_loads_from_the_weights_directory_without_its_head(real_weights):
    from safetensors import safe_open

    with safe_open(str(real_weights / f"{NAME}.safetensors"), framework="pt") as fh:
        assert tuple(fh.get_slice("head.weight").get_shape()) == (1000, 192)  # the file is a classifier
        pos = fh.get_tensor("pos_embed")
    bb = create_backbone(NAME)
    assert bb.weights_source == f"weights_dir:{real_weights / (NAME + '.safetensors')}"
    assert not any(k.startswith("head.") and bb.model.state_dict()[k].numel() for k in bb.model.state_dict())
    assert torch.equal(bb.model.pos_embed, pos)


def test_features_equal_timms_own_model_at_224_and_448(tiny_real):
    """corrviz's token pipeline = timm's forward (norm tokens), at the native and a resized grid."""
    import timm
    from safetensors.torch import load_file

    sd = load_file(str(WEIGHTS / f"{NAME}.safetensors"))
    ref = timm.create_model(NAME, pretrained=False, num_classes=1000, dynamic_img_size=True).eval()
    ref.load_state_dict(sd, strict=True)
    for res in (224, 448):
        img = _photo("astronaut", res)
        with torch.no_grad():
            ours = tiny_real.forward_features(img, facet="norm")[0]
            tokens = ref.forward_features(tiny_real.normalize(img))[0, 1:]
        g = res // 16
        assert ours.shape == (192, g, g)
        assert (ours - tokens.T.reshape(192, g, g)).abs().max().item() < 1e-4
    with torch.no_grad():  # mean = std = 0.5 is the normalisation the classifier was trained with
        logits = ref(tiny_real.normalize(_photo("chelsea")))
    assert int(logits.argmax()) == 285  # ImageNet "Egyptian cat"


@pytest.mark.parametrize("photo", ["chelsea", "astronaut", "coffee"])
def test_flipped_image_nn_finds_the_mirrored_patch(tiny_real, photo):
    img = _photo(photo)
    assert flipped_nn_rate(tiny_real, img) >= 0.95
    random_init = create_backbone(NAME, pretrained=False)
    assert flipped_nn_rate(random_init, img) < 0.3


def test_is_the_default_backbone_when_found_but_dinov2_goes_first(real_weights, tmp_path, monkeypatch):
    assert default_backbone() == (NAME, ["dinov2_vits14"])
    (tmp_path / "dinov2_vits14.safetensors").write_bytes(b"")  # availability is a file lookup, no load
    (tmp_path / f"{NAME}.safetensors").symlink_to(real_weights / f"{NAME}.safetensors")
    monkeypatch.setenv("CORRVIZ_WEIGHTS", str(tmp_path))
    assert default_backbone() == ("dinov2_vits14", [])
    monkeypatch.setenv("CORRVIZ_WEIGHTS", str(tmp_path / "empty"))
    assert default_backbone() == ("dense_sift", ["dinov2_vits14", NAME])


def test_corrviz_match_defaults_to_it_and_records_the_rule(real_weights, tmp_path, capsys):
    from corrviz.core.commands.match import main

    js = tmp_path / "m.json"
    assert main(["--json", str(js), "--resolution", "224", "--matcher", "nn"]) == 0
    out = capsys.readouterr()
    assert "no weights for dinov2_vits14" in out.err and NAME in out.err and "not DINOv2" in out.err
    data = json.loads(js.read_text())
    assert data["backbone"] == NAME and data["weights"].startswith("weights_dir:")
    assert data["position_interpolation"] == "bicubic_antialias_size"
    pck = float(out.out.split("PCK@0.1 (image) = ")[1].split()[0])
    assert pck >= 0.6  # measured 0.714 on the demo pair (a known affine warp); the same net at random init: 0.379


def _results_table(args: list[str], monkeypatch) -> None:
    import runpy
    import sys

    script = Path(__file__).resolve().parents[2] / "scripts" / "results_table.py"
    monkeypatch.setattr(sys, "argv", ["results_table.py", *args])
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(str(script), run_name="__main__")
    assert exc.value.code == 0


def test_results_table_rows_label_it_and_name_its_weights(tmp_path, monkeypatch, capsys):
    data = WEIGHTS.parent / "data"
    if not (WEIGHTS / f"{NAME}.safetensors").is_file() or not (data / "PF-WILLOW").is_dir():
        pytest.skip(f"needs {WEIGHTS / (NAME + '.safetensors')} and {data / 'PF-WILLOW'}")
    monkeypatch.setenv("CORRVIZ_CACHE", str(tmp_path / "cache"))
    doc, readme = tmp_path / "results.md", tmp_path / "README.md"
    readme.write_text("# x\n\n## Results on the shared real data (zero-shot)\n\nold table\n\n## Next\n\nkept\n")
    _results_table(["--data", str(data), "--weights-dir", str(WEIGHTS), "--out", str(tmp_path / "out"),
                    "--limit", "2", "--backbone", f"{NAME}:224", "--backbone", "dense_sift:160",
                    "--benchmark", "pfwillow", "--write", str(doc), "--readme", str(readme)], monkeypatch)
    text = doc.read_text()
    section = readme.read_text().split("## Results on the shared real data (zero-shot)")[1]
    assert "old table" not in section and section.endswith("\n\n## Next\n\nkept\n")
    assert f"`corrviz-eval pfwillow --data {data / 'PF-WILLOW'} --backbone BACKBONE --resolution PX --matcher nn`" \
        in section
    assert f"| {NAME} (pretrained: ImageNet-supervised ViT-Tiny/16 (not DINOv2)) | 224 |" in section
    assert "not DINOv2" in section.split("###")[0] and "--readme" in section
    assert f"| {NAME} (pretrained: ImageNet-supervised ViT-Tiny/16 (not DINOv2)) | 224 | 11/prenorm | 2 |" in text
    assert f"--backbone {NAME} --resolution 224 --weights {WEIGHTS / (NAME + '.safetensors')}" in text
    assert "| dense_sift (weight-free) | 160 |" in text
    empty = tmp_path / "no-weights"
    empty.mkdir()
    _results_table(["--data", str(data), "--weights-dir", str(empty), "--out", str(tmp_path / "out2"), "--limit", "2",
                    "--backbone", f"{NAME}:224", "--backbone", "dense_sift:160", "--benchmark", "pfwillow",
                    "--write", str(doc)], monkeypatch)
    text = doc.read_text()
    assert f"Left out: {NAME} at 224 px: not run, weights file {empty / (NAME + '.safetensors')} not found" in text
    assert f"| {NAME} (" not in text and "| dense_sift (weight-free) | 160 |" in text
    assert "not found" in capsys.readouterr().err


def test_results_table_reports_a_benchmark_without_evaluable_items(tmp_path, monkeypatch):
    """PF-PASCAL's sample here holds no pair with both images: the document says so instead of failing."""
    data = WEIGHTS.parent / "data"
    if not (data / "PF-PASCAL").is_dir():
        pytest.skip(f"needs {data / 'PF-PASCAL'}")
    monkeypatch.setenv("CORRVIZ_CACHE", str(tmp_path / "cache"))
    doc = tmp_path / "results.md"
    _results_table(["--data", str(data), "--out", str(tmp_path / "out"), "--limit", "2", "--backbone", "dense_sift:160",
                    "--benchmark", "pfpascal", "--benchmark", "pfwillow", "--write", str(doc)], monkeypatch)
    text = doc.read_text()
    section = text.split("### Not evaluable on this data")[1].split("###")[0]
    assert "- pfpascal: `corrviz-eval pfpascal" in section and "no evaluable item" in section
    assert "| dense_sift (weight-free) | 160 |" in text.split("### PF-WILLOW")[1]


def test_results_table_reuse_takes_the_earlier_json_of_the_same_run(tmp_path, monkeypatch):
    data = WEIGHTS.parent / "data"
    if not (data / "PF-WILLOW").is_dir():
        pytest.skip(f"needs {data / 'PF-WILLOW'}")
    monkeypatch.setenv("CORRVIZ_CACHE", str(tmp_path / "cache"))
    out, doc = tmp_path / "out", tmp_path / "results.md"
    base = ["--data", str(data), "--out", str(out), "--backbone", "dense_sift:160", "--benchmark", "pfwillow",
            "--write", str(doc)]
    _results_table([*base, "--limit", "2"], monkeypatch)
    js = out / "pfwillow_dense_sift_160_nn.json"
    run = json.loads(js.read_text())
    for r in run["results"]:
        if r["metric"] == "pck" and r["alpha"] == 0.05 and r["category"] == "all":
            r["value"] = 0.4321  # a marker no real run of 2 pairs x 10 keypoints gives
    js.write_text(json.dumps(run))
    _results_table([*base, "--limit", "2", "--reuse", "dense_sift"], monkeypatch)
    assert "| 43.2 | 43.2 | 43.2 |" in doc.read_text()
    _results_table([*base, "--limit", "3", "--reuse", "dense_sift"], monkeypatch)  # another limit: run again
    assert "43.2" not in doc.read_text() and "| dense_sift (weight-free) | 160 | 0/prenorm | 3 |" in doc.read_text()
