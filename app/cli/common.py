"""Options shared by the commands that run the pipeline (models, runtime, detector)."""
from __future__ import annotations

import argparse
import sys

from engines.backends import BACKENDS
from engines.backends.auto import BackendChoice, choose_backend
from engines.errors import UserError
from engines.pipeline import WholeBody, build_pipeline
from trainer.variants import ARCHS, INPUT_SIZES

from .flags import fraction, positive_int, threads


def add_pipeline_args(parser: argparse.ArgumentParser) -> None:
    models = parser.add_argument_group("models")
    models.add_argument("--det", metavar="D.onnx",
                        help="person detector: a path or a release name from 'dwpose fetch "
                             "--list'; a raw YOLOX export or an mmdeploy end2end detector "
                             "(default: yolox_l on a GPU, yolox_nano on the CPU; downloaded into "
                             "the cache on first use)")
    models.add_argument("--pose", metavar="P.onnx",
                        help="DWPose/RTMPose/RTMW SimCC model: a path or a release name "
                             "(default: dw-ll_ucoco_384 on a GPU, dwpose-m_256x192 on the CPU; "
                             "downloaded on first use)")
    models.add_argument("--cache-dir", metavar="DIR",
                        help="model cache (default: $DWPOSE_HOME, else the system's cache "
                             "folder; 'dwpose doctor' shows it)")
    models.add_argument("--no-download", action="store_true",
                        help="never download: fail with instructions when a model is missing")
    models.add_argument("--pose-arch", choices=ARCHS,
                        help="variant of a .pth pose checkpoint (--backend torch); default: "
                             "read from its weights")
    models.add_argument("--pose-input-size", choices=INPUT_SIZES, metavar="HxW",
                        help="input size of a .pth pose checkpoint: 256x192 or 384x288 "
                             "(--backend torch); default: read from its weights")

    runtime = parser.add_argument_group("runtime")
    runtime.add_argument("--backend", default="auto", choices=("auto", *sorted(BACKENDS)),
                         help="inference runtime; auto = TensorRT on an NVIDIA GPU, else "
                              "OpenVINO BF16 on a CPU with BF16 (AVX-512 BF16, AMX), else ONNX "
                              "Runtime; start-up prints the choice and why (default: "
                              "%(default)s)")
    runtime.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "coreml"),
                         help="ONNX Runtime / torch device; auto = CUDA when the runtime sees a "
                              "GPU, else CPU; coreml = Apple's CoreML through ONNX Runtime "
                              "(macOS) (default: %(default)s)")
    runtime.add_argument("--precision", default="auto",
                         choices=("auto", "fp16", "fp32", "bf16", "int8"),
                         help="torch: auto = FP16 on CUDA, FP32 on the CPU; tensorrt: the "
                              "engine built from an .onnx model (auto = fp16); openvino: auto "
                              "= BF16 where the CPU has it, else FP32, int8 = the model's "
                              "'dwpose quantize' file (<model>.int8.onnx); ONNX Runtime runs "
                              "the file's own precision. On the CPU, auto runs that INT8 file "
                              "instead where its precision gate passed on this CPU; int8 "
                              "runs it anyway (default: %(default)s)")
    runtime.add_argument("--threads", type=threads, default=0, metavar="N",
                         help="ONNX Runtime intra-op / OpenVINO inference threads, 0 = one "
                              "per core, at most the number of cores (default: 0)")

    det = parser.add_argument_group("detector")
    add_detector_file_args(det)
    det.add_argument("--score-thr", type=fraction, default=0.3,
                     help="person score threshold (official: %(default)s)")
    det.add_argument("--nms-thr", type=fraction, default=0.45,
                     help="NMS IoU threshold of a raw YOLOX detector (official: %(default)s); "
                          "end2end detectors run the NMS inside their graph")
    det.add_argument("--det-interval", type=positive_int, metavar="N",
                     help="run the detector every N frames; in between, boxes follow the "
                          "previous keypoints (default: 1 for files, 7 for cameras)")


def add_detector_file_args(group) -> None:
    """``--det-size`` / ``--det-norm``: what an end2end detector file may leave open."""
    group.add_argument("--det-size", type=positive_int, metavar="S",
                       help="input size S (SxS) of a detector whose file leaves it symbolic "
                            "(default: its registry entry, else 640)")
    group.add_argument("--det-norm", choices=("yolox", "rtmdet"),
                       help="input normalisation of an end2end detector: yolox = BGR 0-255, "
                            "rtmdet = BGR mean/std (default: what the file says: its "
                            "pipeline.json, registry entry or head names)")


def runs_on_gpu(backend: str, device: str) -> bool:
    """Whether ``--backend`` / ``--device`` put the models on a CUDA GPU of this machine."""
    return choose_backend(backend, device).on_gpu


def resolve_backend(args: argparse.Namespace, pose: str | None = None) -> BackendChoice:
    """Settle ``--backend auto`` (and the device and precision it implies) in ``args``;
    given the pose model, its gated INT8 file may take its place (``choice.pose_file``)."""
    choice = choose_backend(args.backend, args.device, args.precision, pose=pose)
    args.backend, args.device, args.precision = choice.name, choice.device, choice.precision
    return choice


def resolve_models(args: argparse.Namespace) -> tuple[str, str]:
    """The detector and pose files; a model not given is the default pair's for where the
    models run (named on stderr)."""
    from engines.hub import default_models, resolve_model

    on_gpu = runs_on_gpu(args.backend, args.device)
    defaults = default_models(on_gpu)
    if args.det is None or args.pose is None:
        where = "on a GPU" if on_gpu else "on the CPU"
        chosen = [f"{stage} {defaults[stage]}" for stage, given in
                  (("detector", args.det), ("pose", args.pose)) if not given]
        print(f"dwpose: models {where}: default {' and '.join(chosen)} (choose with "
              "--det / --pose, 'dwpose fetch --list')", file=sys.stderr)
    paths = []
    for stage, spec in (("detector", args.det), ("pose", args.pose)):
        paths.append(str(resolve_model(spec or defaults[stage], stage,
                                       cache_dir=args.cache_dir,
                                       download=not args.no_download)))
    return paths[0], paths[1]


def backend_options(args: argparse.Namespace) -> dict:
    """The options of ``--backend``'s runtime; a ``UserError`` for options it cannot use."""
    if args.backend != "torch" and (args.pose_arch or args.pose_input_size):
        raise UserError("--pose-arch / --pose-input-size describe a .pth checkpoint, which only "
                        "--backend torch loads")
    if args.backend == "onnxruntime":
        if args.precision != "auto":
            raise UserError("--precision applies to --backend torch, tensorrt and openvino; "
                            "ONNX Runtime runs the model file's own precision")
        return {"device": args.device, "threads": args.threads}
    if args.backend == "openvino":
        return {"device": args.device, "precision": args.precision, "threads": args.threads}
    if args.backend == "torch":
        from trainer.deploy import checkpoint_loader

        return {"device": args.device, "precision": args.precision,
                "checkpoint": checkpoint_loader(args.pose_arch, args.pose_input_size)}
    return {"precision": "fp16" if args.precision == "auto" else args.precision}  # tensorrt


def pipeline_from_args(args: argparse.Namespace, live: bool,
                       throughput: bool = False) -> WholeBody:
    """Build the pipeline the options describe; live sources track between detections. Once
    the models are loaded, one start-up line on stderr names the backend (why, and the CPU's
    features) and the models; a failure before that is its own one line.

    ``throughput``: the frames may run side by side (a video or folder with ``--pipeline``
    auto or throughput): a CPU runtime is loaded with several streams
    (``engines.throughput``)."""
    choose_backend(args.backend, args.device, args.precision)  # bad options: before downloads
    det_path, pose_path = resolve_models(args)
    choice = resolve_backend(args, pose_path)
    if choice.warning:
        print(f"dwpose: warning: {choice.warning}", file=sys.stderr)
    pose_path = choice.pose_file or pose_path
    options = backend_options(args)
    interval = args.det_interval or (7 if live else 1)
    if (throughput and not live and not choice.on_gpu
            and args.backend in ("onnxruntime", "openvino")):
        options["streams"] = 0
    pipeline = build_pipeline(det_path, pose_path, backend=args.backend, det_interval=interval,
                              whole_image_fallback=not live, score_thr=args.score_thr,
                              nms_thr=args.nms_thr, det_size=args.det_size,
                              det_norm=args.det_norm, cache_dir=args.cache_dir, **options)
    print(f"dwpose: {choice.describe()}; {pipeline.describe()}", file=sys.stderr)
    return pipeline
