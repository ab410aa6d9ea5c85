"""The precision gate: a reduced-precision pose model proves itself against FP32 before use.

The candidate (an INT8 file from ``dwpose quantize``, an FP16 or INT8 TensorRT engine) and its
FP32 original (ONNX Runtime on the CPU) run on the same person crops of held-out frames, frames
the calibration did not see. The FP32 keypoints are the reference. Per part of the skeleton
(``engines.skeleton.PARTS``: body, foot, face, left hand, right hand) the gate reports:

- the mean distance to FP32 in image pixels;
- the share of persons whose OKS against FP32 is at least ``Thresholds.oks``. OKS is
  COCO-WholeBody's (``engines.oks``): that part's sigmas and the area of the person's box,
  over the keypoints FP32 is confident of (score above ``Thresholds.confident``, the ones the
  app draws). A person without a confident keypoint of a part is not counted for that part.

A part passes when its share reaches ``Thresholds.share``; the model passes when every part it
could measure passes (at least one must). docs/quantization.md has the measurements behind the
thresholds.

The verdict is stored beside the candidate (``verdict_path``: ``<candidate stem>.gate.json``)
with the frames, the thresholds, the table and the candidate's SHA-256, and a fingerprint of
where it was measured (CPU or GPU, runtime and version, precision): integer kernels differ
between CPUs and runtime versions, so a verdict holds for that machine and runtime only. One
file keeps a verdict per fingerprint. ``--precision auto`` uses an INT8 model only when
``check_verdict`` finds a passing verdict for this machine (``engines.backends.auto``).
"""
from __future__ import annotations

import importlib
import importlib.metadata
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .cpu import CpuInfo, cpu_info
from .errors import ModelError
from .files import write_file
from .oks import compute_oks
from .pose import RTMPose
from .skeleton import PARTS, SIGMAS
from .trt.metadata import file_sha256

#: Format of the verdict file; another is read as no verdict.
FORMAT = 1
#: The runtimes' Python distributions, for their versions.
_DISTRIBUTIONS = {"onnxruntime": "onnxruntime", "openvino": "openvino", "tensorrt": "tensorrt"}


@dataclass(frozen=True)
class Thresholds:
    """What passes (docs/quantization.md: chosen from the measured harmless and broken cases)."""

    oks: float = 0.9  # a person agrees with FP32 on a part at OKS >= this
    share: float = 0.9  # a part passes when at least this share of persons agrees
    confident: float = 0.3  # FP32 keypoints scored above this are compared (those drawn)


THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class PartAgreement:
    """One part of the skeleton: the candidate against FP32."""

    persons: int  # persons with a confident FP32 keypoint of the part
    keypoints: int  # confident FP32 keypoints compared
    mean_px: float  # their mean distance to FP32, image pixels
    mean_oks: float  # mean OKS of those persons
    share: float  # share of those persons at OKS >= Thresholds.oks


@dataclass
class PosePairs:
    """FP32 and candidate keypoints of the same persons, on the same crops."""

    reference: np.ndarray  # [P, K, 2] image pixels
    scores: np.ndarray  # [P, K] FP32 scores
    candidate: np.ndarray  # [P, K, 2]
    boxes: np.ndarray  # [P, 4] xyxy person boxes
    frames: int


def person_boxes(image: np.ndarray, find_boxes: Callable[[np.ndarray], np.ndarray] | None
                 ) -> np.ndarray:
    """[N, 4] xyxy: the boxes ``find_boxes`` gives, or the whole image as one person."""
    if find_boxes is None:
        return np.array([[0, 0, image.shape[1], image.shape[0]]], np.float32)
    return np.asarray(find_boxes(image), np.float32).reshape(-1, 4)


def run_pairs(reference: RTMPose, candidate: RTMPose, images: Iterable[np.ndarray],
              find_boxes: Callable[[np.ndarray], np.ndarray] | None = None) -> PosePairs:
    """Both models on the same crops of ``images``: each box ``find_boxes`` gives (without it,
    each whole image is one person)."""
    ref, scores, cand, boxes, frames = [], [], [], [], 0
    for image in images:
        frames += 1
        found = person_boxes(image, find_boxes)
        if len(found) == 0:
            continue
        batch = reference.preprocess(image, found)
        k_ref, s_ref = reference.postprocess(*reference.infer(batch.blob), batch)
        k_new, _ = candidate.postprocess(*candidate.infer(batch.blob), batch)
        ref.append(k_ref)
        scores.append(s_ref)
        cand.append(k_new)
        boxes.append(found)
    if not ref:
        raise ValueError("no person to compare on (no frame, or no boxes found)")
    return PosePairs(*(np.concatenate(v) for v in (ref, scores, cand, boxes)), frames)


def person_oks(pairs: PosePairs, keypoints: range | slice = slice(None),
               thresholds: Thresholds = THRESHOLDS) -> tuple[np.ndarray, np.ndarray]:
    """COCO-WholeBody OKS of each person's candidate ``keypoints`` against FP32's, over the
    confident FP32 ones: (indices of the persons with any, their OKS)."""
    labelled = pairs.scores[:, keypoints] > thresholds.confident
    persons = np.flatnonzero(labelled.any(1))
    xywh = np.concatenate([pairs.boxes[:, :2], pairs.boxes[:, 2:] - pairs.boxes[:, :2]], 1)
    sigmas = SIGMAS[keypoints]
    oks = [compute_oks(pairs.candidate[i:i + 1, keypoints],
                       np.concatenate([pairs.reference[i, keypoints],
                                       labelled[i, :, None] * 2.0], -1)[None],
                       xywh[i, 2:3] * xywh[i, 3:4], xywh[i:i + 1], sigmas)[0, 0]
           for i in persons]
    return persons, np.array(oks, np.float64)


def worst_part_oks(pairs: PosePairs, thresholds: Thresholds = THRESHOLDS) -> np.ndarray:
    """Each person's lowest OKS over the parts (those with a confident FP32 keypoint): what
    the verdict hinges on, as one number per person (persons with no such part left out)."""
    worst = np.full(len(pairs.scores), np.inf)
    for idx in PARTS.values():
        persons, oks = person_oks(pairs, idx, thresholds)
        worst[persons] = np.minimum(worst[persons], oks)
    return worst[np.isfinite(worst)]


def part_agreement(pairs: PosePairs, thresholds: Thresholds = THRESHOLDS
                   ) -> dict[str, PartAgreement]:
    """Per part: distances and OKS of the candidate against FP32 (see the module docstring)."""
    dist = np.linalg.norm(pairs.candidate - pairs.reference, axis=-1)
    table = {}
    for part, idx in PARTS.items():
        persons, oks = person_oks(pairs, idx, thresholds)
        d = dist[:, idx][pairs.scores[:, idx] > thresholds.confident]
        table[part] = PartAgreement(
            len(persons), len(d), float(d.mean()) if len(d) else 0.0,
            float(oks.mean()) if len(oks) else 0.0,
            float((oks >= thresholds.oks).mean()) if len(oks) else 0.0)
    return table


@dataclass(frozen=True)
class Fingerprint:
    """Where a verdict was measured: the device, the runtime and the precision."""

    device: str  # the CPU's name (the GPU's for TensorRT)
    features: tuple[str, ...]  # the CPU's decisive features (engines.cpu); () for a GPU
    runtime: str  # "openvino", "onnxruntime" or "tensorrt"
    version: str  # the runtime's version
    precision: str  # "int8", "fp16"...

    def mismatch(self, here: Fingerprint) -> str | None:
        """Why a verdict measured at ``self`` does not hold ``here`` (None when it does)."""
        if (self.device, self.features) != (here.device, here.features):
            return (f"was measured on another {'GPU' if not self.features else 'CPU'} "
                    f"({self.device}: {' '.join(self.features) or 'no features'})")
        if (self.runtime, self.version) != (here.runtime, here.version):
            return (f"was measured with {self.runtime} {self.version}, this runs {here.runtime} "
                    f"{here.version}")
        if self.precision != here.precision:
            return f"was measured at {self.precision}, this runs {here.precision}"
        return None


def runtime_version(runtime: str) -> str:
    """The installed version of ``runtime`` (its distribution's, else its module's)."""
    try:
        return importlib.metadata.version(_DISTRIBUTIONS.get(runtime, runtime))
    except importlib.metadata.PackageNotFoundError:
        return str(getattr(importlib.import_module(runtime), "__version__", "unknown"))


def cpu_fingerprint(runtime: str, precision: str, cpu: CpuInfo | None = None) -> Fingerprint:
    """This CPU with ``runtime`` (its installed version) at ``precision``."""
    cpu = cpu or cpu_info()
    return Fingerprint(cpu.name, tuple(sorted(cpu.flags)), runtime, runtime_version(runtime),
                       precision)


def backend_fingerprint(backend, precision: str) -> Fingerprint:
    """Where ``backend`` (a loaded model) runs: a TensorRT engine's GPU and TensorRT version
    from its header, else this CPU and the runtime's version."""
    meta = getattr(backend, "metadata", None)
    if backend.name == "tensorrt" and meta is not None:
        return Fingerprint(meta.gpu.describe(), (), "tensorrt", meta.tensorrt, precision)
    return cpu_fingerprint(backend.name, precision)


@dataclass
class Verdict:
    """The gate's result for one candidate file on one machine and runtime."""

    candidate: str  # the candidate's file name
    sha256: str  # of the candidate file
    reference: str  # the FP32 model
    source: str  # the frames (a folder or a video)
    frames: int
    persons: int
    thresholds: Thresholds
    parts: dict[str, PartAgreement]
    fingerprint: Fingerprint
    #: One crop, median ms: {"reference": what the candidate replaces (e.g. "openvino bf16"),
    #: "reference_ms", "candidate_ms"}; None where not timed.
    speed: dict | None = None
    measured: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(
        timespec="seconds"))

    @property
    def failed(self) -> list[str]:
        """The measured parts whose share is below the threshold."""
        return [part for part, a in self.parts.items()
                if a.persons and a.share < self.thresholds.share]

    @property
    def speedup(self) -> float | None:
        """How many times faster than what it replaces, where timed."""
        return self.speed["reference_ms"] / self.speed["candidate_ms"] if self.speed else None

    @property
    def passed(self) -> bool:
        return not self.failed and any(a.persons for a in self.parts.values())

    def summary(self) -> str:
        """``passed``, or ``failed: <parts>`` with each failing part's share."""
        if self.passed:
            return "passed"
        if not any(a.persons for a in self.parts.values()):
            return (f"failed: no FP32 keypoint scored above {self.thresholds.confident} on "
                    "the held-out frames (nothing to compare)")
        t = self.thresholds
        return "failed: " + ", ".join(
            f"{part} ({self.parts[part].share:.0%} of persons at OKS >= {t.oks:g}, "
            f"{t.share:.0%} needed)" for part in self.failed)

    def table(self) -> str:
        """The per-part table, then the verdict line."""
        t = self.thresholds
        lines = [f"{self.fingerprint.precision.upper()} {self.candidate} against FP32 "
                 f"({self.fingerprint.runtime} {self.fingerprint.version}, "
                 f"{self.fingerprint.device}) on {self.persons} person(s) of {self.frames} "
                 f"held-out frame(s); keypoints FP32 scores above {t.confident:g}:",
                 f"  {'part':<11}{'persons':>8}{'keypoints':>10}{'mean px':>9}{'mean OKS':>10}"
                 f"{f'OKS>={t.oks:g}':>10}  pass"]
        for part, a in self.parts.items():
            ok = "-" if not a.persons else "yes" if a.share >= t.share else "NO"
            lines.append(f"  {part:<11}{a.persons:>8}{a.keypoints:>10}{a.mean_px:>9.2f}"
                         f"{a.mean_oks:>10.3f}{a.share:>10.1%}  {ok}")
        if self.speed:
            lines.append(f"speed (one crop, median): {self.speed['reference']} "
                         f"{self.speed['reference_ms']:.1f} ms, {self.fingerprint.precision} "
                         f"{self.speed['candidate_ms']:.1f} ms: {self.speedup:.2f}x")
        lines.append(f"precision gate (each part: >= {t.share:.0%} of persons at OKS >= "
                     f"{t.oks:g}): {self.summary()}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed, "failed": self.failed}

    @classmethod
    def from_dict(cls, data: dict) -> Verdict:
        fp = dict(data["fingerprint"], features=tuple(data["fingerprint"]["features"]))
        return cls(data["candidate"], data["sha256"], data["reference"], data["source"],
                   int(data["frames"]), int(data["persons"]), Thresholds(**data["thresholds"]),
                   {part: PartAgreement(**a) for part, a in data["parts"].items()},
                   Fingerprint(**fp), data.get("speed"), data["measured"])


def measure(reference: RTMPose, candidate: RTMPose, candidate_path: str | Path,
            reference_path: str | Path, images: Iterable[np.ndarray],
            find_boxes: Callable[[np.ndarray], np.ndarray] | None, source: str,
            fingerprint: Fingerprint, thresholds: Thresholds = THRESHOLDS) -> Verdict:
    """The gate's verdict on ``candidate`` against ``reference`` (FP32) on ``images``."""
    pairs = run_pairs(reference, candidate, images, find_boxes)
    return Verdict(Path(candidate_path).name, file_sha256(candidate_path), str(reference_path),
                   source, pairs.frames, len(pairs.scores), thresholds,
                   part_agreement(pairs, thresholds), fingerprint)


def run_gate(reference_path: str | Path, candidate_path: str | Path, runtime: str,
             label: str, images: Iterable[np.ndarray],
             find_boxes: Callable[[np.ndarray], np.ndarray] | None, source: str,
             **candidate_options) -> tuple[Verdict, RTMPose, RTMPose]:
    """Load the FP32 ``reference_path`` (ONNX Runtime, CPU) and ``candidate_path`` (with
    ``runtime`` and ``candidate_options``) and measure: (verdict, reference, candidate).
    ``label``: the candidate's precision as the verdict names it (``int8``, ``fp16``)."""
    from .models import load_model

    reference = RTMPose(load_model(reference_path, "pose", "onnxruntime", device="cpu")[0])
    backend = load_model(candidate_path, "pose", runtime, **candidate_options)[0]
    candidate = RTMPose(backend)
    verdict = measure(reference, candidate, candidate_path, reference_path, images, find_boxes,
                      source, backend_fingerprint(backend, label))
    return verdict, reference, candidate


def verdict_path(candidate: str | Path) -> Path:
    """Where the verdicts of ``candidate`` are stored: ``<stem>.gate.json`` beside it."""
    return Path(candidate).with_suffix(".gate.json")


def load_verdicts(candidate: str | Path) -> list[Verdict]:
    """The stored verdicts of ``candidate`` ([] without a file or in another format)."""
    path = verdict_path(candidate)
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            return []
        return [Verdict.from_dict(v) for v in data["verdicts"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelError(f"{path}: not a precision-gate verdict file "
                         f"({type(exc).__name__}: {exc}); delete it and run the gate again"
                         ) from None


def save_verdict(verdict: Verdict, candidate: str | Path) -> Path:
    """Store ``verdict`` beside ``candidate``; it replaces the verdict of the same fingerprint,
    and drops those of an earlier file (another SHA-256)."""
    kept = [v for v in load_verdicts(candidate)
            if v.sha256 == verdict.sha256 and v.fingerprint != verdict.fingerprint]
    data = {"format": FORMAT, "verdicts": [v.to_dict() for v in [*kept, verdict]]}
    return write_file(verdict_path(candidate), json.dumps(data, indent=2) + "\n",
                      "precision-gate verdict")


def check_verdict(candidate: str | Path, here: Fingerprint) -> tuple[Verdict | None, str]:
    """The stored verdict of ``candidate`` measured ``here`` (None when there is none), and
    what it says, or why there is none."""
    candidate = Path(candidate)
    verdicts = load_verdicts(candidate)
    if not verdicts:
        return None, (f"{candidate.name} has no precision-gate verdict "
                      f"({verdict_path(candidate).name})")
    sha = file_sha256(candidate)
    current = [v for v in verdicts if v.sha256 == sha]
    if not current:
        return None, f"{candidate.name} changed since its precision gate ran"
    for verdict in current:
        if verdict.fingerprint.mismatch(here) is None:
            return verdict, f"{candidate.name}: precision gate {verdict.summary()}"
    return None, f"{candidate.name}'s precision gate {current[-1].fingerprint.mismatch(here)}"
