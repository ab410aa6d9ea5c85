"""The training loop (CPU): recipe values, EMA, exact resume, atomic checkpoints, DDP, the CLI."""
from __future__ import annotations

import contextlib
import math
import os
import socket
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from engines.errors import FaultError  # noqa: E402
from trainer.checkpoint import atomic_save  # noqa: E402
from trainer.data import CocoWholeBodyDataset, build_pipeline, make_loader  # noqa: E402
from trainer.data import generate as generate_synthetic  # noqa: E402
from trainer.engine import (  # noqa: E402
    PoseLossModule,
    TrainConfig,
    Trainer,
    param_groups,
)
from trainer.schedule import ExpMomentumEMA, LRSchedule  # noqa: E402

SIZE = (192, 256)  # (w, h)


class TinyPose(nn.Module):
    """A pose-shaped model (SimCC outputs of a 256x192 input) that trains in milliseconds."""

    def __init__(self, k: int = 133, bins: tuple[int, int] = (384, 512)) -> None:
        super().__init__()
        self.input_size = SIZE
        self.conv = nn.Conv2d(3, 4, 3, stride=8, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.pool = nn.AdaptiveAvgPool2d((2, 2))
        self.embed = nn.Linear(16, k * 4)
        self.cls_x = nn.Linear(4, bins[0])
        self.cls_y = nn.Linear(4, bins[1])
        self.k = k

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.pool(torch.relu(self.bn(self.conv(x)))).flatten(1)
        f = self.embed(f).reshape(x.shape[0], self.k, 4)
        return self.cls_x(f), self.cls_y(f)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("synthetic")
    ann = generate_synthetic(out, 3, seed=1)
    return ann, out / "images"


def _loader(synthetic: tuple[Path, Path], batch_size: int = 2):
    ann, img = synthetic
    dataset = CocoWholeBodyDataset(ann, img, build_pipeline(SIZE, "main"), seed=0)
    return make_loader(dataset, batch_size, workers=0, seed=3, drop_last=True)


def _cfg(**kw) -> TrainConfig:
    base = {"max_epochs": 3, "lr": 1e-3, "warmup_iters": 2, "final_epochs": 1,
            "val_interval": 100, "progress": False, "tensorboard": False, "device": "cpu"}
    return TrainConfig(**{**base, **kw})


# ----------------------------------------------------------------------------- recipe values
def test_lr_schedule_known_values() -> None:
    s = LRSchedule(4e-3, max_epochs=270, iters_per_epoch=100)
    assert s(0) == pytest.approx(4e-3 * 1e-5)
    assert s(500) == pytest.approx(4e-3 * (1e-5 + (1 - 1e-5) * 0.5))
    assert s(1000) == pytest.approx(4e-3)
    assert s(135 * 100 - 1) == pytest.approx(4e-3)             # flat until half-way
    assert s(135 * 100) == pytest.approx(4e-3)                 # cosine starts at the peak
    assert s(135 * 100 + 6750) == pytest.approx((4e-3 + 2e-4) / 2)  # half the cosine
    assert s(270 * 100 - 1) == pytest.approx(2e-4, rel=1e-6)  # ends at lr * 0.05
    assert s(270 * 100) == pytest.approx(2e-4)


def test_ema_known_value() -> None:
    model = nn.BatchNorm1d(1)
    ema = ExpMomentumEMA(model, momentum=0.0002, gamma=2000)
    with torch.no_grad():
        model.weight.fill_(2.0)
    ema.update(model)  # step 0: copy
    assert ema.module.weight.item() == 2.0
    with torch.no_grad():
        model.weight.fill_(4.0)
        model.running_mean.fill_(1.0)
        model.num_batches_tracked.fill_(7)
    ema.update(model)  # step 1: m = 0.9998 * exp(-2 / 2000) + 0.0002
    m = 0.9990006997334083
    assert ema.momentum_at(1) == pytest.approx(m, abs=1e-15)
    assert ema.module.weight.item() == pytest.approx(2.0 * (1 - m) + 4.0 * m, abs=1e-6)
    assert ema.module.running_mean.item() == pytest.approx(m, abs=1e-6)  # buffers averaged
    assert ema.module.num_batches_tracked.item() == 0  # integer buffers: step-0 value
    assert ema.steps == 2


def test_param_groups_no_decay_on_norm_and_bias() -> None:
    model = TinyPose()
    decay, no_decay = param_groups(model, 0.05)
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    assert sorted(names[id(p)] for p in no_decay["params"]) == [
        "bn.bias", "bn.weight", "cls_x.bias", "cls_y.bias", "conv.bias", "embed.bias"]
    assert len(decay["params"]) + len(no_decay["params"]) == len(names)


# ----------------------------------------------------------------------------- training
def test_loss_falls_on_a_fixed_batch(synthetic) -> None:
    from trainer.models import build_model

    torch.manual_seed(0)
    loader = _loader(synthetic)
    batch = next(iter(loader))
    trainer = Trainer(build_model("t", "256x192"), loader, _cfg(warmup_iters=0, lr=5e-4),
                      work_dir=synthetic[0].parent / "fixed")
    losses = [trainer.train_step(batch)["loss"] for _ in range(4)]
    assert all(math.isfinite(v) for v in losses)
    # Adam's first step moves every weight by ~lr whatever its gradient, which lifts the loss
    # of the (near-uniform) initial prediction; from there it must fall steadily.
    assert losses[1:] == sorted(losses[1:], reverse=True), losses
    assert losses[-1] < 0.8 * losses[1], losses
    assert trainer.ema is not None and trainer.ema.steps == 4
    assert trainer.iteration == 4


def test_pose_loss_module_matches_kl_loss() -> None:
    from trainer.losses import KLDiscretLoss

    torch.manual_seed(0)
    model = TinyPose(k=3, bins=(8, 6))
    x = torch.randn(2, 3, 32, 24)
    targets = {"x_labels": torch.rand(2, 3, 8), "y_labels": torch.rand(2, 3, 6),
               "weights": torch.ones(2, 3)}
    out = PoseLossModule(model)(x, targets, 0)
    px, py = model(x)
    ref = KLDiscretLoss()((px, py), (targets["x_labels"], targets["y_labels"]),
                          targets["weights"])
    assert torch.equal(out["loss_kpt"], ref)


class _Kill(Exception):
    pass


def _run(synthetic, work_dir: Path, resume: Path | None = None, kill_at: int | None = None,
         init_seed: int = 0) -> Trainer:
    torch.manual_seed(init_seed)
    model = TinyPose()
    loader = _loader(synthetic)

    def kill(trainer: Trainer, _losses: dict) -> None:
        if kill_at is not None and trainer.iteration == kill_at:
            raise _Kill

    trainer = Trainer(model, loader, _cfg(), work_dir=work_dir, hooks=[kill])
    with contextlib.suppress(_Kill):
        trainer.fit(resume=resume)
    return trainer


def test_resume_after_kill_is_bit_identical(synthetic, tmp_path) -> None:
    full = _run(synthetic, tmp_path / "full")
    ipe = len(full.train_loader)
    assert ipe >= 2 and len(full.history) == 3 * ipe
    assert full.stage == "final"  # the last epoch ran on the final pipeline

    killed = _run(synthetic, tmp_path / "killed", kill_at=ipe + 1)  # dies inside epoch 2
    assert killed.epoch == 1
    latest = tmp_path / "killed" / "latest.pth"
    resumed = _run(synthetic, tmp_path / "killed", resume=latest, init_seed=123)
    assert resumed.history[0]["iter"] == ipe + 1
    want = [(h["loss"], h["lr"]) for h in full.history[ipe:]]
    got = [(h["loss"], h["lr"]) for h in resumed.history]
    assert got == want  # exactly equal floats
    for (name, a), b in zip(full.module.state_dict().items(),
                            resumed.module.state_dict().values()):
        assert torch.equal(a, b), name
    for a, b in zip(full.ema.module.state_dict().values(),
                    resumed.ema.module.state_dict().values()):
        assert torch.equal(a, b)

    ckpt = torch.load(latest, map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 3 and ckpt["iteration"] == 3 * ipe
    assert {"state_dict", "model", "optimizer", "scheduler", "scaler", "rng"} <= set(ckpt)
    rows = (tmp_path / "killed" / "log.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,iter,loss_kpt,loss,lr")


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch) -> None:
    path = tmp_path / "latest.pth"
    atomic_save({"a": torch.ones(3)}, path)
    before = path.read_bytes()

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"partial data")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(FaultError, match=r"latest.pth: cannot write the checkpoint \(disk full\); "
                       "the existing file is unchanged"):
        atomic_save({"a": torch.zeros(3)}, path)
    with pytest.raises(FaultError):
        atomic_save({"a": torch.zeros(3)}, tmp_path / "new.pth")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.pth"]


def test_resume_refuses_foreign_checkpoint(synthetic, tmp_path) -> None:
    path = tmp_path / "bare.pth"
    torch.save({"state_dict": TinyPose().state_dict()}, path)
    trainer = Trainer(TinyPose(), _loader(synthetic), _cfg(), work_dir=tmp_path)
    with pytest.raises(ValueError, match="not a checkpoint written by this trainer"):
        trainer.load_checkpoint(path)


# ----------------------------------------------------------------------------- DDP
class _RandomPoseData(torch.utils.data.Dataset):
    def __init__(self, n: int = 8) -> None:
        g = torch.Generator().manual_seed(0)
        self.items = [{"inputs": torch.randn(3, 32, 24, generator=g),
                       "x_labels": torch.rand(3, 8, generator=g),
                       "y_labels": torch.rand(3, 6, generator=g),
                       "weights": torch.ones(3)} for _ in range(n)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def _ddp_worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                       "RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank)})
    import torch.distributed as dist

    from trainer.engine import init_distributed

    torch.set_num_threads(1)
    assert init_distributed()[:2] == (rank, world)
    torch.manual_seed(rank)  # different inits: DDP must broadcast rank 0's
    loader = make_loader(_RandomPoseData(), 2, workers=0, seed=0, distributed=True)
    cfg = _cfg(max_epochs=2, final_epochs=0, warmup_iters=0, lr=1e-2)
    trainer = Trainer(TinyPose(k=3, bins=(8, 6)), loader, cfg, work_dir=out_dir)
    trainer.fit()
    # Parameters (and so the EMA's) must agree; BN running stats are each rank's own until
    # DDP broadcasts rank 0's at the next forward (rank 0 saves the checkpoints).
    torch.save({k: v.detach().clone() for k, v in trainer.module.named_parameters()},
               os.path.join(out_dir, f"rank{rank}.pt"))
    torch.save(len(trainer.history), os.path.join(out_dir, f"steps{rank}.pt"))
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_gloo_two_processes_end_equal(tmp_path) -> None:
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert a.keys() == {n for n, _ in TinyPose().named_parameters()}
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert torch.load(tmp_path / "steps0.pt") == 4  # 8 samples / 2 ranks / batch 2 x 2 epochs
    init = TinyPose(k=3, bins=(8, 6)).state_dict()
    assert not torch.equal(a["cls_x.weight"], init["cls_x.weight"])
    assert (tmp_path / "latest.pth").is_file()  # written by rank 0


# ----------------------------------------------------------------------------- CLI
@pytest.fixture
def cli(monkeypatch):
    import app.cli

    if "train" not in app.cli.SUBCOMMANDS:
        monkeypatch.setattr(app.cli, "SUBCOMMANDS", (*app.cli.SUBCOMMANDS, "train"))
    return app.cli.main


def test_cli_trains_on_synthetic_data(cli, tmp_path, capsys) -> None:
    from trainer.checkpoint import load_checkpoint
    from trainer.models import build_model

    work = tmp_path / "demo"
    rc = cli(["train", "--arch", "t", "--synthetic", "8", "--epochs", "1", "--batch-size", "8",
              "--workers", "0", "--no-progress", "--work-dir", str(work)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "latest checkpoint" in out and "best wholebody/AP" in out
    for name in ("latest.pth", "best.pth", "log.csv", "val.csv"):
        assert (work / name).is_file(), name
    info = load_checkpoint(build_model("t", "256x192"), work / "latest.pth")
    assert info["num_keys"] == 218  # the EMA weights load as an mmpose whole-body model


def test_cli_no_augment_trains_on_plain_crops(tmp_path) -> None:
    """``--no-augment``: the plain pipeline the whole run (no switch to the final one)."""
    from app.cli import build_parser
    from app.cli.train import prepare_training
    from trainer.data import build_pipeline

    base = ["train", "--arch", "t", "--synthetic", "8", "--epochs", "3", "--batch-size", "4",
            "--workers", "0", "--work-dir", str(tmp_path)]
    plain = prepare_training(build_parser().parse_args([*base, "--no-augment"]), "256x192")
    steps = [type(t) for t in plain.loader.dataset.transform]
    assert steps == [type(t) for t in build_pipeline(SIZE, "plain")]
    assert plain.cfg.final_epochs == 0
    main = prepare_training(build_parser().parse_args(base), "256x192")
    assert [type(t) for t in main.loader.dataset.transform] == [
        type(t) for t in build_pipeline(SIZE, "main")]


def test_cli_user_errors(cli, tmp_path, capsys) -> None:
    assert cli(["train", "--arch", "t", "--work-dir", str(tmp_path)]) == 2
    assert "no training data" in capsys.readouterr().err
    assert cli(["train", "--arch", "t", "--work-dir", str(tmp_path), "--train-ann",
                str(tmp_path / "missing.json"), "--train-img", str(tmp_path)]) == 2
    assert "file not found" in capsys.readouterr().err
    assert cli(["train", "--arch", "t", "--synthetic", "2", "--work-dir", str(tmp_path),
                "--resume", str(tmp_path / "nope.pth")]) == 2
    assert "not found" in capsys.readouterr().err
