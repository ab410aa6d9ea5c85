"""DWPose two-stage distillation (stage 1, stage 2), checkpoint transfer and ``dwpose transfer``."""
from __future__ import annotations

import argparse

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from app.cli import transfer as transfer_cli  # noqa: E402
from engines.codec import SimCCCodec  # noqa: E402
from engines.errors import ModelError, UserError  # noqa: E402
from trainer.checkpoint import load_checkpoint  # noqa: E402
from trainer.distill import Stage1Distiller, Stage2Distiller, decay_factor  # noqa: E402
from trainer.losses import KLDiscretLoss, LogitLoss  # noqa: E402
from trainer.models import build_model, get_config  # noqa: E402
from trainer.transfer import detect_stage, transfer_checkpoint  # noqa: E402

N = 2
M = 5  # max_epochs


def _batch(seed: int = 0):
    """Inputs [N,3,256,192] and codec labels as tensors (one keypoint invisible)."""
    rng = np.random.default_rng(seed)
    cfg = get_config("t", "256x192")
    codec = SimCCCodec(cfg.input_size, cfg.sigma, cfg.simcc_split_ratio)
    kpts = rng.uniform([10, 10], [182, 246], size=(N, 133, 2))
    visible = np.ones((N, 133), dtype=np.float32)
    visible[0, 5] = 0
    enc = codec.encode(kpts, visible)
    targets = {k: torch.from_numpy(v) for k, v in enc.items()}
    x = torch.from_numpy(rng.normal(size=(N, 3, 256, 192)).astype(np.float32))
    return x, targets


def _models(seed: int = 0, teacher_arch: str = "t"):
    torch.manual_seed(seed)
    return build_model(teacher_arch, "256x192"), build_model("t", "256x192")


def _bn_buffers(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()
            if "running_" in k or "num_batches" in k}


@pytest.fixture(scope="module")
def batch():
    return _batch()


# ----------------------------------------------------------------------------- stage 1
def test_decay_factor():
    assert decay_factor(0, M) == 1.0
    assert decay_factor(M - 1, M) == pytest.approx(1 / M)
    assert decay_factor(2, 4) == 0.5
    for bad in (-1, M):
        with pytest.raises(ValueError):
            decay_factor(bad, M)


def test_stage1_state_dict_layout_mirrors_upstream():
    teacher, student = _models(teacher_arch="s")
    d = Stage1Distiller(teacher, student, max_epochs=M)
    keys = list(d.state_dict())
    assert sum(k.startswith("teacher.") for k in keys) == 254
    assert sum(k.startswith("student.") for k in keys) == 218
    rest = sorted(k for k in keys if not k.startswith(("teacher.", "student.")))
    assert rest == ["distill_losses.loss_fea.align.bias", "distill_losses.loss_fea.align.weight"]
    assert d.align is not None and d.align.weight.shape == (512, 384, 1, 1)
    # same channels: no align conv, no extra keys
    d_same = Stage1Distiller(*_models(), max_epochs=M)
    assert d_same.align is None
    assert all(k.startswith(("teacher.", "student.")) for k in d_same.state_dict())
    # an upstream-style state dict loads strictly
    d.load_state_dict(dict(d.state_dict()), strict=True)


def test_stage1_losses_decay_and_gt_term(batch):
    x, targets = batch
    d = Stage1Distiller(*_models(), max_epochs=M).train()
    first, last = d.losses(x, targets, 0), d.losses(x, targets, M - 1)
    assert set(first) == {"loss_kpt", "loss_fea", "loss_logit"}
    assert last["loss_kpt"].item() == pytest.approx(first["loss_kpt"].item(), rel=1e-5)
    for k in ("loss_fea", "loss_logit"):
        assert first[k].item() > 0
        assert last[k].item() == pytest.approx(first[k].item() / M, rel=1e-5)
    # the gt term is KLDiscretLoss(beta 10, label softmax, target weights) on the student
    with torch.no_grad():
        pred = d.student(x)
    want = KLDiscretLoss()(pred, (targets["x_labels"], targets["y_labels"]), targets["weights"])
    assert first["loss_kpt"].item() == pytest.approx(want.item(), rel=1e-5)
    # the logit term is LogitLoss(weight 0.1) between student and teacher
    with torch.no_grad():
        pred_t = d.teacher(x)
    want = LogitLoss(beta=10.0, weight=0.1)(pred, pred_t)
    assert first["loss_logit"].item() == pytest.approx(want.item(), rel=1e-5)
    # tuple targets work too
    as_tuple = d.losses(x, (targets["x_labels"], targets["y_labels"], targets["weights"]), 0)
    assert as_tuple["loss_kpt"].item() == pytest.approx(first["loss_kpt"].item(), rel=1e-6)


def test_stage1_logit_loss_ignores_visibility(batch):
    x, targets = batch
    d = Stage1Distiller(*_models(), max_epochs=M).train()
    hidden = dict(targets, weights=torch.zeros_like(targets["weights"]))
    a, b = d.losses(x, targets, 0), d.losses(x, hidden, 0)
    assert b["loss_kpt"].item() == 0.0
    assert b["loss_logit"].item() == pytest.approx(a["loss_logit"].item(), rel=1e-6)
    assert b["loss_fea"].item() == pytest.approx(a["loss_fea"].item(), rel=1e-6)


def test_stage1_teacher_frozen_in_eval_and_bn_stats_fixed(batch):
    x, targets = batch
    d = Stage1Distiller(*_models(teacher_arch="s"), max_epochs=M)
    d.train()
    assert not d.teacher.training
    assert not any(m.training for m in d.teacher.modules())
    assert d.student.training and d.align.training
    assert not any(p.requires_grad for p in d.teacher.parameters())
    before_t, before_s = _bn_buffers(d.teacher), _bn_buffers(d.student)
    opt = torch.optim.AdamW(d.trainable_parameters(), lr=1e-3)
    opt.zero_grad()
    sum(d.losses(x, targets, 0).values()).backward()
    opt.step()
    assert all(p.grad is None for p in d.teacher.parameters())
    assert all(p.grad is not None for p in d.align.parameters())
    after_t = _bn_buffers(d.teacher)
    assert all(torch.equal(before_t[k], after_t[k]) for k in before_t)
    after_s = _bn_buffers(d.student)
    assert any(not torch.equal(before_s[k], after_s[k]) for k in before_s)  # student BN trains
    trainable = {id(p) for p in d.trainable_parameters()}
    assert trainable == {id(p) for p in d.student.parameters()} | {
        id(p) for p in d.align.parameters()}


def test_stage1_loss_falls(batch):
    # Adam's first, sign-like step kicks the freshly initialised head (loss up once), then the
    # total falls well below where it started
    x, targets = batch
    d = Stage1Distiller(*_models(seed=1, teacher_arch="s"), max_epochs=M).train()
    opt = torch.optim.AdamW(d.trainable_parameters(), lr=3e-4, weight_decay=0.05)
    history = []
    for _ in range(8):
        opt.zero_grad()
        losses = d.losses(x, targets, 0)
        sum(losses.values()).backward()
        opt.step()
        history.append({k: v.item() for k, v in losses.items()})
    total = [sum(h.values()) for h in history]
    assert total[-1] < 0.7 * total[0], total
    assert history[-1]["loss_fea"] < history[0]["loss_fea"]
    assert history[-1]["loss_logit"] < history[0]["loss_logit"]


# ----------------------------------------------------------------------------- stage 2
@pytest.fixture
def stage2():
    torch.manual_seed(3)
    return Stage2Distiller(build_model("t", "256x192"))


def test_stage2_structure(stage2):
    d = stage2
    assert d.student.backbone is d.teacher.backbone
    assert d.student.head is not d.teacher.head
    assert not any(p.requires_grad for p in d.teacher.parameters())
    assert all(p.requires_grad for p in d.student.head.parameters())
    assert {id(p) for p in d.trainable_parameters()} == {id(p) for p in d.student.head.parameters()}
    # a freshly initialised head, not a copy of the teacher's
    assert not torch.equal(d.student.head.cls_x.weight, d.teacher.head.cls_x.weight)
    d.train()
    assert not any(m.training for m in d.teacher.modules())  # includes the shared backbone
    assert d.student.head.training
    keys = list(d.state_dict())
    assert sum(k.startswith("teacher.") for k in keys) == 218
    assert sum(k.startswith("student.") for k in keys) == 218
    assert all(k.startswith(("teacher.", "student.")) for k in keys)


def test_stage2_loss_is_logit_only_weight_1(stage2, batch):
    x, targets = batch
    d = stage2.train()
    losses = d.losses(x, targets, 3)
    assert set(losses) == {"loss_logit"}
    assert d.losses(x).keys() == losses.keys()
    with torch.no_grad():
        feats = d.teacher.extract_feat(x)
        want = LogitLoss(beta=10.0, weight=1.0)(d.student.head(feats), d.teacher.head(feats))
    assert losses["loss_logit"].item() == pytest.approx(want.item(), rel=1e-5)
    assert d.losses(x, targets, 0)["loss_logit"].item() == pytest.approx(want.item(), rel=1e-5)


def test_stage2_step_changes_only_the_student_head(stage2, batch):
    x, _targets = batch
    d = stage2.train()
    teacher_before = {k: v.clone() for k, v in d.teacher.state_dict().items()}
    head_before = {k: v.clone() for k, v in d.student.head.state_dict().items()}
    opt = torch.optim.AdamW(d.trainable_parameters(), lr=1e-3)
    opt.zero_grad()
    d.losses(x)["loss_logit"].backward()
    opt.step()
    assert all(p.grad is None for p in d.teacher.parameters())
    teacher_after = d.teacher.state_dict()
    assert all(torch.equal(teacher_before[k], teacher_after[k]) for k in teacher_before)
    head_after = d.student.head.state_dict()
    changed = [k for k in head_before if not torch.equal(head_before[k], head_after[k])]
    assert "cls_x.weight" in changed and "final_layer.weight" in changed


def test_stage2_load_takes_backbone_from_teacher(stage2):
    d = stage2
    state = dict(d.state_dict())
    # upstream stage 2 has a separate (unused) student backbone: it must not win
    for k in list(state):
        if k.startswith("student.backbone.") and state[k].is_floating_point():
            state[k] = torch.randn_like(state[k])
    want = state["teacher.backbone.stem.0.conv.weight"].clone()
    d.load_state_dict(state)
    assert torch.equal(d.student.backbone.stem[0].conv.weight, want)


# ----------------------------------------------------------------------------- transfer
def _save(tmp_path, name, state, **extra):
    path = tmp_path / name
    torch.save({"state_dict": dict(state), **extra}, path)
    return path


def step_and_transfer(d: Stage2Distiller, x, tmp_path) -> tuple[dict, dict]:
    """One optimiser step of ``d``'s student head, then ``d`` saved and transferred:
    ``(transfer info, the pose state dict written to tmp_path/pose.pth)``."""
    d.train()
    opt = torch.optim.AdamW(d.trainable_parameters(), lr=1e-3)
    d.losses(x)["loss_logit"].backward()
    opt.step()
    info = transfer_checkpoint(_save(tmp_path, "s2.pth", d.state_dict()), tmp_path / "pose.pth")
    return info, torch.load(tmp_path / "pose.pth", weights_only=True)["state_dict"]


def assert_runs_as(path, arch: str, d: Stage2Distiller, x) -> None:
    """The pose checkpoint ``path`` in a fresh ``build_model(arch)`` gives ``d``'s outputs."""
    model = build_model(arch, "256x192")
    load_checkpoint(model, path)
    model.eval()
    d.eval()
    with torch.no_grad():
        for a, b in zip(model(x), d(x)):
            assert torch.allclose(a, b, atol=1e-6)


def test_transfer_stage1_round_trip(tmp_path):
    d = Stage1Distiller(*_models(teacher_arch="s"), max_epochs=M)
    src = _save(tmp_path, "s1.pth", d.state_dict(), meta={"epoch": 3})
    assert detect_stage(d.state_dict())[0] == 1
    info = transfer_checkpoint(src, tmp_path / "pose.pth")
    assert (info["stage"], info["arch"], info["input_size"]) == (1, "t", "256x192")
    assert info["num_keys"] == 218 and "align" in info["reason"]
    saved = torch.load(tmp_path / "pose.pth", weights_only=True)
    assert not any("align" in k or k.startswith(("teacher", "student", "distill"))
                   for k in saved["state_dict"])
    model = build_model("t", "256x192")
    load_checkpoint(model, tmp_path / "pose.pth")
    student = d.student.state_dict()
    assert all(torch.equal(v, student[k]) for k, v in model.state_dict().items())


def test_transfer_stage2_round_trip(tmp_path, stage2, batch):
    x, _targets = batch
    d = stage2
    info, out = step_and_transfer(d, x, tmp_path)
    assert info["stage"] == 2 and "shares" in info["reason"]
    teacher, head = d.teacher.state_dict(), d.student.head.state_dict()
    assert set(out) == {k for k in teacher if k.startswith("backbone.")} | {
        f"head.{k}" for k in head}
    for k, v in out.items():
        ref = teacher[k] if k.startswith("backbone.") else head[k[len("head."):]]
        assert torch.equal(v, ref), k
    assert not torch.equal(out["head.cls_x.weight"], teacher["head.cls_x.weight"])
    assert_runs_as(tmp_path / "pose.pth", "t", d, x)


def test_transfer_upstream_style_stage2_and_forced_stage(tmp_path):
    teacher, student = _models(seed=4)  # same arch, separate student backbone (upstream s2)
    state = {**{f"teacher.{k}": v for k, v in teacher.state_dict().items()},
             **{f"student.{k}": v for k, v in student.state_dict().items()}}
    assert detect_stage(state) == (2, "teacher and student have the same architecture "
                                      "(self-distillation)")
    src = _save(tmp_path, "up.pth", state)
    info = transfer_checkpoint(src, tmp_path / "a.pth")
    out = torch.load(tmp_path / "a.pth", weights_only=True)["state_dict"]
    assert info["stage"] == 2
    assert torch.equal(out["backbone.stem.0.conv.weight"],
                       teacher.state_dict()["backbone.stem.0.conv.weight"])
    assert torch.equal(out["head.cls_x.weight"], student.state_dict()["head.cls_x.weight"])
    info = transfer_checkpoint(src, tmp_path / "b.pth", stage=1)
    out = torch.load(tmp_path / "b.pth", weights_only=True)["state_dict"]
    assert info["reason"] == "forced"
    assert all(torch.equal(v, student.state_dict()[k]) for k, v in out.items())
    # a student head without a teacher backbone: stage 2 by structure
    no_backbone = {k: v for k, v in state.items() if not k.startswith("student.backbone.")}
    assert detect_stage(no_backbone)[0] == 2


def test_transfer_errors(tmp_path):
    model = build_model("t", "256x192")
    plain = _save(tmp_path, "plain.pth", model.state_dict())
    with pytest.raises(ModelError, match="not a distiller checkpoint"):
        transfer_checkpoint(plain, tmp_path / "o.pth")
    with pytest.raises(ModelError, match="not found"):
        transfer_checkpoint(tmp_path / "none.pth", tmp_path / "o.pth")
    d = Stage1Distiller(*_models(teacher_arch="s"), max_epochs=M)
    src = _save(tmp_path, "s1.pth", d.state_dict())
    with pytest.raises(ModelError, match="does not fit"):  # s backbone + t head
        transfer_checkpoint(src, tmp_path / "o.pth", stage=2)
    assert not (tmp_path / "o.pth").exists()
    with pytest.raises(ModelError, match="overwrite"):
        transfer_checkpoint(src, src)


def _cli(argv):
    parser = argparse.ArgumentParser(prog="dwpose")
    transfer_cli.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["transfer", *argv])


def test_cli_transfer(tmp_path, capsys):
    d = Stage1Distiller(*_models(teacher_arch="s"), max_epochs=M)
    src = _save(tmp_path, "s1.pth", d.state_dict())
    out = tmp_path / "pose.pth"
    args = _cli(["--checkpoint", str(src), "--output", str(out)])
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert "stage 1" in text and "rtmpose-t 256x192" in text and "218 tensors" in text
    load_checkpoint(build_model("t", "256x192"), out)
    args = _cli(["--checkpoint", str(src), "--output", str(tmp_path / "p2.pth"), "--stage", "2"])
    with pytest.raises(ModelError):
        args.func(args)
    with pytest.raises(SystemExit):
        _cli(["--checkpoint", str(src), "--output", str(out), "--stage", "3"])


def test_cli_transfer_user_errors(tmp_path, monkeypatch):
    args = _cli(["--checkpoint", str(tmp_path / "none.pth"), "--output", str(tmp_path / "o.pth")])
    with pytest.raises(ModelError, match="checkpoint file not found"):
        args.func(args)
    args = _cli(["--checkpoint", str(tmp_path / "x.pth"), "--output", str(tmp_path / "o.onnx")])
    with pytest.raises(UserError, match=r"\.pth"):
        args.func(args)
    monkeypatch.setitem(__import__("sys").modules, "torch", None)
    args = _cli(["--checkpoint", str(tmp_path / "x.pth"), "--output", str(tmp_path / "o.pth")])
    with pytest.raises(UserError, match=r"pip install -e \.\[train\]"):
        args.func(args)


def test_cli_registered_in_dwpose(tmp_path, capsys):
    from app import cli

    if "transfer" not in cli.SUBCOMMANDS:
        pytest.skip("'transfer' is not in app.cli.SUBCOMMANDS yet")
    assert cli.main(["transfer", "--checkpoint", str(tmp_path / "x.pth"),
                     "--output", str(tmp_path / "o.pth")]) == 2
    assert "checkpoint file not found" in capsys.readouterr().err
