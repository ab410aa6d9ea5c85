"""Distillation ablation on synthetic data: teacher, student alone, + stage 1, + stage 2.

A CPU-sized replay of DWPose's two-stage distillation ablation with the real commands, run in
this process: ``dwpose train`` (the teacher, a larger variant trained 1.5x as long; the
student alone), ``dwpose distill --stage 1`` (the same student, same initial weights and
batches, with feature + logit distillation from the teacher), ``dwpose distill --stage 2``
(head-aware self-KD of the stage-1 model). Each final checkpoint (``latest.pth``, EMA
weights) is then evaluated as ``dwpose eval --checkpoint`` does (ground-truth boxes, flip test)
on a held-out synthetic split: COCO-WholeBody AP per part, and PCK@0.1 per part. A first row
scores a baseline that never looks at the image: the mean training pose (relative to the box)
placed in each validation box. A model below it has not yet learnt to localise anything.

The data is ``trainer/data/synthetic.py``'s stick figures (train and val from different
seeds), a test fixture: the numbers show whether the machinery transfers knowledge in a small,
reproducible setting, not what DWPose reaches on COCO-WholeBody. Models start from scratch (no
ImageNet backbone) on plain box crops (``--augment``: the full recipe); a CPU budget of an hour
or two takes them past the mean-pose plateau, still far from converged.

    python benchmarks/distill_ablation.py                 # default settings, ~90 min on 2 cores
    python benchmarks/distill_ablation.py --quick         # smoke run, 1-3 min
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.cli import main as dwpose  # noqa: E402
from benchmarks.peers.harness import load_average  # noqa: E402
from engines.cpu import cpu_info  # noqa: E402
from engines.files import write_file  # noqa: E402
from engines.skeleton import NUM_KEYPOINTS, PARTS  # noqa: E402
from trainer.data import generate  # noqa: E402
from trainer.evaluation import EVAL_PARTS  # noqa: E402

#: settings of a full and of a --quick run: the teacher trains 1.5x as long as the student,
#: stage 2 gets DWPose's fifth of the student's epochs. From scratch at batch 8 the models sit
#: on the mean-pose plateau for 1,000-1,800 iterations; 2,000-3,000 take them well past it
DEFAULTS = {"train_images": 160, "val_images": 30, "epochs": 50, "teacher_epochs": 75,
            "stage2_epochs": 10, "batch_size": 8}
QUICK = {"train_images": 16, "val_images": 6, "epochs": 2, "teacher_epochs": 4,
         "stage2_epochs": 1, "batch_size": 8}
#: AdamW peak lr: RTMPose's 4e-3 is for batches of 512; at batch 8 it diverges from scratch
LR = 1e-3
PCK_THR = 0.1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out-dir", type=Path, default=ROOT / "out" / "distill_ablation",
                   help="work folder: data, runs, results (default: %(default)s)")
    p.add_argument("--json", type=Path, help="results JSON (default: OUT/distill_ablation.json)")
    p.add_argument("--quick", action="store_true", help="a smoke run of 1-3 minutes")
    p.add_argument("--teacher-arch", default="s", help="teacher variant (default: s)")
    p.add_argument("--student-arch", default="t", help="student variant (default: t)")
    what = {"train_images": "synthetic training images", "val_images": "held-out images",
            "epochs": "student epochs (alone and stage 1)", "teacher_epochs": "teacher epochs",
            "stage2_epochs": "stage-2 epochs", "batch_size": "batch size"}
    for key, value in DEFAULTS.items():
        p.add_argument(f"--{key.replace('_', '-')}", type=int,
                       help=f"{what[key]} (default: {value}; --quick: {QUICK[key]})")
    p.add_argument("--augment", action="store_true",
                   help="train with the full augmentation recipe; by default every model "
                        "trains on plain box crops (the commands' --no-augment), which leave "
                        "the mean-pose plateau in far fewer iterations")
    p.add_argument("--lr", type=float, default=LR, help="peak learning rate (default: %(default)s)")
    p.add_argument("--threads", type=int,
                   help="torch threads (default: torch's, one per core); on a machine busy "
                        "with other work, 1 keeps OpenMP threads from fighting it")
    p.add_argument("--workers", type=int, default=1,
                   help="data loader processes per run (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="data and training seed (default: 0)")
    args = p.parse_args(argv)
    preset = QUICK if args.quick else DEFAULTS
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.json = args.json or args.out_dir / "distill_ablation.json"
    return args


def run_command(argv: list[str]) -> float:
    """``dwpose ARGV`` in this process (its output goes to the console); the seconds it took."""
    print(f"$ dwpose {' '.join(argv)}", flush=True)
    start = time.perf_counter()
    code = dwpose(argv)
    if code != 0:
        raise SystemExit(f"dwpose {argv[0]} failed (exit {code})")
    return time.perf_counter() - start


def synthetic_set(folder: Path, images: int, seed: int) -> tuple[Path, Path, int]:
    """(annotations, image folder, persons) of a synthetic split, generated once."""
    ann = folder / "synthetic_coco_wholebody.json"
    if not ann.is_file():
        generate(folder, images, seed=seed)
    return ann, folder / "images", len(json.loads(ann.read_text())["annotations"])


def pck_per_part(samples: list[dict], results: list[dict], thr: float = PCK_THR
                 ) -> dict[str, float]:
    """PCK@thr as mmpose's ``PCKAccuracy(norm_item='bbox')``: a labelled keypoint is correct
    when its error is below ``thr`` x the longer side of its ground-truth box; the accuracy of
    each keypoint (over persons) is averaged over the part's keypoints that are labelled.

    ``results[i]`` is the prediction on the box of ``samples[i]`` (ground-truth box mode)."""
    gt = np.stack([s["keypoints"] for s in samples])
    labelled = np.stack([s["keypoints_visible"] for s in samples]) > 0
    boxes = np.stack([s["bbox"] for s in samples])
    size = np.max(boxes[:, 2:] - boxes[:, :2], axis=1)
    pred = np.stack([np.asarray(r["keypoints"]).reshape(NUM_KEYPOINTS, 3)[:, :2]
                     for r in results])
    correct = np.linalg.norm(pred - gt, axis=-1) / size[:, None] < thr
    per_keypoint = np.array([correct[labelled[:, k], k].mean() if labelled[:, k].any()
                             else np.nan for k in range(NUM_KEYPOINTS)])
    out = {part: float(np.nanmean(per_keypoint[r.start:r.stop])) for part, r in PARTS.items()}
    out["wholebody"] = float(np.nanmean(per_keypoint))
    return out


def mean_pose_results(train_samples: list[dict], val_samples: list[dict]) -> list[dict]:
    """Results of the image-blind baseline: each keypoint's mean training position relative to
    its box (centre and scale as the pose crop takes them), placed in every validation box."""
    from trainer.data.transforms import GetBBoxCenterScale

    box = GetBBoxCenterScale()
    train = [box(dict(s), None) for s in train_samples]
    rel = np.stack([(s["keypoints"] - s["bbox_center"]) / s["bbox_scale"] for s in train])
    labelled = np.stack([s["keypoints_visible"] for s in train]) > 0
    mean = np.stack([rel[labelled[:, k], k].mean(axis=0) if labelled[:, k].any() else (0, 0)
                     for k in range(NUM_KEYPOINTS)])
    results = []
    for s in (box(dict(s), None) for s in val_samples):
        points = s["bbox_center"] + mean * s["bbox_scale"]
        x1, y1, x2, y2 = (float(v) for v in s["bbox"])
        results.append({"image_id": int(s["img_id"]), "category_id": 1, "score": 1.0,
                        "keypoints": np.concatenate([points, np.ones((NUM_KEYPOINTS, 1))], 1)
                        .reshape(-1).tolist(), "bbox": [x1, y1, x2 - x1, y2 - y1]})
    return results


def score(validator: Any, results: list[dict]) -> dict[str, Any]:
    """AP and PCK per part of results on the validator's boxes, in its sample order."""
    return {"AP": {part: m["AP"] for part, m in validator.evaluate(results).items()},
            f"PCK@{PCK_THR}": pck_per_part(validator.dataset.samples, results)}


def evaluate(validator: Any, checkpoint: Path) -> dict[str, Any]:
    """AP and PCK per part of a checkpoint (``dwpose eval --checkpoint``'s computation)."""
    from trainer.transfer import load_pose_model

    model, _info = load_pose_model(checkpoint)
    return score(validator, validator.predict(model.eval()))


def machine() -> dict[str, Any]:
    import torch

    cpu = cpu_info()
    return {"cpu": cpu.name, "features": cpu.features(), "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "platform": platform.platform()}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import torch

    from trainer.data.coco_wholebody import CocoWholeBodyDataset
    from trainer.validation import CocoValidator

    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    start, load = time.perf_counter(), load_average()
    out = args.out_dir
    train_ann, train_img, train_persons = synthetic_set(out / "data" / "train",
                                                        args.train_images, args.seed + 1)
    val_ann, val_img, val_persons = synthetic_set(out / "data" / "val", args.val_images,
                                                  args.seed + 2)
    iters = train_persons // args.batch_size
    common = ["--train-ann", str(train_ann), "--train-img", str(train_img),  # no validation:
              "--batch-size", str(args.batch_size), "--workers", str(args.workers),
              "--seed", str(args.seed), "--lr", str(args.lr), "--warmup-iters", str(iters),
              "--no-progress", *([] if args.augment else ["--no-augment"])]
    runs = out / "runs"
    t, s = args.teacher_arch, args.student_arch
    steps = [  # (row name, training command); the student alone and stage 1 share the seed,
        # so the same initial weights and batches
        (f"teacher rtmpose-{t} ({args.teacher_epochs} ep)",
         ["train", "--arch", t, "--epochs", str(args.teacher_epochs),
          "--work-dir", str(runs / "teacher")]),
        (f"student rtmpose-{s} alone ({args.epochs} ep)",
         ["train", "--arch", s, "--epochs", str(args.epochs), "--work-dir", str(runs / "student")]),
        (f"+ stage 1: feature + logit KD ({args.epochs} ep)",
         ["distill", "--stage", "1", "--teacher", str(runs / "teacher" / "latest.pth"),
          "--arch", s, "--epochs", str(args.epochs), "--work-dir", str(runs / "stage1")]),
        (f"+ stage 2: head self-KD (+{args.stage2_epochs} ep)",
         ["distill", "--stage", "2", "--teacher", str(runs / "stage1" / "latest.pth"),
          "--epochs", str(args.stage2_epochs), "--work-dir", str(runs / "stage2")]),
    ]
    validator = CocoValidator(val_ann, val_img, (192, 256), batch_size=16, workers=args.workers)
    baseline = score(validator, mean_pose_results(
        CocoWholeBodyDataset(train_ann, train_img).samples, validator.dataset.samples))
    rows = [{"name": "baseline: mean training pose, no image", "checkpoint": None,
             "train_seconds": 0.0, **baseline}]
    for name, command in steps:
        work = Path(command[command.index("--work-dir") + 1])
        print(f"\n=== {name}", flush=True)
        train_s = run_command([*command, *common])
        metrics = evaluate(validator, work / "latest.pth")
        rows.append({"name": name, "checkpoint": str(work / "latest.pth"),
                     "train_seconds": round(train_s, 1), **metrics})
        print(f"  whole-body AP {metrics['AP']['wholebody']:.3f}, body AP "
              f"{metrics['AP']['body']:.3f}, whole-body PCK@{PCK_THR} "
              f"{metrics[f'PCK@{PCK_THR}']['wholebody']:.3f} (train {train_s:.0f} s)",
              flush=True)
    result = {
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "data": {"train_persons": train_persons, "val_persons": val_persons,
                 "iterations_per_epoch": iters},
        "machine": {**machine(), "load_average_1min": [load, load_average()]},
        "total_minutes": round((time.perf_counter() - start) / 60, 1),
        "rows": rows}
    write_file(args.json, json.dumps(result, indent=2) + "\n", "ablation results")
    print()
    print(format_table(rows))
    m = result["machine"]
    print(f"\n{train_persons} training / {val_persons} validation persons, batch "
          f"{args.batch_size}, {iters} iterations per epoch; {result['total_minutes']} min on "
          f"{m['cpu']} ({m['cores']} cores, {m['features']}, load "
          f"{m['load_average_1min'][0]} at the start), "
          f"torch {m['torch']}; JSON: {args.json}")
    return result


def format_table(rows: list[dict[str, Any]]) -> str:
    """One row per model: AP per part (whole body first), PCK of the whole body and of the
    body, minutes of training."""
    width = max(len(r["name"]) for r in rows)
    parts = ["wholebody", *(p for p in EVAL_PARTS if p != "wholebody")]
    pck = f"PCK@{PCK_THR}"
    head = [f"{'AP':<{width}}", *(f"{p:>10}" for p in parts), f"{'PCK whole':>9}",
            f"{'PCK body':>9}", f"{'train min':>9}"]
    lines = ["  ".join(head)]
    for r in rows:
        cells = [f"{r['name']:<{width}}", *(f"{r['AP'][p]:>10.3f}" for p in parts),
                 f"{r[pck]['wholebody']:>9.3f}", f"{r[pck]['body']:>9.3f}",
                 f"{r['train_seconds'] / 60:>9.1f}"]
        lines.append("  ".join(cells))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
