"""Dataset parsing, the RTMPose augmentation pipeline and reproducible loading."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engines.codec import SimCCCodec
from engines.skeleton import FLIP_INDICES, KEYPOINT_INDEX, NUM_KEYPOINTS
from trainer.data.coco_wholebody import CocoWholeBodyDataset, MixedDataset
from trainer.data.synthetic import generate
from trainer.data.transforms import (
    LOWER_BODY_IDS,
    UPPER_BODY_IDS,
    GenerateTarget,
    GetBBoxCenterScale,
    RandomBBoxTransform,
    RandomFlip,
    RandomHalfBody,
    TopdownAffine,
    build_pipeline,
    make_loader,
)

INPUT = (192, 256)  # (w, h)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("syn"), 6, seed=3, image_size=(256, 192))


def _sample(w: int = 300, h: int = 200) -> dict:
    """A raw sample with spread-out keypoints on a black image."""
    rng = np.random.default_rng(1)
    kp = np.stack([rng.uniform(60, w - 60, NUM_KEYPOINTS), rng.uniform(40, h - 40, NUM_KEYPOINTS)],
                  axis=1).astype(np.float32)
    return {"img": np.zeros((h, w, 3), np.uint8), "bbox": np.array([50, 30, w - 50, h - 30],
                                                                     np.float32),
            "keypoints": kp, "keypoints_visible": np.ones(NUM_KEYPOINTS, np.float32)}


def test_synthetic_dataset_parses(synthetic):
    ds = CocoWholeBodyDataset(synthetic, synthetic.parent / "images")
    ann = json.loads(synthetic.read_text())["annotations"]
    assert len(ds) == len(ann) and not ds.skipped
    s = ds.load(0)
    assert s["keypoints"].shape == (133, 2) and s["keypoints_visible"].shape == (133,)
    assert set(np.unique(s["keypoints_visible"])) <= {0.0, 1.0}
    assert s["img"].dtype == np.uint8 and s["img"].shape == (192, 256, 3)
    x, y, w, h = ann[0]["bbox"]
    assert np.allclose(s["bbox"], [x, y, min(x + w, 255), min(y + h, 191)], atol=1e-3)


def test_broken_entries_are_skipped_and_counted(synthetic, tmp_path, caplog):
    data = json.loads(synthetic.read_text())
    good = data["annotations"]
    base = dict(good[0])
    data["images"].append({"id": 999, "file_name": "missing.jpg", "width": 640,
                           "height": 480})
    broken = [
        {**base, "id": 1001, "image_id": 999},  # image file missing
        {**base, "id": 1002, "bbox": [10, 10, 0, 50]},  # zero area
        {**base, "id": 1003, "face_kpts": base["face_kpts"][:-3]},  # wrong length
        {**base, "id": 1004, "keypoints": [float("nan")] * 51},  # NaN
        {**base, "id": 1005, "lefthand_kpts": None},  # missing part
        {**base, "id": 1006, "image_id": 12345},  # no image record
        {**base, "id": 1007, "iscrowd": 1},
    ]
    data["annotations"] = good + broken
    ann_file = tmp_path / "broken.json"
    ann_file.write_text(json.dumps(data))
    ds = CocoWholeBodyDataset(ann_file, synthetic.parent / "images")
    assert len(ds) == len(good)
    assert ds.skipped == {"missing_image_file": 1, "zero_area_bbox": 1, "bad_keypoints": 3,
                          "missing_image_record": 1, "iscrowd": 1}
    assert "skipped 7" in caplog.text


def test_undecodable_image_falls_back_deterministically(synthetic, tmp_path):
    img_dir = tmp_path / "images"
    img_dir.mkdir()
    for p in (synthetic.parent / "images").iterdir():
        (img_dir / p.name).write_bytes(p.read_bytes())
    ds = CocoWholeBodyDataset(synthetic, img_dir, transform=build_pipeline(INPUT))
    first = ds.samples[0]["img_path"]
    Path(first).write_bytes(b"not a jpeg")
    broken = [i for i, s in enumerate(ds.samples) if s["img_path"] == first]
    nxt = (broken[-1] + 1) % len(ds)
    assert ds.load(broken[0])["ann_id"] == ds.samples[nxt]["ann_id"]
    out = ds[broken[0]]
    assert out["inputs"].shape == (3, 256, 192)
    assert ds.decode_failures == 2 * len(broken)


def test_affine_keeps_keypoints_on_pixels():
    sample = _sample()
    x, y = 123.0, 87.0
    cv2.circle(sample["img"], (int(x), int(y)), 2, (255, 255, 255), -1)
    sample["keypoints"][0] = (x, y)
    sample = GetBBoxCenterScale()(sample, np.random.default_rng(0))
    sample["bbox_rotation"] = 37.0
    out = TopdownAffine(INPUT)(sample, np.random.default_rng(0))
    gray = out["img"][..., 0].astype(np.float64)
    ys, xs = np.mgrid[:gray.shape[0], :gray.shape[1]]
    centroid = np.array([(xs * gray).sum(), (ys * gray).sum()]) / gray.sum()
    assert np.linalg.norm(centroid - out["transformed_keypoints"][0]) < 1.0


def test_flip_mirrors_left_right_and_is_an_involution():
    sample = _sample()
    w = sample["img"].shape[1]
    lw, rw = KEYPOINT_INDEX["left_wrist"], KEYPOINT_INDEX["right_wrist"]
    x, y = (int(v) for v in sample["keypoints"][lw])
    sample["img"][y, x] = 255
    sample["keypoints"][lw] = (x, y)
    sample["keypoints_visible"][rw] = 0
    sample = GetBBoxCenterScale()(sample, np.random.default_rng(0))
    orig = {k: v.copy() for k, v in sample.items() if isinstance(v, np.ndarray)}
    flip = RandomFlip(prob=1.0)
    once = flip(dict(sample), np.random.default_rng(0))
    fx, fy = once["keypoints"][rw]
    assert (fx, fy) == (w - 1 - x, y) and once["img"][y, int(fx)].all()
    assert once["keypoints_visible"][lw] == 0 and once["keypoints_visible"][rw] == 1
    assert np.allclose(once["keypoints"][FLIP_INDICES][:, 1], orig["keypoints"][:, 1])
    assert once["bbox_center"][0] == w - 1 - orig["bbox_center"][0]
    twice = flip(once, np.random.default_rng(0))
    for key, value in orig.items():
        assert np.allclose(twice[key], value, atol=1e-4), key  # float32 w - 1 - x rounding
    assert np.array_equal(twice["img"], orig["img"])


def test_half_body_boxes_the_chosen_half():
    sample = GetBBoxCenterScale()(_sample(), np.random.default_rng(0))
    upper = RandomHalfBody(prob=1.0, upper_prioritized_prob=1.0)
    out = upper(dict(sample), np.random.default_rng(0))
    pts = sample["keypoints"][list(UPPER_BODY_IDS)]
    assert np.allclose(out["bbox_center"], pts.mean(axis=0))
    assert np.allclose(out["bbox_scale"], (pts.max(axis=0) - pts.min(axis=0)) * 1.5)
    lower = RandomHalfBody(prob=1.0, upper_prioritized_prob=0.0)
    out = lower(dict(sample), np.random.default_rng(0))
    pts = sample["keypoints"][list(LOWER_BODY_IDS)]
    assert np.allclose(out["bbox_center"], pts.mean(axis=0))
    few = dict(sample, keypoints_visible=np.zeros(NUM_KEYPOINTS, np.float32))
    assert upper(few, np.random.default_rng(0))["bbox_center"] is sample["bbox_center"]


def test_bbox_transform_ranges():
    rng = np.random.default_rng(0)
    aug = RandomBBoxTransform(scale_factor=(0.6, 1.4), rotate_factor=80.0)
    scales, rots = [], []
    for _ in range(300):
        s = aug({"bbox_center": np.zeros(2, np.float32),
                 "bbox_scale": np.ones(2, np.float32)}, rng)
        scales.append(s["bbox_scale"][0])
        rots.append(s["bbox_rotation"])
    assert min(scales) >= 0.6 and max(scales) <= 1.4
    assert max(np.abs(rots)) <= 80 and 0.4 < np.mean(np.array(rots) != 0) < 0.8


def _check_targets_decode(sample: dict) -> int:
    """Labelled keypoints inside the crop decode from the SimCC targets to within half a bin
    (0.5 px at split ratio 2); returns how many were checked. Tensors or arrays."""
    def arr(key: str) -> np.ndarray:
        return np.asarray(sample[key])

    kp, weights = arr("transformed_keypoints"), arr("weights")
    ok = ((weights > 0) & (kp[:, 0] >= 0) & (kp[:, 0] <= INPUT[0] - 1)
          & (kp[:, 1] >= 0) & (kp[:, 1] <= INPUT[1] - 1))
    decoded, _ = SimCCCodec(INPUT, sigma=(4.9, 5.66)).decode(arr("x_labels")[None],
                                                             arr("y_labels")[None])
    assert np.abs(decoded[0][ok] - kp[ok]).max() <= 0.25 + 1e-4
    return int(ok.sum())


def test_targets_decode_to_transformed_keypoints(synthetic):
    ds = CocoWholeBodyDataset(synthetic, synthetic.parent / "images")
    pipeline = build_pipeline(INPUT)[:-2]  # up to (not including) targets and packing
    rng = np.random.default_rng(0)
    checked = 0
    for i in range(len(ds)):
        sample = ds.load(i)
        for step in pipeline:
            sample = step(sample, rng)
        sample = GenerateTarget(INPUT, (4.9, 5.66))(sample, rng)
        checked += _check_targets_decode(sample)
        assert (sample["weights"][sample["keypoints_visible"] == 0] == 0).all()
    assert checked > 100


@pytest.mark.parametrize("stage", ["main", "final", "plain"])
def test_pipeline_outputs_and_pickles(synthetic, stage):
    pipeline = build_pipeline(INPUT, stage)
    assert pickle.loads(pickle.dumps(pipeline))
    ds = CocoWholeBodyDataset(synthetic, synthetic.parent / "images", transform=pipeline)
    out = ds[0]
    assert out["inputs"].shape == (3, 256, 192) and out["inputs"].dtype == torch.float32
    assert out["x_labels"].shape == (133, 384) and out["y_labels"].shape == (133, 512)
    assert out["weights"].shape == (133,)
    assert float(out["inputs"].min()) > -3 and float(out["inputs"].max()) < 3


def test_plain_pipeline_is_the_validation_crop_with_targets(synthetic):
    """``--no-augment``: every epoch sees the validation crop of each box, with its labels."""
    plain = CocoWholeBodyDataset(synthetic, synthetic.parent / "images",
                                 transform=build_pipeline(INPUT, "plain"), seed=0)
    val = CocoWholeBodyDataset(synthetic, synthetic.parent / "images",
                               transform=build_pipeline(INPUT, "val"))
    for i in range(3):
        a, b = plain[i], val[i]
        assert torch.equal(a["inputs"], b["inputs"])
        again = plain[i]
        for key in ("inputs", "x_labels", "y_labels", "weights"):
            assert torch.equal(a[key], again[key]), key
        assert _check_targets_decode(a) > 50


def test_loader_is_reproducible(synthetic):
    ds = CocoWholeBodyDataset(synthetic, synthetic.parent / "images",
                              transform=build_pipeline(INPUT))

    def batches(seed: int) -> list[dict]:
        return list(make_loader(ds, batch_size=4, workers=2, seed=seed))

    a, b, c = batches(5), batches(5), batches(6)
    assert len(a) == (len(ds) + 3) // 4 and a[0]["inputs"].shape == (4, 3, 256, 192)
    for x, y in zip(a, b):
        assert x["img_path"] == y["img_path"]
        for key in ("inputs", "x_labels", "y_labels", "weights", "bbox_center"):
            assert torch.equal(x[key], y[key]), key
    assert not all(torch.equal(x["inputs"], y["inputs"]) for x, y in zip(a, c))


class _Ids(torch.utils.data.Dataset):
    def __init__(self, n: int, tag: int) -> None:
        self.n, self.tag = n, tag

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[int, int]:
        return self.tag, i


def test_mixed_dataset_ratios():
    mixed = MixedDataset([(_Ids(50, 0), 0.7), (_Ids(500, 1), 0.3)], length=1000, seed=0)
    tags = np.array([mixed[i][0] for i in range(len(mixed))])
    assert (tags == 0).sum() == 700 and (tags == 1).sum() == 300
    first = mixed.mapping.copy()
    mixed.set_epoch(1)
    assert not np.array_equal(first, mixed.mapping)
    mixed.set_epoch(0)
    assert np.array_equal(first, mixed.mapping)
    # default length: the sum of the lengths; unnormalised ratios; the small set repeats
    small = MixedDataset([(_Ids(30, 0), 2.0), (_Ids(30, 1), 1.0)], seed=1)
    sources = np.array([small.source(i) for i in range(len(small))])
    assert len(small) == 60 and (sources == 0).sum() == 40


def test_real_coco_wholebody_annotations(coco_dir):
    ann = coco_dir / "test_coco_wholebody.json"
    ds = CocoWholeBodyDataset(ann, coco_dir, transform=build_pipeline(INPUT))
    total = len(json.loads(ann.read_text())["annotations"])
    assert len(ds) > 0 and len(ds) + sum(ds.skipped.values()) == total
    assert set(ds.skipped) <= {"no_keypoints", "iscrowd"}
    for i in range(len(ds)):
        out = ds[i]
        assert out["inputs"].shape == (3, 256, 192)
        assert torch.isfinite(out["inputs"]).all() and out["weights"].sum() > 0
