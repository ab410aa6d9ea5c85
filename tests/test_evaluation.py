"""COCO-WholeBody evaluation: known answers, and parity with xtcocotools as mmpose runs it.

The parity tests need ``xtcocotools`` (skipped without it; with numpy 2 build it from source:
``pip install numpy cython setuptools wheel && pip install --no-binary xtcocotools
--no-build-isolation xtcocotools``; with ``REQUIRE_REFERENCES=1``, as CI runs, they fail).
The reference there is mmpose's ``CocoWholeBodyMetric`` written out literally: its rescoring
and OKS-NMS loops, its results file split into body / foot / face / hands, and xtcocotools'
COCOeval per part with ``use_area=True``.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from engines.errors import UserError
from engines.skeleton import PARTS, SIGMAS
from tests.conftest import need, need_reference
from trainer.evaluation import (
    AREA_RANGES,
    EVAL_PARTS,
    GT_FIELDS,
    STAT_NAMES,
    compute_oks,
    evaluate_wholebody,
    format_table,
    oks_nms,
    rescore,
)

CUTS = np.cumsum([0, *(len(r) for r in PARTS.values())])  # 0 17 23 91 112 133
XTCOCO_TYPES = {"body": "keypoints_body", "foot": "keypoints_foot", "face": "keypoints_face",
                "left_hand": "keypoints_lefthand", "right_hand": "keypoints_righthand",
                "wholebody": "keypoints_wholebody"}


# --------------------------------------------------------------------------------------------
# Data: predictions built from ground truth, and a synthetic ground truth
# --------------------------------------------------------------------------------------------


def gt_keypoints(ann: dict) -> np.ndarray:
    """[133, 3] keypoints of a COCO-WholeBody annotation."""
    return np.concatenate([np.asarray(ann[f], float).reshape(-1, 3) for f in GT_FIELDS.values()])


def entry(image_id: int, kpts: np.ndarray, score: float, bbox=None, **extra) -> dict:
    out = {"image_id": image_id, "category_id": 1, "keypoints": kpts.ravel().tolist(),
           "score": float(score)}
    if bbox is not None:
        out["bbox"] = [float(v) for v in bbox]
    out.update(extra)
    return out


def perfect_predictions(gt: dict) -> list[dict]:
    """GT positions; score 1 on labelled points, 0 elsewhere (a part never labelled: no dt)."""
    preds = []
    for ann in gt["annotations"]:
        k = gt_keypoints(ann)
        k[:, 2] = (k[:, 2] > 0).astype(float)
        preds.append(entry(ann["image_id"], k, 0.9, ann["bbox"]))
    return preds


def noisy_predictions(gt: dict, rng: np.random.Generator, *, noise: tuple[float, ...],
                      drop: float = 0.15, duplicates: float = 0.3, false_positives: int = 2,
                      bbox_scores: bool = False) -> list[dict]:
    """Ground truth + Gaussian noise (a fraction of sqrt(area)), drops, duplicates, FPs.

    Scores come from a small set so that ties occur; some points and whole hands score 0.
    """
    images = {img["id"]: img for img in gt["images"]}
    preds = []

    def person(image_id, k, x, y, w, h, sd):
        xy = np.where(k[:, 2:] > 0, k[:, :2], [x + w / 2, y + h / 2])
        xy = xy + rng.normal(0, sd, (len(k), 2))
        s = rng.uniform(0.0, 1.0, len(k))
        s[rng.random(len(k)) < 0.1] = 0.0
        if rng.random() < 0.2:
            s[PARTS["left_hand"].start:PARTS["left_hand"].stop] = 0.0
        if rng.random() < 0.1:
            s[PARTS["face"].start:PARTS["face"].stop] = 0.0
        score = float(rng.choice([0.5, 0.75, round(float(rng.random()), 3)]))
        extra = {"bbox_score": score} if bbox_scores else {}
        return entry(image_id, np.column_stack([xy, s]).round(2), score,
                     [x, y, w, h], **extra)

    for ann in gt["annotations"]:
        if rng.random() < drop:
            continue
        x, y, w, h = ann["bbox"]
        k = gt_keypoints(ann)
        copies = 2 if rng.random() < duplicates else 1
        for _ in range(copies):
            sd = float(rng.choice(noise)) * math.sqrt(max(ann["area"], 1.0))
            preds.append(person(ann["image_id"], k, x, y, w, h, sd))
    for image_id, img in images.items():
        for _ in range(int(rng.integers(0, false_positives + 1))):
            w, h = rng.uniform(20, 300, 2)
            x, y = rng.uniform(0, [max(img["width"] - w, 1), max(img["height"] - h, 1)])
            k = np.zeros((133, 3))
            k[:, :2] = rng.uniform([x, y], [x + w, y + h], (133, 2))
            preds.append(person(image_id, k, x, y, w, h, 0.0))
    rng.shuffle(preds)
    return preds


def synthetic_gt(rng: np.random.Generator, n_images: int = 6, crowded: int = 25) -> dict:
    """COCO-WholeBody-shaped ground truth: crowds, tiny/medium/large people, unlabelled parts,
    an image with ``crowded`` people (over maxDets 20 by default) and one with nobody."""
    images, anns = [], []
    for i in range(n_images):
        width, height = 640, 480
        images.append({"id": 1000 + i, "width": width, "height": height,
                       "file_name": f"{1000 + i}.jpg"})
        count = crowded if i == 0 else (0 if i == 1 else int(rng.integers(1, 6)))
        for _ in range(count):
            size = float(rng.choice([20.0, 60.0, 150.0, 300.0])) * rng.uniform(0.8, 1.2)
            w, h = size * 0.6, size
            x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
            k = np.zeros((133, 3))
            k[:, :2] = rng.uniform([x, y], [x + w, y + h], (133, 2)).round(1)
            for part, r in PARTS.items():
                if rng.random() < (0.9 if part == "body" else 0.5):
                    k[r.start:r.stop, 2] = np.where(rng.random(len(r)) < 0.8, 2, 0)
            k[k[:, 2] == 0] = 0.0
            ann = {"id": len(anns) + 1, "image_id": 1000 + i, "category_id": 1,
                   "bbox": [round(x, 2), round(y, 2), round(w, 2), round(h, 2)],
                   "area": round(w * h * 0.7, 3), "iscrowd": int(rng.random() < 0.08),
                   "num_keypoints": int((k[:17, 2] > 0).sum())}
            for field, (a, b) in zip(GT_FIELDS.values(), zip(CUTS[:-1], CUTS[1:])):
                ann[field] = k[a:b].ravel().tolist()
            anns.append(ann)
    for ann, area in zip(anns[-3:], (32.0**2, 96.0**2)):  # on the area-range bounds
        ann["area"] = area
    return {"images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "person", "supercategory": "person"}]}


def with_crowd_and_empty_image(gt: dict) -> dict:
    """The real GT plus a crowd annotation and an image nobody is annotated in."""
    gt = copy.deepcopy(gt)
    gt["annotations"][2]["iscrowd"] = 1
    gt["images"].append({"id": 999999, "width": 640, "height": 480, "file_name": "999999.jpg"})
    return gt


def has_positives(gt: dict, part: str, area: str) -> bool:
    """Whether any non-crowd GT person has a labelled point of ``part`` in area range ``area``."""
    lo, hi = AREA_RANGES[area]
    r = PARTS.get(part, range(133))
    return any(not a.get("iscrowd") and lo <= a["area"] <= hi
               and (gt_keypoints(a)[r.start:r.stop, 2] > 0).any() for a in gt["annotations"])


@pytest.fixture(scope="module")
def gt_path() -> Path:
    """The real COCO-WholeBody annotations of the 4 images (14 persons)."""
    return need("coco_wholebody/test_coco_wholebody.json")


@pytest.fixture(scope="module")
def real_gt(gt_path) -> dict:
    with open(gt_path) as f:
        return json.load(f)


# --------------------------------------------------------------------------------------------
# Known answers (no xtcocotools needed)
# --------------------------------------------------------------------------------------------


def test_hand_computed_oks():
    sigmas = np.array([0.1, 0.05])
    variances = (2 * sigmas) ** 2  # 0.04, 0.01
    gt = np.array([[[0.0, 0.0, 2.0], [10.0, 0.0, 0.0]],  # only the first point labelled
                   [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])  # nothing labelled: box distance
    areas = np.array([100.0, 50.0])
    boxes = np.array([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]])  # grown: [-10, 20]
    dt = np.array([[[3.0, 4.0], [99.0, 99.0]],
                   [[25.0, 5.0], [5.0, -13.0]]])
    got = compute_oks(dt, gt, areas, boxes, sigmas)
    # labelled GT: one point, d² = 25 -> exp(-25 / 0.04 / 100 / 2)
    assert got[0, 0] == pytest.approx(math.exp(-25 / variances[0] / 100 / 2), rel=1e-12)
    # unlabelled GT: distance outside the grown box, mean over both points
    d2 = np.array([(99 - 20) ** 2 + (99 - 20) ** 2, 0.0])
    assert got[0, 1] == pytest.approx(np.mean(np.exp(-d2 / variances / 50 / 2)), rel=1e-12)
    d2 = np.array([5.0**2, 3.0**2])  # x 25 > 20 by 5; y -13 < -10 by 3
    assert got[1, 1] == pytest.approx(np.mean(np.exp(-d2 / variances / 50 / 2)), rel=1e-12)
    assert compute_oks(gt[:1, :, :2], gt[:1], areas[:1], boxes[:1], sigmas)[0, 0] == 1.0


def test_perfect_predictions_score_one(real_gt):
    metrics = evaluate_wholebody(real_gt, perfect_predictions(real_gt))
    assert list(metrics) == list(EVAL_PARTS)
    for part, stats in metrics.items():
        assert list(stats) == list(STAT_NAMES)
        for name, value in stats.items():
            area = {"(M)": "medium", "(L)": "large"}.get(name.split()[-1], "all")
            expected = 1.0 if has_positives(real_gt, part, area) else -1.0
            # COCOeval's precision is tp / (tp + fp + eps): 1 - 2**-52 for a single match
            assert value == pytest.approx(expected, abs=1e-12), (part, name)
        assert stats["AP"] == pytest.approx(1.0, abs=1e-12) and stats["AR"] == 1.0


def test_empty_predictions_score_zero_or_minus_one(real_gt, gt_path, tmp_path):
    path = tmp_path / "empty.json"
    path.write_text("[]")
    metrics = evaluate_wholebody(gt_path, path)
    for part, stats in metrics.items():
        for name, value in stats.items():
            area = {"(M)": "medium", "(L)": "large"}.get(name.split()[-1], "all")
            assert value == (0.0 if has_positives(real_gt, part, area) else -1.0), (part, name)


def test_synthetic_perfect_and_crowds():
    gt = synthetic_gt(np.random.default_rng(3), crowded=10)
    preds = perfect_predictions(gt)
    metrics = evaluate_wholebody(gt, [p for p, a in zip(preds, gt["annotations"])
                                      if not a["iscrowd"]])
    for part in EVAL_PARTS:
        assert metrics[part]["AP"] == pytest.approx(1.0, abs=1e-12), part


def test_only_20_best_per_image_count():
    gt = synthetic_gt(np.random.default_rng(4), n_images=1, crowded=25)
    for ann in gt["annotations"]:
        ann["iscrowd"] = 0
        k = np.array(ann["keypoints"]).reshape(-1, 3)
        k[:, 2] = 2
        ann["keypoints"] = k.ravel().tolist()
    preds = perfect_predictions(gt)
    for i, p in enumerate(preds):
        p["score"] = 1.0 - i / 100
    body = evaluate_wholebody(gt, preds)["body"]
    assert body["AR"] == pytest.approx(20 / 25)  # maxDets 20
    assert body["AP"] == pytest.approx(81 / 101)  # precision 1 up to recall 0.80, then 0


def test_oks_nms_keeps_best_of_near_duplicates():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 100, (133, 3))
    b = rng.uniform(200, 300, (133, 3))
    kpts = np.stack([a, a + 0.01, b, a + 30.0])
    keep = oks_nms(kpts, np.array([0.5, 0.9, 0.7, 0.6]), np.full(4, 1e4, np.float32))
    assert keep.tolist() == [1, 2, 3]  # 0 is a near copy of 1, which scores higher
    assert oks_nms(np.zeros((0, 133, 3)), np.zeros(0), np.zeros(0)).size == 0


def test_nms_removes_duplicate_false_positives(real_gt):
    preds = perfect_predictions(real_gt)
    dups = []  # a near copy of each person, ranked just below it: an FP between the TPs
    for i, p in enumerate(preds):
        p["score"] = 0.9 - i * 0.05
        k = np.array(p["keypoints"]).reshape(-1, 3)
        k[:, :2] += 0.05
        dups.append({**p, "keypoints": k.ravel().tolist(), "score": p["score"] - 0.01})
    with_nms = evaluate_wholebody(real_gt, preds + dups, oks_nms=True)
    without = evaluate_wholebody(real_gt, preds + dups, oks_nms=False)
    assert with_nms["body"]["AP"] == pytest.approx(1.0, abs=1e-12)
    assert without["body"]["AP"] < 0.9
    assert with_nms["body"]["AR"] == without["body"]["AR"] == 1.0


def test_rescoring_with_bbox_score():
    scores = np.array([[0.1, 0.5, 0.9, 0.2], [0.1, 0.1, 0.0, 0.2]])
    got = rescore(np.array([0.8, 0.8]), scores, thr=0.2)
    assert got == pytest.approx([0.8 * (0.5 + 0.9) / 2, 0.0])


def test_split_results_form_equals_flat(real_gt):
    preds = noisy_predictions(real_gt, np.random.default_rng(5), noise=(0.01, 0.05))
    split = []
    for p in preds:
        k = np.array(p["keypoints"])
        s = {key: v for key, v in p.items() if key != "keypoints"}
        for i, field in enumerate(GT_FIELDS.values()):
            s[field] = k[CUTS[i] * 3:CUTS[i + 1] * 3].tolist()
        split.append(s)
    assert evaluate_wholebody(real_gt, split) == evaluate_wholebody(real_gt, preds)


def test_errors_name_the_file(tmp_path, real_gt, gt_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(UserError, match="nope.json: file not found"):
        evaluate_wholebody(missing, [])
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match="bad.json: not valid JSON"):
        evaluate_wholebody(gt_path, bad)
    with pytest.raises(UserError, match="bad.json: not valid JSON"):
        evaluate_wholebody(bad, [])
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"images": []}))
    with pytest.raises(UserError, match="wrong.json: expected a COCO-WholeBody"):
        evaluate_wholebody(wrong, [])
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps([entry(785, np.zeros((17, 3)), 1.0)]))
    with pytest.raises(UserError, match=r"pred.json: entry 0 'keypoints': expected 399"):
        evaluate_wholebody(gt_path, pred)
    pred.write_text(json.dumps([entry(12345, np.zeros((133, 3)), 1.0)]))
    with pytest.raises(UserError, match="pred.json: image_id 12345 not in the ground truth"):
        evaluate_wholebody(gt_path, pred)
    pred.write_text(json.dumps({"image_id": 1}))
    with pytest.raises(UserError, match="pred.json: expected a COCO keypoint results"):
        evaluate_wholebody(gt_path, pred)
    body_only = copy.deepcopy(real_gt)
    del body_only["annotations"][0]["foot_kpts"]
    with pytest.raises(UserError, match="has no 'foot_kpts'"):
        evaluate_wholebody(body_only, [])


def test_format_table():
    metrics = {"body": dict.fromkeys(STAT_NAMES, 0.5), "wholebody": dict.fromkeys(STAT_NAMES, -1)}
    lines = format_table(metrics).splitlines()
    assert len(lines) == 3
    assert lines[0].split()[:3] == ["part", "AP", "AP"]
    assert lines[1].split()[0] == "body" and lines[1].split()[1] == "0.500"
    assert lines[2].split()[1] == "-1.000"


def run_cli(argv: list[str]) -> int:
    from app.cli import eval as eval_cli

    parser = argparse.ArgumentParser(prog="dwpose")
    eval_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_prints_table_and_writes_json(real_gt, gt_path, tmp_path, capsys):
    pred = tmp_path / "results.json"
    pred.write_text(json.dumps(perfect_predictions(real_gt)))
    out = tmp_path / "sub" / "metrics.json"
    assert run_cli(["eval", "--gt", str(gt_path), "--pred", str(pred), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "wholebody" in text and "1.000" in text
    metrics = json.loads(out.read_text())
    assert set(metrics) == set(EVAL_PARTS) and metrics["body"]["AP"] == 1.0
    with pytest.raises(UserError, match="missing.json: file not found"):
        run_cli(["eval", "--gt", str(gt_path), "--pred", str(tmp_path / "missing.json")])


# --------------------------------------------------------------------------------------------
# Parity with xtcocotools (mmpose's CocoWholeBodyMetric, written out literally)
# --------------------------------------------------------------------------------------------


def mmpose_postprocess(preds: list[dict], *, nms: bool, thr: float = 0.9) -> list[dict]:
    """mmpose CocoMetric.compute_metrics: rescoring, grouping by image, oks_nms; then
    CocoWholeBodyMetric.results2json: split keypoints per part, no bbox."""
    kpts = {}
    for p in preds:
        k = np.array(p["keypoints"], dtype=float).reshape(-1, 3)  # the JSON's numbers
        inst = {"img_id": p["image_id"], "keypoints": k, "score": p["score"]}
        if "bbox_score" in p:
            mean_kpt_score, valid_num = 0, 0
            for kpt_score in k[:, 2]:
                if kpt_score > 0.2:
                    mean_kpt_score += kpt_score
                    valid_num += 1
            if valid_num != 0:
                mean_kpt_score /= valid_num
            inst["score"] = p["bbox_score"] * mean_kpt_score
        if "bbox" in p:  # top-down crop: bbox_xyxy2cs(padding 1.25) + aspect ratio 0.75
            x, y, w, h = p["bbox"]
            box = np.array([x, y, x + w, y + h], dtype=np.float32)
            scale = np.array([box[2] - box[0], box[3] - box[1]], dtype=np.float32) * 1.25
            sw, sh = scale
            scale = np.array([sw, sw / 0.75] if sw > sh * 0.75 else [sh * 0.75, sh], np.float32)
            inst["area"] = np.prod(scale)
        else:
            inst["area"] = np.ptp(k[:, 0]) * np.ptp(k[:, 1])
        kpts.setdefault(p["image_id"], []).append(inst)
    results = []
    for instances in kpts.values():
        if nms:
            instances = [instances[i] for i in literal_oks_nms(instances, thr, SIGMAS)]
        for inst in instances:
            k = inst["keypoints"].reshape(-1)
            r = {"image_id": inst["img_id"], "category_id": 1, "score": float(inst["score"])}
            for i, field in enumerate(GT_FIELDS.values()):
                r[field] = k[CUTS[i] * 3:CUTS[i + 1] * 3].tolist()
            results.append(r)
    return results


def literal_oks_nms(kpts_db: list[dict], thr: float, sigmas: np.ndarray) -> list[int]:
    """mmpose.evaluation.functional.oks_nms, one detection at a time."""
    scores = np.array([k["score"] for k in kpts_db])
    kpts = np.array([k["keypoints"].flatten() for k in kpts_db])
    areas = np.array([k["area"] for k in kpts_db])
    variances = (sigmas * 2) ** 2
    order = scores.argsort()[::-1]
    keep = []
    while len(order) > 0:
        i = order[0]
        keep.append(i)
        ious = np.zeros(len(order) - 1, dtype=np.float32)
        for n, j in enumerate(order[1:]):
            dx = kpts[j, 0::3] - kpts[i, 0::3]
            dy = kpts[j, 1::3] - kpts[i, 1::3]
            e = (dx**2 + dy**2) / variances / ((areas[i] + areas[j]) / 2 + np.spacing(1)) / 2
            ious[n] = np.sum(np.exp(-e)) / len(e)
        order = order[np.where(ious <= thr)[0] + 1]
    return keep


def need_xtcocotools():
    """The reference COCOeval, else ``need_reference`` (also when a numpy-1.x build fails
    under numpy 2)."""
    try:
        from xtcocotools import coco, cocoeval
    except ImportError as exc:
        need_reference(f"xtcocotools not usable ({exc}); install it with: pip install numpy "
                       "cython setuptools wheel && pip install --no-binary xtcocotools "
                       "--no-build-isolation xtcocotools")
    return coco, cocoeval


def xtcocotools_stats(gt: dict, results: list[dict], tmp_path: Path) -> dict[str, np.ndarray]:
    coco_api, cocoeval = need_xtcocotools()
    gt_file = tmp_path / "gt.json"
    gt_file.write_text(json.dumps(gt))
    stats = {}
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        coco = coco_api.COCO(str(gt_file))
        det = coco.loadRes(copy.deepcopy(results))
        for part, iou_type in XTCOCO_TYPES.items():
            r = PARTS.get(part, range(133))
            ev = cocoeval.COCOeval(coco, det, iou_type, SIGMAS[r.start:r.stop], use_area=True)
            ev.params.useSegm = None
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
            stats[part] = np.asarray(ev.stats, dtype=float)
    return stats


def assert_same(ours: dict, ref: dict) -> None:
    for part in EVAL_PARTS:
        got = np.array([ours[part][n] for n in STAT_NAMES])
        np.testing.assert_allclose(got, ref[part], rtol=0, atol=1e-12,
                                   err_msg=f"{part}: {dict(zip(STAT_NAMES, ref[part]))}")


NOISE_LEVELS = {"tiny": (0.002, 0.005), "small": (0.01, 0.02, 0.04),
                "mixed": (0.003, 0.02, 0.08, 0.3)}


@pytest.mark.parametrize("nms", [False, True], ids=["no_nms", "oks_nms"])
@pytest.mark.parametrize("noise", list(NOISE_LEVELS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_parity_real_gt(real_gt, tmp_path, seed, noise, nms):
    need_xtcocotools()
    gt = with_crowd_and_empty_image(real_gt) if seed == 2 else real_gt
    preds = noisy_predictions(gt, np.random.default_rng(seed), noise=NOISE_LEVELS[noise],
                              bbox_scores=seed == 1)
    ref = xtcocotools_stats(gt, mmpose_postprocess(preds, nms=nms), tmp_path)
    assert_same(evaluate_wholebody(gt, preds, oks_nms=nms), ref)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_parity_synthetic_gt(tmp_path, seed):
    """Crowds, >20 people in an image, empty images, people in every area range."""
    need_xtcocotools()
    rng = np.random.default_rng(100 + seed)
    gt = synthetic_gt(rng)
    preds = noisy_predictions(gt, rng, noise=(0.005, 0.02, 0.05, 0.2), duplicates=0.5,
                              false_positives=4)
    for nms in (False, True):
        ref = xtcocotools_stats(gt, mmpose_postprocess(preds, nms=nms), tmp_path)
        assert_same(evaluate_wholebody(gt, preds, oks_nms=nms), ref)


def test_parity_known_answers(real_gt, tmp_path):
    """The known-answer cases agree with xtcocotools too."""
    need_xtcocotools()
    for preds in (perfect_predictions(real_gt), []):
        ref = xtcocotools_stats(real_gt, mmpose_postprocess(preds, nms=True), tmp_path)
        assert_same(evaluate_wholebody(real_gt, preds), ref)
