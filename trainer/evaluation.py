"""COCO-WholeBody keypoint AP/AR, computed exactly as mmpose's ``CocoWholeBodyMetric`` does.

mmpose evaluates whole-body results in two steps, both reproduced here (numpy only):

1. **Post-processing** (``CocoMetric.compute_metrics``): an instance's score is rescored as
   ``bbox_score * mean(keypoint scores > 0.2)`` ("bbox_keypoint" mode), then OKS-NMS at 0.9 with
   the 133 whole-body sigmas removes near-duplicate persons per image ("oks_nms" mode).
2. **xtcocotools' COCOeval**, run six times with ``use_area=True``: iouType ``keypoints_body``,
   ``_foot``, ``_face``, ``_lefthand``, ``_righthand`` (each with its own keypoint slice and
   sigmas) and ``keypoints_wholebody`` (all 133). For each part:

   - a ground-truth person is ignored when it is a crowd or has no labelled keypoint (v > 0) of
     that part; a prediction is dropped when none of its keypoints of that part has score > 0;
   - OKS uses the ground truth's ``area``; a ground truth without labelled keypoints (only ever
     matched as "ignore") measures the distance to its bbox grown to 3x its size;
   - per image, predictions are sorted by score (stable) and cut to the 20 best; greedy matching
     at OKS thresholds .50:.05:.95 over area ranges all / medium (32²-96²) / large (> 96²); a
     prediction's area is the extent of its 17 *body* keypoints (xtcocotools' ``loadRes`` on
     mmpose's results file, which has no bbox and holds only body points under ``keypoints``);
   - precision is interpolated at 101 recall points; the 10 summary numbers are returned.
     Settings without any ground truth give -1, as COCOeval reports.

Ground truth is a COCO-WholeBody annotation dict or JSON file; results are a list (or JSON file)
in the format ``dwpose predict`` writes: ``{"image_id", "category_id", "keypoints": 133 (x, y,
score) triples, "score", "bbox": [x, y, w, h]}`` (mmpose's split form, with ``foot_kpts``,
``face_kpts``, ``lefthand_kpts`` and ``righthand_kpts`` beside 17 body ``keypoints``, is also read).
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np

from engines.errors import UserError
from engines.oks import compute_oks
from engines.pipeline import RESCORE_THR, rescore
from engines.skeleton import NUM_KEYPOINTS, PARTS, SIGMAS

__all__ = [
    "EVAL_PARTS",
    "STAT_NAMES",
    "compute_oks",
    "evaluate_groups",
    "evaluate_wholebody",
    "format_groups_table",
    "format_table",
    "oks_nms",
    "rescore",
]

#: Reported parts, in mmpose's order: the skeleton's five parts, then all 133 points.
EVAL_PARTS: tuple[str, ...] = (*PARTS, "wholebody")
#: The 10 numbers of COCOeval's keypoint summary, named as mmpose names them.
STAT_NAMES: tuple[str, ...] = (
    "AP", "AP .5", "AP .75", "AP (M)", "AP (L)", "AR", "AR .5", "AR .75", "AR (M)", "AR (L)",
)  # fmt: skip

#: COCO-WholeBody annotation field of each skeleton part (mmpose's ``results2json`` split).
GT_FIELDS: dict[str, str] = {
    "body": "keypoints",
    "foot": "foot_kpts",
    "face": "face_kpts",
    "left_hand": "lefthand_kpts",
    "right_hand": "righthand_kpts",
}
assert tuple(GT_FIELDS) == tuple(PARTS)

# mmpose CocoMetric defaults
NMS_THR = 0.9  # nms_mode 'oks_nms'
# Area of a person for OKS-NMS: mmpose uses the crop of top-down inference (bbox_scales), the
# box grown by 1.25 and widened to the model input's w/h, 3:4 for every released DWPose model.
NMS_BOX_PADDING = 1.25
NMS_ASPECT_RATIO = 0.75

# xtcocotools COCOeval keypoint parameters (Params.setKpParams)
MAX_DETS = 20
IOU_THRS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
REC_THRS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
AREA_RANGES: dict[str, tuple[float, float]] = {
    "all": (0.0**2, 1e5**2),
    "medium": (32.0**2, 96.0**2),
    "large": (96.0**2, 1e5**2),
}

GtLike = Union[Mapping[str, Any], str, Path]
ResultsLike = Union[Sequence[Mapping[str, Any]], str, Path]


# --------------------------------------------------------------------------------------------
# Loading and checking inputs
# --------------------------------------------------------------------------------------------


def _read_json(path: str | Path, expected: str) -> Any:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found (expected {expected})")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno}; "
                        f"expected {expected})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot be read ({exc}; expected {expected})") from None


def _triples(values: Any, count: int, where: str) -> np.ndarray:
    """``count`` (x, y, v) triples as a float64 [count, 3] array, or a UserError."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.shape != (count * 3,):
        raise UserError(f"{where}: expected {count * 3} numbers ({count} x, y, v triples)")
    _finite(arr, where)
    return arr.reshape(count, 3)


def _finite(values: np.ndarray | float, where: str) -> None:
    """Refuse NaN and infinity (JSON readers accept them; AP would then depend on how NaN
    sorts)."""
    bad = np.flatnonzero(~np.isfinite(np.atleast_1d(values)))
    if bad.size:
        value = np.atleast_1d(values)[bad[0]]
        at = f" at position {bad[0]}" if np.ndim(values) else ""
        raise UserError(f"{where}: expected finite numbers, found {value}{at}")


@dataclass
class _Instances:
    """Persons of one (image, category): keypoints [N, 133, 3] plus per-person arrays."""

    kpts: np.ndarray
    area: np.ndarray
    bbox: np.ndarray | None = None  # ground truth only, [N, 4] x, y, w, h
    crowd: np.ndarray | None = None  # ground truth only, [N] bool
    score: np.ndarray | None = None  # predictions only, [N]


@dataclass
class _GroundTruth:
    image_ids: list[int]
    cat_ids: list[int]
    groups: dict[tuple[int, int], _Instances]
    name: str


def _load_ground_truth(gt: GtLike) -> _GroundTruth:
    expected = "a COCO-WholeBody annotation JSON"
    name = "ground truth"
    if isinstance(gt, (str, Path)):
        name = str(gt)
        gt = _read_json(gt, expected)
    if not isinstance(gt, Mapping) or not all(
            isinstance(gt.get(k), list) for k in ("images", "annotations", "categories")):
        raise UserError(f"{name}: expected {expected} (an object with 'images', "
                        "'annotations' and 'categories' lists)")
    try:
        image_ids = sorted({int(img["id"]) for img in gt["images"]})
        cat_ids = sorted({int(cat["id"]) for cat in gt["categories"]})
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{name}: every image and category needs an integer 'id'") from None
    images, cats = set(image_ids), set(cat_ids)
    lists: dict[tuple[int, int], list] = defaultdict(list)
    for i, ann in enumerate(gt["annotations"]):
        where = f"{name}: annotation {ann.get('id', i) if isinstance(ann, Mapping) else i}"
        if not isinstance(ann, Mapping):
            raise UserError(f"{where}: expected an object")
        missing = [k for k in ("image_id", "category_id", "bbox", "area", *GT_FIELDS.values())
                   if k not in ann]
        if missing:
            raise UserError(f"{where}: has no {', '.join(map(repr, missing))} "
                            f"(expected {expected})")
        key = (int(ann["image_id"]), int(ann["category_id"]))
        if key[0] not in images or key[1] not in cats:
            continue  # COCOeval only looks at the listed images and categories
        kpts = np.concatenate([
            _triples(ann[field], len(PARTS[part]), f"{where} '{field}'")
            for part, field in GT_FIELDS.items()])
        bbox = np.asarray(ann["bbox"], dtype=np.float64)
        if bbox.shape != (4,):
            raise UserError(f"{where}: 'bbox' must be [x, y, w, h]")
        _finite(bbox, f"{where} 'bbox'")
        _finite(float(ann["area"]), f"{where} 'area'")
        lists[key].append((kpts, float(ann["area"]), bbox, bool(ann.get("iscrowd", 0))))
    groups = {
        key: _Instances(kpts=np.stack([p[0] for p in people]),
                        area=np.array([p[1] for p in people]),
                        bbox=np.stack([p[2] for p in people]),
                        crowd=np.array([p[3] for p in people]))
        for key, people in lists.items()}
    return _GroundTruth(image_ids, cat_ids, groups, name)


def _load_results(results: ResultsLike) -> tuple[list[dict], str]:
    """Results as a list of {image_id, category_id, kpts [133, 3], score, bbox_score, bbox}."""
    expected = "a COCO keypoint results JSON list, as 'dwpose predict' writes"
    name = "results"
    if isinstance(results, (str, Path)):
        name = str(results)
        results = _read_json(results, expected)
    if not isinstance(results, Sequence) or isinstance(results, (str, bytes)):
        raise UserError(f"{name}: expected {expected}")
    entries = []
    for i, res in enumerate(results):
        where = f"{name}: entry {i}"
        if not isinstance(res, Mapping) or "image_id" not in res or "keypoints" not in res:
            raise UserError(f"{where}: expected an object with 'image_id', 'keypoints' "
                            "and 'score'")
        if "foot_kpts" in res:  # mmpose's split form
            kpts = np.concatenate([
                _triples(res.get(field), len(PARTS[part]), f"{where} '{field}'")
                for part, field in GT_FIELDS.items()])
        else:
            kpts = _triples(res["keypoints"], NUM_KEYPOINTS, f"{where} 'keypoints'")
        if "score" not in res and "bbox_score" not in res:
            raise UserError(f"{where}: has no 'score'")
        try:
            entry = {
                "image_id": int(res["image_id"]),
                "category_id": int(res.get("category_id", 1)),
                "kpts": kpts,
                "score": float(res.get("score", 0.0)),
                "bbox_score": float(res["bbox_score"]) if "bbox_score" in res else None,
                "bbox": (np.asarray(res["bbox"], dtype=np.float64).reshape(4)
                         if res.get("bbox") is not None else None),
            }
        except (TypeError, ValueError):
            raise UserError(f"{where}: 'image_id', 'category_id', 'score' and 'bbox' must "
                            "be numbers") from None
        for field in ("score", "bbox_score", "bbox"):
            if entry[field] is not None:
                _finite(entry[field], f"{where} '{field}'")
        entries.append(entry)
    return entries, name


# --------------------------------------------------------------------------------------------
# mmpose post-processing: rescoring and OKS-NMS
# --------------------------------------------------------------------------------------------


def _nms_areas(entries: list[dict]) -> np.ndarray:
    """Person area for OKS-NMS: the top-down crop (box x 1.25, 3:4) or the keypoints' extent."""
    areas = np.empty(len(entries), dtype=np.float32)
    for i, e in enumerate(entries):
        if e["bbox"] is not None:
            w, h = np.float32(e["bbox"][2:4]) * np.float32(NMS_BOX_PADDING)
            if w > h * NMS_ASPECT_RATIO:
                h = w / np.float32(NMS_ASPECT_RATIO)
            else:
                w = h * np.float32(NMS_ASPECT_RATIO)
            areas[i] = w * h
        else:  # mmpose's fallback when no bbox scale is known
            xy = e["kpts"][:, :2]
            areas[i] = np.ptp(xy[:, 0]) * np.ptp(xy[:, 1])
    return areas


def oks_nms(kpts: np.ndarray, scores: np.ndarray, areas: np.ndarray, thr: float = NMS_THR,
            sigmas: np.ndarray = SIGMAS) -> np.ndarray:
    """mmpose's greedy OKS-NMS: indices kept, best score first.

    ``kpts`` is [N, K, 2 or 3]; a person is dropped when its OKS with a kept, better-scoring
    one exceeds ``thr``. OKS here uses every keypoint and the mean of the two areas.
    """
    kpts = np.asarray(kpts, dtype=np.float64)
    variances = (np.asarray(sigmas, dtype=np.float64) * 2) ** 2
    areas = np.asarray(areas)
    order = np.asarray(scores).argsort()[::-1]  # mmpose's order, ties included
    keep = []
    while order.size > 0:
        i, rest = order[0], order[1:]
        keep.append(i)
        d = kpts[rest, :, :2] - kpts[i, None, :, :2]
        e = ((d[..., 0] ** 2 + d[..., 1] ** 2) / variances
             / ((areas[i] + areas[rest, None]) / 2 + np.spacing(1)) / 2)
        ious = (np.exp(-e).sum(1) / e.shape[1]).astype(np.float32)
        order = rest[ious <= thr]
    return np.array(keep, dtype=np.intp)


def _postprocess(entries: list[dict], *, nms: bool, nms_thr: float,
                 keypoint_score_thr: float) -> dict[tuple[int, int], list[dict]]:
    """Rescore, group by image (first-seen order, as mmpose) and OKS-NMS per image."""
    for e in entries:
        if e["bbox_score"] is not None:
            e["score"] = float(rescore(np.array([e["bbox_score"]]), e["kpts"][None, :, 2],
                                       keypoint_score_thr)[0])
    by_image: dict[int, list[dict]] = defaultdict(list)
    for e in entries:
        by_image[e["image_id"]].append(e)
    grouped: dict[tuple[int, int], list[dict]] = defaultdict(list)
    for people in by_image.values():
        if nms:
            keep = oks_nms(np.stack([p["kpts"] for p in people]),
                           np.array([p["score"] for p in people]),
                           _nms_areas(people), nms_thr)
            people = [people[k] for k in keep]
        for p in people:
            grouped[p["image_id"], p["category_id"]].append(p)
    return grouped


# --------------------------------------------------------------------------------------------
# xtcocotools COCOeval (keypoints), vectorised where it is independent per pair
# --------------------------------------------------------------------------------------------


@dataclass
class _ImageEval:
    """One image x category x area range, as COCOeval.evaluateImg returns it."""

    scores: np.ndarray  # [D] sorted, best first
    matched: np.ndarray  # [T, D] bool
    dt_ignore: np.ndarray  # [T, D] bool
    gt_ignore: np.ndarray  # [G] bool


def _match(ious: np.ndarray, gt_ignore: np.ndarray, crowd: np.ndarray,
           thrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Greedy matching of score-sorted predictions, for R independent settings at once.

    ``ious`` [D, G]; each row r of ``gt_ignore`` [R, G] and ``thrs`` [R] is one (area range,
    OKS threshold) setting. Each prediction takes the unmatched (or crowd) ground truth of best
    OKS >= threshold, preferring non-ignored ones; on equal OKS the later one wins. This is
    COCOeval's scan over ground truth sorted "ignored last" (a stable sort, so the order within
    each group is the original one). Returns matched [R, D] and ignored-by-match [R, D].
    """
    n_dt, n_gt = ious.shape
    n_rows = len(thrs)
    matched = np.zeros((n_rows, n_dt), dtype=bool)
    dt_ignore = np.zeros((n_rows, n_dt), dtype=bool)
    if n_dt == 0 or n_gt == 0:
        return matched, dt_ignore
    thrs = np.minimum(thrs, 1 - 1e-10)[:, None]  # [R, 1]
    gt_taken = np.zeros((n_rows, n_gt), dtype=bool)
    rows = np.arange(n_rows)
    for d in range(n_dt):
        if ious[d].max() < thrs.min():
            continue  # matches nothing at any threshold
        free = (~gt_taken | crowd) & (ious[d] >= thrs)  # [R, G]
        regular = free & ~gt_ignore
        free = np.where(regular.any(1, keepdims=True), regular, free)
        found = free.any(1)
        best = n_gt - 1 - np.argmax(np.where(free, ious[d], -np.inf)[:, ::-1], axis=1)
        matched[:, d] = found
        dt_ignore[found, d] = gt_ignore[rows[found], best[found]]
        gt_taken[rows[found], best[found]] = True
    return matched, dt_ignore


def _evaluate_image(gt: _Instances | None, dt: _Instances | None, idx: slice,
                    sigmas: np.ndarray) -> list[_ImageEval] | None:
    """COCOeval.evaluateImg for every area range (None when the image has nothing)."""
    n_gt = 0 if gt is None else len(gt.area)
    n_dt = 0 if dt is None else len(dt.area)
    if n_gt == 0 and n_dt == 0:
        return None
    n_t, n_a = len(IOU_THRS), len(AREA_RANGES)
    lo, hi = np.array(list(AREA_RANGES.values())).T  # [A]
    if n_gt:
        base = gt.crowd | ~(gt.kpts[:, idx, 2] > 0).any(1)
        gt_ignore = base | (gt.area < lo[:, None]) | (gt.area > hi[:, None])  # [A, G]
    else:
        gt_ignore = np.zeros((n_a, 0), dtype=bool)
    if n_gt and n_dt:
        ious = compute_oks(dt.kpts[:, idx], gt.kpts[:, idx], gt.area, gt.bbox, sigmas)
        matched, dt_ignore = _match(ious, np.repeat(gt_ignore, n_t, axis=0), gt.crowd,
                                    np.tile(IOU_THRS, n_a))
    else:
        matched = np.zeros((n_a * n_t, n_dt), dtype=bool)
        dt_ignore = np.zeros_like(matched)
    scores = np.zeros(0) if dt is None else dt.score
    out = []
    for a in range(n_a):
        rows = slice(a * n_t, (a + 1) * n_t)
        outside = np.zeros(0, dtype=bool) if dt is None else (dt.area < lo[a]) | (dt.area > hi[a])
        ignored = dt_ignore[rows] | (~matched[rows] & outside[None, :])
        out.append(_ImageEval(scores, matched[rows], ignored, gt_ignore[a]))
    return out


def _accumulate(evals: list[_ImageEval]) -> tuple[np.ndarray, np.ndarray]:
    """COCOeval.accumulate for one category and area range: precision [T, R], recall [T]."""
    precision = -np.ones((len(IOU_THRS), len(REC_THRS)))
    recall = -np.ones(len(IOU_THRS))
    if not evals:
        return precision, recall
    scores = np.concatenate([e.scores for e in evals])
    order = np.argsort(-scores, kind="mergesort")
    matched = np.concatenate([e.matched for e in evals], axis=1)[:, order]
    dt_ignore = np.concatenate([e.dt_ignore for e in evals], axis=1)[:, order]
    n_pos = int(np.count_nonzero(~np.concatenate([e.gt_ignore for e in evals])))
    if n_pos == 0:
        return precision, recall
    tp = np.cumsum(matched & ~dt_ignore, axis=1).astype(np.float64)
    fp = np.cumsum(~matched & ~dt_ignore, axis=1).astype(np.float64)
    n_dt = tp.shape[1]
    for t in range(len(IOU_THRS)):
        rc = tp[t] / n_pos
        pr = tp[t] / (fp[t] + tp[t] + np.spacing(1))
        recall[t] = rc[-1] if n_dt else 0
        pr = np.maximum.accumulate(pr[::-1])[::-1]  # precision envelope
        inds = np.searchsorted(rc, REC_THRS, side="left")
        precision[t] = np.where(inds < n_dt, pr[np.minimum(inds, n_dt - 1)] if n_dt else 0, 0)
    return precision, recall


def _summarize(precision: np.ndarray, recall: np.ndarray) -> dict[str, float]:
    """COCOeval.summarize (keypoints): precision [T, R, K, A], recall [T, K, A] -> 10 stats."""
    areas = list(AREA_RANGES)

    def mean(s: np.ndarray) -> float:
        valid = s[s > -1]
        return float(np.mean(valid)) if valid.size else -1.0

    def ap(iou: float | None = None, area: str = "all") -> float:
        s = precision if iou is None else precision[np.where(iou == IOU_THRS)[0]]
        return mean(s[..., areas.index(area)])

    def ar(iou: float | None = None, area: str = "all") -> float:
        s = recall if iou is None else recall[np.where(iou == IOU_THRS)[0]]
        return mean(s[..., areas.index(area)])

    values = (ap(), ap(0.5), ap(0.75), ap(area="medium"), ap(area="large"),
              ar(), ar(0.5), ar(0.75), ar(area="medium"), ar(area="large"))
    return dict(zip(STAT_NAMES, values))


def _evaluate_part(gt: _GroundTruth, dts: dict[tuple[int, int], _Instances], idx: slice,
                   sigmas: np.ndarray) -> dict[str, float]:
    n_t, n_r, n_k, n_a = len(IOU_THRS), len(REC_THRS), len(gt.cat_ids), len(AREA_RANGES)
    precision = -np.ones((n_t, n_r, n_k, n_a))
    recall = -np.ones((n_t, n_k, n_a))
    for k, cat in enumerate(gt.cat_ids):
        per_area: list[list[_ImageEval]] = [[] for _ in range(n_a)]
        for image in gt.image_ids:
            key = (image, cat)
            dt = dts.get(key)
            if dt is not None:  # this part's predictions: any point scored > 0, best 20
                dt = _select(dt, (dt.kpts[:, idx, 2] > 0).any(1))
            result = _evaluate_image(gt.groups.get(key), dt, idx, sigmas)
            if result is not None:
                for a, image_eval in enumerate(result):
                    per_area[a].append(image_eval)
        for a in range(n_a):
            precision[:, :, k, a], recall[:, k, a] = _accumulate(per_area[a])
    return _summarize(precision, recall)


def _select(dt: _Instances, keep: np.ndarray) -> _Instances:
    """Kept predictions, sorted by score (stable), at most MAX_DETS."""
    kept = np.flatnonzero(keep)
    kept = kept[np.argsort(-dt.score[kept], kind="mergesort")][:MAX_DETS]
    return _Instances(kpts=dt.kpts[kept], area=dt.area[kept], score=dt.score[kept])


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def evaluate_wholebody(gt: GtLike, results: ResultsLike, *, oks_nms: bool = True,
                       nms_thr: float = NMS_THR,
                       keypoint_score_thr: float = RESCORE_THR,
                       ) -> dict[str, dict[str, float]]:
    """COCO-WholeBody AP/AR of ``results`` against ``gt``, as mmpose's CocoWholeBodyMetric.

    Args:
        gt: COCO-WholeBody annotations (dict or JSON path).
        results: predictions (list or JSON path), ``dwpose predict``'s format; an entry with
            ``bbox_score`` is rescored as box score x mean keypoint score above
            ``keypoint_score_thr``, otherwise its ``score`` is used as is.
        oks_nms: OKS-NMS per image at ``nms_thr`` before evaluating (mmpose's default).

    Returns:
        part -> {AP, AP .5, AP .75, AP (M), AP (L), AR, AR .5, AR .75, AR (M), AR (L)} for
        ``body``, ``foot``, ``face``, ``left_hand``, ``right_hand`` and ``wholebody``.

    Raises:
        UserError: a file is missing or is not what is expected, or results name an image
            that is not in the ground truth.
    """
    truth = _load_ground_truth(gt)
    entries, results_name = _load_results(results)
    unknown = sorted({e["image_id"] for e in entries} - set(truth.image_ids))
    if unknown:
        shown = ", ".join(map(str, unknown[:5])) + (" ..." if len(unknown) > 5 else "")
        raise UserError(f"{results_name}: image_id {shown} not in the ground truth "
                        f"{truth.name} ({len(unknown)} unknown of "
                        f"{len({e['image_id'] for e in entries})} images)")
    grouped = _postprocess(entries, nms=oks_nms, nms_thr=nms_thr,
                           keypoint_score_thr=keypoint_score_thr)
    body = PARTS["body"]
    dts: dict[tuple[int, int], _Instances] = {}
    for key, people in grouped.items():
        kpts = np.stack([p["kpts"] for p in people])
        xy = kpts[:, body.start:body.stop, :2]  # xtcocotools loadRes: extent of 'keypoints'
        area = np.ptp(xy[..., 0], axis=1) * np.ptp(xy[..., 1], axis=1)
        dts[key] = _Instances(kpts=kpts, area=area,
                              score=np.array([p["score"] for p in people]))
    metrics = {}
    for part in EVAL_PARTS:
        rng = PARTS.get(part, range(NUM_KEYPOINTS))
        idx = slice(rng.start, rng.stop)
        metrics[part] = _evaluate_part(truth, dts, idx, SIGMAS[idx])
    return metrics


def evaluate_groups(gt: GtLike, results: ResultsLike,
                    group_of: Callable[[Mapping[str, Any]], str],
                    **kwargs: Any) -> dict[str, dict[str, dict[str, float]]]:
    """``evaluate_wholebody`` over all images (``"overall"``), then over each group's alone.

    ``group_of(image_record)`` names the group of each image of ``gt`` (e.g. UBody's scene);
    a group is scored as if its images, their persons and the results on them were the whole
    set. Groups come in the order their first image has in ``gt``; ``kwargs`` go to
    ``evaluate_wholebody``.
    """
    if isinstance(gt, (str, Path)):
        gt = _read_json(gt, "a COCO-WholeBody annotation JSON")
    if isinstance(results, (str, Path)):
        results = _read_json(results, "a COCO keypoint results JSON list")
    out = {"overall": evaluate_wholebody(gt, results, **kwargs)}  # checks both inputs
    groups: dict[str, set[int]] = defaultdict(set)
    for img in gt["images"]:
        groups[group_of(img)].add(int(img["id"]))
    for name, ids in groups.items():
        part = {**gt, "images": [i for i in gt["images"] if int(i["id"]) in ids],
                "annotations": [a for a in gt["annotations"] if int(a["image_id"]) in ids]}
        mine = [r for r in results if int(r["image_id"]) in ids]
        out[name] = evaluate_wholebody(part, mine, **kwargs)
    return out


def format_groups_table(metrics: Mapping[str, Mapping[str, Mapping[str, float]]],
                        stats: Sequence[str] = ("AP", "AR"), label: str = "group",
                        digits: int = 3) -> str:
    """A plain-text table: one row per group; per part, one column per statistic."""
    parts = list(next(iter(metrics.values())).keys()) if metrics else list(EVAL_PARTS)
    cell = max(digits + 3, *map(len, stats))
    block = max(len(stats) * (cell + 1) - 1, *map(len, parts))
    first = max([len(label), *map(len, metrics)])

    def row(head: str, blocks: list[str]) -> str:
        return "  ".join([f"{head:<{first}}", *(f"{b:>{block}}" for b in blocks)]).rstrip()

    lines = [row("", parts), row(label, [" ".join(f"{s:>{cell}}" for s in stats)] * len(parts))]
    for group, by_part in metrics.items():
        lines.append(row(group, [" ".join(f"{by_part[p][s]:>{cell}.{digits}f}" for s in stats)
                                 for p in parts]))
    return "\n".join(lines)


def format_table(metrics: Mapping[str, Mapping[str, float]], digits: int = 3) -> str:
    """A plain-text table: one row per part, one column per statistic."""
    names = list(next(iter(metrics.values())).keys()) if metrics else list(STAT_NAMES)
    first = max([len("part"), *map(len, metrics)])
    width = max(digits + 3, *map(len, names))
    lines = ["  ".join([f"{'part':<{first}}", *(f"{n:>{width}}" for n in names)])]
    for part, stats in metrics.items():
        cells = [f"{stats[n]:>{width}.{digits}f}" for n in names]
        lines.append("  ".join([f"{part:<{first}}", *cells]))
    return "\n".join(lines)
