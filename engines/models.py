"""What each stage needs of a model file, and the check that says clearly when it does not fit.

A model given by path is checked when it is loaded: a missing file, a file that is not a model,
or a model whose inputs/outputs do not fit the stage raises ``ModelError`` with one line naming
the file, every signature the stage accepts and what was found.

The released files declare their shapes in several ways (COMPAT section 1), all accepted:

- pose: static or symbolic batch (``dw-ll_ucoco_384.onnx`` is batch 1, ComfyUI's ``*_bs5``
  files batch 5, the OpenMMLab SDKs ``batch``), and a symbolic keypoint axis
  (``MatMulsimcc_x_dim_1``: the exporter loses it after the dynamic-batch flatten). Whatever
  the declared shapes leave open is resolved by one probe inference at load time.
- detector: a raw YOLOX head (``output`` [1,N,85], decoded and NMS'd by us) or an mmdeploy
  end2end export (``dets`` [1,N,5] + ``labels`` [1,N], NMS inside the graph), with a static
  or symbolic input size.
- FP16 files (float16 input and outputs): the backends cast in and out.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .backends import Backend, create_backend
from .errors import ModelError

YOLOX_STRIDES = (8, 16, 32)

#: Detector families, told apart by their outputs.
RAW_YOLOX, END2END = "yolox", "end2end"
RAW_YOLOX_SIGNATURE = ("a raw YOLOX export (input [1,3,S,S], S divisible by 32; output [1,N,85]: "
                       "80 COCO classes, no NMS)")
END2END_SIGNATURE = ("an mmdeploy end2end detector (input [1,3,H,W]; outputs 'dets' [1,N,5] and "
                     "'labels' [1,N], NMS inside the graph)")
DETECTOR_EXPECTED = f"{RAW_YOLOX_SIGNATURE} or {END2END_SIGNATURE}"
POSE_EXPECTED = ("an RTMPose/DWPose/RTMW SimCC model: input 'input' [B,3,H,W] (float32 or "
                 "float16, B static or symbolic), outputs 'simcc_x' [B,133,W*k] and 'simcc_y' "
                 "[B,133,H*k] (the keypoint axis may be symbolic)")
#: Square input the end2end detectors were trained at, when the file leaves it symbolic.
DEFAULT_DET_SIZE = 640


@dataclass(frozen=True)
class DetectorIO:
    """What the detector stage reads off a model: its family, tensor names and input size."""

    family: str  # RAW_YOLOX or END2END
    input_name: str
    output_names: tuple[str, ...]  # (raw,) or (dets, labels)
    input_size: int  # S of the square S x S network input
    size_source: str = "model"  # where S came from: the model, or what filled a symbolic size

    def describe(self) -> str:
        family = "raw YOLOX" if self.family == RAW_YOLOX else "end2end (NMS in the graph)"
        return f"{family}, input {self.input_size}x{self.input_size} ({self.size_source})"


@dataclass(frozen=True)
class PoseIO:
    """What the pose stage reads off a model (after the probe filled any symbolic axis)."""

    input_size: tuple[int, int]  # (w, h) of the network input
    num_keypoints: int
    split_ratio: float  # SimCC bins per input pixel (2.0 for every released model)
    batch: int | None = None  # a static batch the model only takes whole (None: any)


def _mismatch(backend: Backend, expected: str, why: str) -> ModelError:
    hint = ""
    names = {t.name for t in backend.outputs}
    if {"simcc_x", "simcc_y"} <= names and expected == DETECTOR_EXPECTED:
        hint = " (this looks like a pose model: pass it as the pose model)"
    elif expected == POSE_EXPECTED and (len(backend.outputs) == 1 or "dets" in names):
        hint = " (this looks like a detector: pass it as the detector)"
    return ModelError(
        f"{backend.path}: {why}; expected {expected}; found {backend.describe()}{hint}")


def yolox_num_anchors(size: int) -> int:
    return sum((size // s) ** 2 for s in YOLOX_STRIDES)


def _one_stage(backend: Backend) -> ModelError | None:
    """RTMO and other one-stage pose models: boxes and body keypoints from one network."""
    specs = {t.name: t for t in backend.outputs}
    kpts = specs.get("keypoints")
    if "dets" in specs and kpts is not None and len(kpts.shape) == 4:
        k = kpts.shape[2] if kpts.shape[2] is not None else "K"
        return ModelError(
            f"{backend.path}: a one-stage pose model (RTMO-style: outputs 'dets' and "
            f"'keypoints' [B,N,{k},3], {k} body keypoints per person), not a detector and not "
            f"a 133-keypoint whole-body model; expected {DETECTOR_EXPECTED}")
    return None


def check_detector(backend: Backend, size: int | None = None,
                   size_source: str = "--det-size") -> DetectorIO:
    """Validate a detector of either family and settle its square input size.

    A static input size is the model's own (``size`` must agree with it). A symbolic one is
    ``size`` (from ``size_source``: ``--det-size``, the registry) or ``DEFAULT_DET_SIZE``.
    """
    if error := _one_stage(backend):
        raise error
    names = [t.name for t in backend.outputs]
    if len(backend.inputs) != 1:
        raise _mismatch(backend, DETECTOR_EXPECTED, "not one image input")
    inp = backend.inputs[0]
    if len(inp.shape) != 4 or inp.shape[1] != 3 or inp.shape[0] not in (None, 1):
        raise _mismatch(backend, DETECTOR_EXPECTED, "input is not one 3-channel NCHW image")
    if set(names) == {"dets", "labels"}:
        family, outputs = END2END, ("dets", "labels")
        specs = {t.name: t for t in backend.outputs}
        dets, labels = specs["dets"], specs["labels"]
        if len(dets.shape) != 3 or dets.shape[2] != 5 or len(labels.shape) != 2:
            raise _mismatch(backend, DETECTOR_EXPECTED, "outputs are not dets [1,N,5] and "
                                                        "labels [1,N]")
    elif len(names) == 1:
        family, outputs = RAW_YOLOX, (names[0],)
        out = backend.outputs[0]
        if len(out.shape) != 3 or out.shape[2] != 85:
            raise _mismatch(backend, DETECTOR_EXPECTED, "output is not [1,N,85] (80 COCO "
                                                        "classes)")
    else:
        raise _mismatch(backend, DETECTOR_EXPECTED, "outputs fit no detector family")
    h, w = inp.shape[2:]
    if h is not None or w is not None:
        if h != w:
            raise _mismatch(backend, DETECTOR_EXPECTED, f"input is {w}x{h}; only square inputs "
                                                        "(the letterbox) are supported")
        if size is not None and size != h:
            raise ModelError(f"{backend.path}: {size_source} {size} does not fit the model's "
                             f"fixed {h}x{h} input")
        size, size_source = h, "model"
    elif size is None:
        size, size_source = DEFAULT_DET_SIZE, "default: the model leaves it open"
    if size % 32:
        raise _mismatch(backend, DETECTOR_EXPECTED, f"input size {size} is not a multiple of 32")
    if family == RAW_YOLOX:
        anchors = backend.outputs[0].shape[1]
        if anchors not in (None, yolox_num_anchors(size)):
            raise _mismatch(backend, DETECTOR_EXPECTED,
                            f"output has {anchors} anchors, {yolox_num_anchors(size)} fit a "
                            f"{size}x{size} input (raw output without NMS needed)")
    return DetectorIO(family, inp.name, outputs, size, size_source)


def _probe(backend: Backend) -> None:
    """Fill the output axes (beyond the batch) that the declared shapes leave open, with one
    inference on a zero input; the batch axis keeps its declared form."""
    inp = backend.inputs[0]
    feed = np.zeros((inp.shape[0] or 1, *inp.shape[1:]), np.float32)
    try:
        outputs = backend.infer({inp.name: feed})
    except Exception as exc:  # any runtime's failure on a file that does not fit
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{backend.path}: the probe inference that settles the output shapes "
                         f"failed ({reason})") from None
    backend.outputs = [replace(t, shape=(t.shape[0], *np.shape(outputs[t.name])[1:]))
                       for t in backend.outputs]


def check_pose(backend: Backend) -> PoseIO:
    """Validate a SimCC pose model and return its input size, keypoints and split ratio.

    Output axes left symbolic (the keypoint axis of the OpenMMLab SDKs, the bins of some
    exports) are resolved by one probe inference, which also updates ``backend.outputs``.
    """
    specs = {t.name: t for t in backend.outputs}
    if [t.name for t in backend.inputs] != ["input"] or set(specs) != {"simcc_x", "simcc_y"}:
        raise _mismatch(backend, POSE_EXPECTED, "wrong input/output names")
    inp = backend.inputs[0]
    if len(inp.shape) != 4 or inp.shape[1] != 3 or None in inp.shape[2:]:
        raise _mismatch(backend, POSE_EXPECTED, "input is not a static-size 3-channel image")
    if any(len(t.shape) != 3 for t in specs.values()):
        raise _mismatch(backend, POSE_EXPECTED, "SimCC outputs are not [B,K,bins]")
    if any(None in t.shape[1:] for t in specs.values()):
        _probe(backend)
        specs = {t.name: t for t in backend.outputs}
    h, w = inp.shape[2:]
    sx, sy = specs["simcc_x"], specs["simcc_y"]
    if sx.shape[1] != 133 or sy.shape[1] != 133:
        raise _mismatch(backend, POSE_EXPECTED, "not 133 COCO-WholeBody keypoints")
    kx, ky = sx.shape[2] / w, sy.shape[2] / h
    if kx != ky or kx < 1:
        raise _mismatch(backend, POSE_EXPECTED, "SimCC bins do not match the input size")
    return PoseIO((w, h), sx.shape[1], kx, inp.shape[0])


def _foreign_format(path: Path, backend: str) -> str | None:
    """Why ``path`` is a file another tool writes instead of ONNX (None when it is not)."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head == b"PK\x03\x04":
        try:
            names = zipfile.ZipFile(path).namelist()
        except (zipfile.BadZipFile, OSError):
            return None
        if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
            return ("a TorchScript file (torch.jit.save), not ONNX; export the model to ONNX "
                    "(for trainer checkpoints: dwpose export)")
        if any(n.endswith("end2end.onnx") for n in names):
            return ("an OpenMMLab ONNX SDK archive; unzip it and pass its end2end.onnx, or "
                    "give the release name to dwpose fetch")
        if backend != "torch" and any(n.endswith("data.pkl") for n in names):
            return ("a PyTorch checkpoint, not ONNX; run it with --backend torch or convert "
                    "it with dwpose export")
    elif head[:1] == b"\x80" and backend != "torch":
        return "a pickled PyTorch checkpoint, not ONNX; use --backend torch or dwpose export"
    return None


def load_model(path: str | Path, stage: str, backend: str = "onnxruntime",
               det_size: int | None = None, det_size_source: str = "--det-size",
               **options) -> tuple[Backend, DetectorIO | PoseIO]:
    """Load ``path`` for ``stage`` ("detector" or "pose") and check it fits.

    ``det_size`` fills a detector's symbolic input size (see ``check_detector``).
    """
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: {stage} model file not found")
    if path.is_dir():
        raise ModelError(f"{path}: is a folder; expected a {stage} model file (.onnx)")
    if path.suffix.lower() != ".engine" and (foreign := _foreign_format(path, backend)):
        raise ModelError(f"{path}: {foreign}")
    model = create_backend(backend, path, **options)
    if stage == "detector":
        return model, check_detector(model, det_size, det_size_source)
    return model, check_pose(model)
