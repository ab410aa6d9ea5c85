"""The training loop: RTMPose's recipe (COMPAT section 5) without mmengine.

``Trainer`` runs AdamW (no weight decay on norm layers and biases), the warm-up + cosine
schedule and the EMA of ``trainer.schedule``, optional gradient clipping, AMP on CUDA, the
pipeline switch for the last epochs, validation, atomic checkpoints with exact resume, and
``torch.distributed`` (DDP) when launched by ``torchrun``.

The trained module is either a pose model (``forward(inputs) -> (simcc_x, simcc_y)``, trained
with ``KLDiscretLoss`` against the batch's ``x_labels``/``y_labels``/``weights``) or any module
with ``losses(inputs, targets, epoch) -> {name: scalar}`` (the distillers of
``trainer.distill``); the training loss is the sum of the dict's values.

Checkpoints (``latest.pth`` every ``save_interval`` epochs, ``best.pth`` on a better
validation score) are plain containers of tensors (``torch.load(weights_only=True)`` reads
them): ``state_dict`` holds the EMA weights (mmengine's convention, so ``dwpose export
--checkpoint`` uses them), ``model`` the raw weights, plus optimizer, schedule, AMP scaler,
epoch, iteration, every RNG state and the run's ``meta``. Resuming from a checkpoint written at
the end of epoch ``e`` gives bit-identical training from epoch ``e + 1`` on (single process,
same ``workers``).
"""
from __future__ import annotations

import csv
import dataclasses
import io
import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from engines.errors import DwposeError, FaultError
from engines.files import append_text

from .checkpoint import atomic_save, read_checkpoint
from .losses import KLDiscretLoss
from .schedule import ExpMomentumEMA, LRSchedule
from .validation import make_coco_val_fn  # the val_fn for COCO-WholeBody data

__all__ = [
    "PoseLossModule", "TrainConfig", "Trainer", "init_distributed",
    "make_coco_val_fn", "param_groups",
]

log = logging.getLogger(__name__)

TARGET_KEYS = ("x_labels", "y_labels", "weights")
CHECKPOINT_FORMAT = "dwpose-trainer/1"


@dataclass
class TrainConfig:
    """Everything the loop needs; defaults are the RTMPose whole-body recipe.

    ``input_size`` (w, h) is needed only for the pipeline switch (default: the model's).
    ``grad_clip`` is the max gradient norm (None: off; DWPose distillation uses 1.0).
    ``best_metric`` is a key of the flattened ``val_fn`` result (``"wholebody/AP"``);
    when absent, the first value is used. ``device`` None picks ``cuda:LOCAL_RANK`` or CPU.
    """

    max_epochs: int = 270
    lr: float = 4e-3
    weight_decay: float = 0.05
    warmup_iters: int = 1000
    warmup_start_factor: float = 1e-5
    eta_min_factor: float = 0.05
    cosine_begin_epoch: int | None = None
    ema: bool = True
    ema_momentum: float = 0.0002
    ema_gamma: float = 2000.0
    grad_clip: float | None = None
    amp: bool = True
    final_epochs: int = 30
    input_size: tuple[int, int] | None = None
    val_interval: int = 10
    save_interval: int = 1
    best_metric: str = "wholebody/AP"
    log_interval: int = 50
    progress: bool = True
    tensorboard: bool = True
    sync_bn: bool = True
    find_unused_parameters: bool = False
    device: str | None = None


class PoseLossModule(nn.Module):
    """``forward(inputs, targets, epoch) -> {name: loss}`` for DDP to wrap.

    A module with ``losses(...)`` (a distiller) is called as is; a pose model gets
    ``{'loss_kpt': KLDiscretLoss((simcc_x, simcc_y), (x_labels, y_labels), weights)}``.
    """

    def __init__(self, module: nn.Module, loss: nn.Module | None = None) -> None:
        super().__init__()
        self.module = module
        self.loss = loss if loss is not None else KLDiscretLoss(
            beta=10.0, label_softmax=True, use_target_weight=True)

    def forward(self, inputs: Tensor, targets: Mapping[str, Tensor],
                epoch: int) -> dict[str, Tensor]:
        if hasattr(self.module, "losses"):
            return self.module.losses(inputs, targets, epoch)
        pred_x, pred_y = self.module(inputs)
        loss = self.loss((pred_x.float(), pred_y.float()),
                         (targets["x_labels"], targets["y_labels"]), targets["weights"])
        return {"loss_kpt": loss}


def param_groups(module: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups as mmengine's ``paramwise_cfg(norm_decay_mult=0, bias_decay_mult=0,
    bypass_duplicate=True)``: no decay for the parameters of BatchNorm/SyncBN, InstanceNorm,
    GroupNorm and LayerNorm modules nor for any parameter named ``bias``; shared parameters
    counted once; frozen parameters left out."""
    norm_types = (_BatchNorm, _InstanceNorm, nn.GroupNorm, nn.LayerNorm)
    seen: set[int] = set()
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for mod in module.modules():
        is_norm = isinstance(mod, norm_types)
        for name, param in mod.named_parameters(recurse=False):
            if id(param) in seen:
                continue
            seen.add(id(param))
            if not param.requires_grad:
                continue
            (no_decay if is_norm or name == "bias" else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def init_distributed() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)``; joins the process group when ``torchrun`` set
    ``WORLD_SIZE > 1`` (NCCL on CUDA where torch has it, gloo otherwise)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if world > 1 and not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank)
        nccl = torch.cuda.is_available() and dist.is_nccl_available()  # not in Windows builds
        dist.init_process_group("nccl" if nccl else "gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), local_rank
    return 0, 1, local_rank


def _flatten(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, name + "/"))
        else:
            out[name] = float(value)
    return out


def _datasets(dataset: Any) -> Iterator[Any]:
    """The dataset and every member of a MixedDataset (recursively)."""
    yield dataset
    for member in getattr(dataset, "datasets", ()) or ():
        yield from _datasets(member)


def _dataset_rngs(dataset: Any) -> list[np.random.Generator]:
    rngs: list[np.random.Generator] = []
    for d in _datasets(dataset):
        rng = getattr(d, "rng", None)
        if isinstance(rng, np.random.Generator) and all(rng is not r for r in rngs):
            rngs.append(rng)
    return rngs


def _numpy_global_state() -> dict:
    state = np.random.get_state(legacy=False)  # noqa: NPY002  (the global state, as is)
    state["state"] = {"key": state["state"]["key"].tolist(), "pos": int(state["state"]["pos"])}
    return state


def _set_numpy_global_state(state: dict) -> None:
    inner = state["state"]
    key = np.asarray(inner["key"], np.uint32)
    np.random.set_state({**state, "state": {"key": key, "pos": inner["pos"]}})  # noqa: NPY002


class _CsvLog:
    """Rows appended to a CSV file; the header is fixed by the first row. A row that cannot be
    written (on Windows: the file open in a spreadsheet) waits, with a warning, and goes with
    the next one: training does not stop for its log."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fields: list[str] | None = None
        self._pending = io.StringIO()
        if path.exists() and path.stat().st_size:
            with open(path, newline="", encoding="utf-8") as f:
                self.fields = next(csv.reader(f), None)

    def write(self, row: Mapping[str, Any]) -> None:
        writer = csv.DictWriter(self._pending, fieldnames=self.fields or list(row),
                                extrasaction="ignore")
        if self.fields is None:
            self.fields = list(row)
            writer.writeheader()
        writer.writerow(dict(row))
        try:
            append_text(self.path, self._pending.getvalue(), "training log")
        except DwposeError as exc:
            log.warning("%s; the row is written with the next one", exc)
            return
        self._pending = io.StringIO()


class Trainer:
    """Train ``module`` on ``train_loader`` with the RTMPose recipe; see the module docstring.

    Args:
        module: a pose model (``RTMPose``) or a module with ``losses(inputs, targets, epoch)``.
        train_loader: a ``trainer.data.make_loader`` loader (``distributed=True`` under DDP);
            its batches hold ``inputs`` and the SimCC targets.
        cfg: the ``TrainConfig``.
        val_fn: ``val_fn(model) -> {metric: value}`` (nested dicts are flattened with "/"),
            called on rank 0 with the EMA model (the raw one when EMA is off) in eval mode.
        work_dir: where ``latest.pth``, ``best.pth``, ``log.csv``, ``val.csv`` and
            TensorBoard events go.
        hooks: ``hook(trainer, losses)`` called after every iteration (tests, custom logging).
        meta: what the run is (e.g. ``{"arch", "input_size", "distill_stage"}``), saved as the
            checkpoints' ``meta`` (``dwpose transfer`` and the teacher loader read it).

    Attributes:
        epoch: epochs completed (the next epoch's 0-based index).
        iteration: optimizer steps done.
        history: per-iteration dicts (``epoch``, ``iter``, ``lr``, the losses, ``loss``).
    """

    def __init__(self, module: nn.Module, train_loader: Any, cfg: TrainConfig | None = None,
                 val_fn: Callable[[nn.Module], Mapping[str, Any]] | None = None,
                 work_dir: str | Path = "work_dirs/train",
                 hooks: list[Callable[[Trainer, dict], None]] | None = None,
                 meta: Mapping[str, Any] | None = None) -> None:
        self.cfg = cfg = cfg if cfg is not None else TrainConfig()
        self.rank, self.world_size, local_rank = (
            (dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
            if dist.is_initialized() else (0, 1, 0))
        if cfg.device is not None:
            self.device = torch.device(cfg.device)
        elif torch.cuda.is_available():
            self.device = torch.device("cuda", local_rank)
        else:
            self.device = torch.device("cpu")
        self.is_main = self.rank == 0
        self.work_dir = Path(work_dir)
        self.train_loader = train_loader
        self.val_fn = val_fn
        self.hooks = list(hooks or [])
        self.meta = dict(meta or {})
        if len(train_loader) == 0:
            raise ValueError("the training loader is empty (fewer samples than one batch?)")

        if self.world_size > 1 and cfg.sync_bn and self.device.type == "cuda":
            module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
        self.module = module.to(self.device)
        self.loss_module = PoseLossModule(self.module).to(self.device)
        self.forward_module: nn.Module = self.loss_module
        if self.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.forward_module = DistributedDataParallel(
                self.loss_module,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=cfg.find_unused_parameters)

        self.optimizer = torch.optim.AdamW(param_groups(self.module, cfg.weight_decay),
                                           lr=cfg.lr)
        self.params = [p for g in self.optimizer.param_groups for p in g["params"]]
        self.schedule = LRSchedule(cfg.lr, cfg.max_epochs, len(train_loader), cfg.warmup_iters,
                                   cfg.warmup_start_factor, cfg.eta_min_factor,
                                   cfg.cosine_begin_epoch)
        self.amp = bool(cfg.amp and self.device.type == "cuda")
        scaler_cls = getattr(torch.amp, "GradScaler", None)
        self.scaler = (scaler_cls("cuda", enabled=self.amp) if scaler_cls is not None
                       else torch.cuda.amp.GradScaler(enabled=self.amp))
        self.ema = (ExpMomentumEMA(self.module, cfg.ema_momentum, cfg.ema_gamma)
                    if cfg.ema else None)
        self.epoch = 0
        self.iteration = 0
        self.best: dict[str, Any] = {"metric": None, "value": -math.inf, "epoch": None}
        self.history: list[dict] = []
        self.stage = "main"
        self._csv: _CsvLog | None = None
        self._val_csv: _CsvLog | None = None
        self._tb: Any = None

    # ----------------------------------------------------------------------------- steps
    @property
    def eval_model(self) -> nn.Module:
        """The model validation and ``best.pth`` use: the EMA copy, or the raw model."""
        return self.ema.module if self.ema is not None else self.module

    def _to_device(self, batch: Mapping[str, Any]) -> tuple[Tensor, dict[str, Tensor]]:
        inputs = batch["inputs"].to(self.device, non_blocking=True)
        targets = {k: batch[k].to(self.device, non_blocking=True)
                   for k in TARGET_KEYS if k in batch}
        return inputs, targets

    def train_step(self, batch: Mapping[str, Any]) -> dict[str, float]:
        """One optimizer step at the scheduled lr; returns the losses as floats."""
        lr = self.schedule(self.iteration)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        inputs, targets = self._to_device(batch)
        self.forward_module.train()
        with torch.autocast(device_type=self.device.type, dtype=torch.float16,
                            enabled=self.amp):
            losses = self.forward_module(inputs, targets, self.epoch)
        loss = sum(losses.values())
        if not self.amp and not torch.isfinite(loss):
            latest = self.work_dir / "latest.pth"
            kept = f"{latest} is kept" if latest.is_file() else "no checkpoint written yet"
            raise FaultError(f"training diverged: the loss is {loss.item()} at iteration "
                             f"{self.iteration + 1} (epoch {self.epoch + 1}); {kept}; lower "
                             "the learning rate or clip the gradients")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.cfg.grad_clip is not None and self.cfg.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update(self.module)
        self.iteration += 1
        out = {k: float(v.detach()) for k, v in losses.items()}
        out["loss"] = float(loss.detach())
        out["lr"] = lr
        return out

    # ----------------------------------------------------------------------------- loop
    def _switch_pipeline(self) -> None:
        """From epoch ``max_epochs - final_epochs`` on, train on the lighter "final" pipeline
        (mmdet ``PipelineSwitchHook``)."""
        switch_epoch = self.cfg.max_epochs - self.cfg.final_epochs
        if self.cfg.final_epochs <= 0 or self.epoch < switch_epoch or self.stage == "final":
            return
        from .data import build_pipeline

        size = self.cfg.input_size or getattr(self.module, "input_size", None) or getattr(
            getattr(self.module, "student", None), "input_size", None)
        targets = [d for d in _datasets(self.train_loader.dataset) if hasattr(d, "transform")]
        if size is None or not targets:
            log.warning("pipeline switch skipped: no input size or no dataset transform")
            self.stage = "final"
            return
        for d in targets:
            d.transform = build_pipeline(tuple(size), "final")
        self.stage = "final"
        if self.is_main:
            log.info("epoch %d: switched to the final-stage pipeline", self.epoch + 1)

    def _open_logs(self) -> None:
        if not self.is_main or self._csv is not None:
            return
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._csv = _CsvLog(self.work_dir / "log.csv")
        self._val_csv = _CsvLog(self.work_dir / "val.csv")
        if self.cfg.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                log.info("TensorBoard not installed (pip install tensorboard): CSV log only")
            else:
                self._tb = SummaryWriter(str(self.work_dir / "tb"))

    def _log_iter(self, row: dict) -> None:
        self.history.append(row)
        if not self.is_main:
            return
        if self.iteration % max(self.cfg.log_interval, 1) == 0 or row["last"]:
            assert self._csv is not None
            self._csv.write({k: v for k, v in row.items() if k != "last"})
            if self._tb is not None:
                for key, value in row.items():
                    if key.startswith("loss") or key == "lr":
                        self._tb.add_scalar(f"train/{key}", value, self.iteration)

    def train_epoch(self) -> dict[str, float]:
        """One epoch; returns the mean of each loss."""
        from tqdm import tqdm

        self._switch_pipeline()
        loader = self.train_loader
        for d in _datasets(loader.dataset):
            if hasattr(d, "set_epoch"):
                d.set_epoch(self.epoch)
        if hasattr(getattr(loader, "sampler", None), "set_epoch"):
            loader.sampler.set_epoch(self.epoch)
        sums: dict[str, float] = {}
        n = len(loader)
        start = time.perf_counter()
        bar = tqdm(loader, total=n, desc=f"epoch {self.epoch + 1}/{self.cfg.max_epochs}",
                   disable=not (self.is_main and self.cfg.progress), dynamic_ncols=True,
                   leave=False)
        for i, batch in enumerate(bar):
            losses = self.train_step(batch)
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + value
            bar.set_postfix(loss=f"{losses['loss']:.4f}", lr=f"{losses['lr']:.2e}")
            row = {"epoch": self.epoch + 1, "iter": self.iteration, **losses,
                   "time": round(time.perf_counter() - start, 3), "last": i == n - 1}
            self._log_iter(row)
            for hook in self.hooks:
                hook(self, losses)
        bar.close()
        self.epoch += 1
        return {k: v / n for k, v in sums.items()}

    def validate(self) -> dict[str, float]:
        """Run ``val_fn`` on rank 0 (EMA model, eval mode); update ``best.pth``."""
        if self.val_fn is None:
            return {}
        metrics: dict[str, float] = {}
        if self.is_main:
            model = self.eval_model
            was_training = model.training
            model.eval()
            with torch.no_grad():
                metrics = _flatten(self.val_fn(model))
            model.train(was_training)
            assert self._val_csv is not None
            self._val_csv.write({"epoch": self.epoch, **metrics})
            if self._tb is not None:
                for key, value in metrics.items():
                    self._tb.add_scalar(f"val/{key}", value, self.epoch)
            key = self.cfg.best_metric if self.cfg.best_metric in metrics else next(
                iter(metrics), None)
            if key is not None and metrics[key] > self.best["value"]:
                self.best = {"metric": key, "value": metrics[key], "epoch": self.epoch}
                atomic_save(self.state_dict(), self.work_dir / "best.pth")
        if self.world_size > 1:
            dist.barrier()
        return metrics

    def fit(self, resume: str | Path | None = None) -> dict[str, Any]:
        """Train until ``max_epochs`` (resuming from ``resume`` first when given)."""
        if resume is not None:
            self.load_checkpoint(resume)
        self._open_logs()
        summary: dict[str, Any] = {"epochs": []}
        try:
            while self.epoch < self.cfg.max_epochs:
                train = self.train_epoch()
                entry: dict[str, Any] = {"epoch": self.epoch, "train": train}
                last = self.epoch == self.cfg.max_epochs
                if self.val_fn is not None and (last or self.epoch % self.cfg.val_interval == 0):
                    entry["val"] = self.validate()
                if last or self.epoch % self.cfg.save_interval == 0:
                    self.save_checkpoint(self.work_dir / "latest.pth")
                summary["epochs"].append(entry)
                if self.is_main:
                    val = entry.get("val", {})
                    shown = {k: v for k, v in val.items() if k == self.best["metric"]}
                    log.info("epoch %d/%d: %s%s", self.epoch, self.cfg.max_epochs,
                             ", ".join(f"{k} {v:.4g}" for k, v in train.items()),
                             "".join(f", {k} {v:.4g}" for k, v in shown.items()))
        finally:
            if self._tb is not None:
                self._tb.flush()
        summary["best"] = dict(self.best)
        summary["latest"] = self.work_dir / "latest.pth"
        return summary

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    # ----------------------------------------------------------------------------- state
    def _rng_state(self) -> dict:
        loader_gen = getattr(self.train_loader, "generator", None)
        return {
            "python": random.getstate(),
            "numpy": _numpy_global_state(),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "loader": loader_gen.get_state() if loader_gen is not None else None,
            "dataset": [r.bit_generator.state for r in _dataset_rngs(self.train_loader.dataset)],
        }

    def _set_rng_state(self, state: Mapping[str, Any]) -> None:
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
        _set_numpy_global_state(state["numpy"])
        torch.set_rng_state(state["torch"])
        if state.get("cuda") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
        loader_gen = getattr(self.train_loader, "generator", None)
        if loader_gen is not None and state.get("loader") is not None:
            loader_gen.set_state(state["loader"])
        rngs = _dataset_rngs(self.train_loader.dataset)
        for rng, saved in zip(rngs, state.get("dataset", [])):
            rng.bit_generator.state = saved

    def state_dict(self) -> dict[str, Any]:
        """The checkpoint contents (see the module docstring)."""
        raw = self.module.state_dict()
        return {
            "format": CHECKPOINT_FORMAT,
            "state_dict": self.ema.module.state_dict() if self.ema is not None else raw,
            "model": raw,
            "ema_steps": self.ema.steps if self.ema is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": {"iteration": self.iteration, **dataclasses.asdict(self.schedule)},
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "iteration": self.iteration,
            "stage": self.stage,
            "best": dict(self.best),
            "rng": self._rng_state(),
            "config": dataclasses.asdict(self.cfg),
            "meta": dict(self.meta),
        }

    def save_checkpoint(self, path: str | Path) -> Path | None:
        """Write the checkpoint atomically (rank 0 only; other ranks wait)."""
        written = atomic_save(self.state_dict(), path) if self.is_main else None
        if self.world_size > 1:
            dist.barrier()
        return written

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore everything ``state_dict`` saved, to continue exactly where it stopped."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no checkpoint to resume from")
        ckpt = read_checkpoint(path)  # a ModelError for an empty, truncated or unsafe file
        if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path}: not a checkpoint written by this trainer "
                             "(load pretrained weights into the model instead)")
        self.module.load_state_dict(ckpt["model"])
        if self.ema is not None:
            self.ema.module.load_state_dict(ckpt["state_dict"])
            self.ema.steps = int(ckpt["ema_steps"] or 0)
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.epoch = int(ckpt["epoch"])
        self.iteration = int(ckpt["iteration"])
        self.best = dict(ckpt.get("best") or self.best)
        self._set_rng_state(ckpt["rng"])  # the pipeline switch is re-applied by the epoch
