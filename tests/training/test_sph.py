"""SPH plug-in: data items, input checks before work, a tiny run through the one trainer, and its
checkpoint loading as a sphere mapper for the combined matcher."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from corrviz.core.errors import CorrvizError, DatasetError
from corrviz.training.methods.sph import SPH
from corrviz.training.methods.sph_data import SPHData, SPHImage, images_from_pairs, list_file_images
from corrviz.training.trainer import prepare, train

TINY = """
method: sph
run: {{out_dir: {out}, seed: 0}}
train: {{steps: {steps}, batch_size: 4, log_every: 1, eval_every: 0, eval_at_start: false, save_last_every: 0}}
model: {{backbone: test_dinov2_tiny, pretrained: false, resolution: 56, mapper_heads: 4, prototype_heads: 4}}
data: {{source: list, root: {root}}}
"""


def _write_images(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = ["image,mask,azimuth,category"]
    for k, (az, cat) in enumerate([(0, "car"), (2, "car"), (4, "mug"), (6, "mug")]):
        rgb = (rng.random((40, 48, 3)) * 60).astype(np.uint8)
        mask = np.zeros((40, 48), np.uint8)
        mask[8:34, 6 + k:40] = 255
        rgb[mask > 0] = (rng.random((int((mask > 0).sum()), 3)) * 255).astype(np.uint8)
        Image.fromarray(rgb).save(folder / f"im{k}.png")
        Image.fromarray(mask).save(folder / f"im{k}_mask.png")
        rows.append(f"im{k}.png,im{k}_mask.png,{az},{cat}")
    (folder / "list.csv").write_text("\n".join(rows) + "\n")
    return folder / "list.csv"


@pytest.fixture
def tiny(tmp_path: Path):
    lst = _write_images(tmp_path)

    def make(steps: int = 3) -> Path:
        p = tmp_path / f"tiny{steps}.yaml"
        p.write_text(TINY.format(out=tmp_path / "runs", root=lst, steps=steps))
        return p
    return make


def test_item_crop_foreground_and_triplets(tmp_path):
    images = list_file_images(_write_images(tmp_path))
    data = SPHData(images, ["car", "mug"], 56, 14, n_triplets=8, augment=False)
    item = data.sample(0, np.random.default_rng(0))
    assert item["image"].shape == (3, 56, 56)
    fg = item["fg"].reshape(4, 4)
    # the mask covers x 6..40 of 48 and y 8..34 of 40: without a crop, cells whose area is mostly inside
    want = np.zeros((4, 4), bool)
    for i in range(4):
        for j in range(4):
            ys, xs = slice(i * 10, (i + 1) * 10), slice(j * 12, (j + 1) * 12)
            m = np.zeros((40, 48))
            m[8:34, 6:40] = 1
            want[i, j] = m[ys, xs].mean() >= 0.5
    assert np.array_equal(fg.numpy(), want)
    tri = item["triplets"]
    assert tri.shape == (8, 3) and bool(item["fg"][tri.reshape(-1)].all())
    assert item["azimuth"] == 0 and item["category"] == 0
    # augmentation draws a crop: another generator, another view of the image
    aug = SPHData(images, ["car", "mug"], 56, 14)
    a, b = aug.sample(0, np.random.default_rng(1)), aug.sample(0, np.random.default_rng(2))
    assert not torch.allclose(a["image"], b["image"])
    xy = data.cell_xy()
    assert xy[0].tolist() == [7.0, 7.0] and xy[5].tolist() == [21.0, 21.0]


def test_bad_inputs_are_refused_before_work(tiny, tmp_path):
    with pytest.raises(CorrvizError, match="data.source"):
        prepare("sph", tiny(), ["data.source=imagenet"])
    with pytest.raises(CorrvizError, match="train split only"):
        prepare("sph", tiny(), ["data.source=synthetic", "data.split=test"])
    with pytest.raises(CorrvizError, match="mapper_heads"):
        prepare("sph", tiny(), ["model.mapper_heads=5"])
    bad = tmp_path / "bad.csv"
    bad.write_text("image,mask,azimuth,category\nnope.png,im0_mask.png,0,car\n")
    with pytest.raises(DatasetError, match="nope.png does not exist"):
        list_file_images(bad)
    with pytest.raises(DatasetError, match="azimuth bins must be 0-7"):
        SPHData([SPHImage(tmp_path / "im0.png", None, 9, "car", (0, 0, 4, 4))], ["car"], 56, 14)


def test_pairs_without_masks_need_the_bbox_fallback(tmp_path):
    from corrviz.core.datasets import PairRecord

    kp = np.zeros((1, 2))
    rec = PairRecord("p", "spair", "cat", tmp_path / "a.jpg", tmp_path / "b.jpg", kp, kp, ("0",), ("x",), None, None,
                     np.array([1, 2, 30, 40.0]), np.array([0, 0, 10, 10.0]), src_azimuth=3, trg_azimuth=5)
    with pytest.raises(DatasetError, match="mask of .*a.jpg is missing"):
        images_from_pairs([rec], "SPair")
    imgs, left_out = images_from_pairs([rec, rec], "SPair", mask_fallback="bbox")
    assert left_out == []
    assert [(i.azimuth, i.bbox) for i in imgs] == [(3, (1.0, 2.0, 30.0, 40.0)), (5, (0.0, 0.0, 10.0, 10.0))]


def test_tiny_run_learns_and_its_checkpoint_is_a_sphere_mapper(tiny):
    res = train("sph", tiny(12))
    assert res.status == "finished" and res.step == 12
    # loss on the same data at the first and last step: the model learned (Adam 1e-3, 12 steps)
    assert res.losses[-1] < res.losses[0]
    from corrviz.core.features import FeatureExtractor, FeatureOptions

    ckpt = res.last_checkpoint / "model.safetensors"
    from corrviz.core.backbones import create_backbone

    ex = FeatureExtractor(create_backbone("test_dinov2_tiny", pretrained=False), FeatureOptions(resolution=56),
                          checkpoint=str(ckpt))
    fm = ex.extract(np.full((56, 56, 3), 128, np.uint8))
    assert fm.dim == 3
    assert torch.allclose(fm.features.norm(dim=0), torch.ones(()), atol=1e-4)  # unit sphere points


def test_step_losses_match_the_loss_module(tiny):
    cfg = prepare("sph", tiny())[1]
    method = SPH()
    model = method.build_model(cfg, torch.device("cpu"))
    data = method.build_data(cfg)
    batch = data.collate([data.sample(i, np.random.default_rng(i)) for i in range(4)])
    out = model(batch)
    t = out.logs
    assert float(out.loss.detach()) == pytest.approx(t["L_rec"] + 0.3 * t["L_rd"] + 0.3 * t["L_o"] + 0.1 * t["L_vp"], rel=1e-5)
    assert model.adapted.specs[0]["category_names"] == ["car", "mug"]


DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "SPair-71k"


@pytest.mark.skipif(not DATA.is_dir(), reason="shared SPair-71k subset absent")
def test_real_spair_source_reads_pairs_azimuths_and_refuses_missing_masks(tiny):
    # the shared subset has no Segmentation folder: refused by default, boxes with mask_fallback=bbox
    cfg = prepare("sph", tiny(), ["data.source=spair", f"data.root={DATA}", "data.split=test"])[1]
    with pytest.raises(DatasetError, match="mask of .* is missing"):
        SPH().training_images(cfg)
    cfg = prepare("sph", tiny(), ["data.source=spair", f"data.root={DATA}", "data.split=test",
                                  "data.mask_fallback=bbox"])[1]
    imgs = SPH().training_images(cfg)
    assert len(imgs) == 12 and all  # 42 images in the pairs, 30 without an ImageAnnotation azimuth(i.mask is None and i.bbox is not None for i in imgs)
    assert {i.category for i in imgs} <= {"cat", "cow", "dog", "horse", "person", "pottedplant", "sheep"}
    assert all(0 <= i.azimuth < 8 for i in imgs)
    data = SPH().build_data(cfg)
    item = data.sample(0, np.random.default_rng(0))
    assert item["fg"].any()  # the box became the foreground
