"""``dwpose distill --stage 1|2`` end to end on synthetic data (tiny runs), its checkpoints through
``dwpose transfer``, ``export`` and ``predict``, resume, and its one-line errors."""
from __future__ import annotations

import csv
import json
import shutil

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from app.cli import main  # noqa: E402
from tests.onnx_models import make_detector_onnx  # noqa: E402
from trainer.checkpoint import load_checkpoint  # noqa: E402
from trainer.models import build_model  # noqa: E402

pytestmark = pytest.mark.slow  # three tiny training runs: ~30 s together on 2 idle cores


def _opts(epochs: int = 1) -> list[str]:
    """Tiny runs: 1 synthetic image (3 people), batch 2, no loader processes."""
    return ["--synthetic", "1", "--epochs", str(epochs), "--batch-size", "2", "--workers", "0",
            "--warmup-iters", "1", "--no-progress"]


def _state(path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)


def _sub(state: dict, prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A random RTMPose-s 'teacher', one stage-1 epoch into RTMPose-t, one stage-2 epoch."""
    root = tmp_path_factory.mktemp("distill")
    torch.manual_seed(0)
    teacher = build_model("s", "256x192")
    torch.save({"state_dict": teacher.state_dict()}, root / "teacher_s.pth")
    for stage, teacher_ckpt, extra in ((1, root / "teacher_s.pth", ["--arch", "t"]),
                                       (2, root / "s1" / "latest.pth", [])):
        code = main(["distill", "--stage", str(stage), "--teacher", str(teacher_ckpt), *extra,
                     *_opts(), "--work-dir", str(root / f"s{stage}")])
        assert code == 0
    return {"root": root, "teacher": teacher.state_dict()}


def test_stage1_checkpoint_layout_and_frozen_teacher(runs):
    ckpt = _state(runs["root"] / "s1" / "latest.pth")
    assert ckpt["meta"]["distill_stage"] == 1 and ckpt["meta"]["teacher_arch"] == "s"
    assert ckpt["config"]["grad_clip"] == 1.0 and ckpt["config"]["max_epochs"] == 1
    for which in ("state_dict", "model"):  # EMA and raw weights
        state = ckpt[which]
        assert len(_sub(state, "teacher.")) == 254 and len(_sub(state, "student.")) == 218
        assert sorted(_sub(state, "distill_losses.")) == ["loss_fea.align.bias",
                                                         "loss_fea.align.weight"]
        # frozen and in eval mode: not one bit of the teacher moved, BatchNorm stats included
        assert _equal(_sub(state, "teacher."), runs["teacher"])
    with open(runs["root"] / "s1" / "log.csv", newline="") as f:
        header = next(csv.reader(f))
    assert {"loss_kpt", "loss_fea", "loss_logit", "loss"} <= set(header)
    assert (runs["root"] / "s1" / "best.pth").is_file()
    assert (runs["root"] / "s1" / "val.csv").is_file()


def test_stage2_shares_the_stage1_backbone_and_trains_a_fresh_head(runs):
    s1 = _sub(_state(runs["root"] / "s1" / "latest.pth")["state_dict"], "student.")
    ckpt = _state(runs["root"] / "s2" / "latest.pth")
    assert ckpt["meta"]["distill_stage"] == 2 and ckpt["meta"]["arch"] == "t"
    state = ckpt["state_dict"]
    assert not any(k.startswith("distill_losses.") for k in state)
    assert _equal(_sub(state, "teacher."), s1)  # the stage-1 student, bit for bit
    assert _equal(_sub(state, "student.backbone."), _sub(s1, "backbone."))
    head = _sub(state, "student.head.")
    assert head.keys() == _sub(s1, "head.").keys()
    assert not torch.equal(head["cls_x.weight"], s1["head.cls_x.weight"])
    with open(runs["root"] / "s2" / "log.csv", newline="") as f:
        header = next(csv.reader(f))
    assert "loss_logit" in header and "loss_kpt" not in header and "loss_fea" not in header


def test_transfer_export_predict_both_stages(runs, tmp_path, capsys):
    s1 = _sub(_state(runs["root"] / "s1" / "latest.pth")["state_dict"], "student.")
    s2 = _state(runs["root"] / "s2" / "latest.pth")["state_dict"]
    want = {1: s1, 2: {**_sub(s2, "teacher.backbone."), **_sub(s2, "student.head.")}}
    for stage in (1, 2):
        pose = tmp_path / f"s{stage}.pth"
        assert main(["transfer", "--checkpoint", str(runs["root"] / f"s{stage}" / "latest.pth"),
                     "--output", str(pose)]) == 0
        assert f"distillation stage {stage} (recorded in the checkpoint)" in \
            capsys.readouterr().out
        model = build_model("t", "256x192")
        load_checkpoint(model, pose)
        got = model.state_dict()
        if stage == 2:
            got = {k.split(".", 1)[1]: v for k, v in got.items()}
        assert _equal(got, want[stage])
    onnx_path = tmp_path / "s2.onnx"
    assert main(["export", "--checkpoint", str(tmp_path / "s2.pth"), "--arch", "t",
                 "--output", str(onnx_path)]) == 0
    det = make_detector_onnx(tmp_path / "det.onnx", 416, [(100, 60, 220, 380, 0.9)])
    img = tmp_path / "img.jpg"
    cv2.imwrite(str(img), np.full((416, 416, 3), 90, np.uint8))
    out = tmp_path / "out"
    assert main(["predict", "-i", str(img), "--det", str(det), "--pose", str(onnx_path),
                 "-o", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert len(results) == 1 and len(results[0]["keypoints"]) == 133 * 3


def test_resume_continues_the_distillation(runs, tmp_path, capsys):
    work = tmp_path / "s1"
    shutil.copytree(runs["root"] / "s1", work)
    assert main(["distill", "--stage", "1", "--teacher", str(runs["root"] / "teacher_s.pth"),
                 "--arch", "t", *_opts(epochs=2), "--work-dir", str(work), "--resume"]) == 0
    assert "resumed from" in capsys.readouterr().out
    ckpt = _state(work / "latest.pth")
    assert ckpt["epoch"] == 2 and ckpt["iteration"] == 2 * _state(
        runs["root"] / "s1" / "latest.pth")["iteration"]
    assert _equal(_sub(ckpt["state_dict"], "teacher."), runs["teacher"])


def test_errors_are_one_line(runs, tmp_path, capsys):
    root = runs["root"]
    teacher = str(root / "teacher_s.pth")
    trained = tmp_path / "trained.pth"  # what 'dwpose train' writes: recorded as stage 0
    torch.save({"state_dict": runs["teacher"], "meta": {"distill_stage": 0}}, trained)
    work = ["--work-dir", str(tmp_path / "w"), *_opts()]
    cases = [
        (["--stage", "1", "--teacher", str(tmp_path / "none.pth"), "--arch", "t"],
         "checkpoint file not found"),
        (["--stage", "1", "--teacher", teacher], "--stage 1 needs --arch"),
        (["--stage", "1", "--teacher", teacher, "--arch", "t", "--teacher-arch", "x"],
         "does not fit rtmpose-x_256x192 (it looks like arch 's'"),
        (["--stage", "1", "--teacher", teacher, "--arch", "t", "--input-size", "384x288"],
         "the teacher's input is 256x192, the student's 384x288"),
        (["--stage", "2", "--teacher", str(trained)], "trained without distillation"),
        (["--stage", "2", "--teacher", str(root / "s2" / "latest.pth")],
         "already a stage-2 result"),
        (["--stage", "2", "--teacher", str(root / "s1" / "latest.pth"), "--arch", "s"],
         "stage 2 keeps the teacher's architecture (t)"),
        (["--stage", "2", "--teacher", teacher, "--alpha-fea", "1e-4"], "no feature loss"),
    ]
    for argv, message in cases:
        assert main(["distill", *argv, *work]) == 2, argv
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, (argv, err)
    assert not (tmp_path / "w" / "latest.pth").exists()
