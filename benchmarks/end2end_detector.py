"""The end2end detector family measured with real weights: a raw YOLOX file turned end2end.

No mmdeploy end2end detector (YOLOX HumanArt, RTMDet-nano person) exists on this machine, so
this builds one the way mmdeploy exports them: the raw YOLOX graph followed, inside the same
graph, by the grid decode, the person score (objectness x class 0), ``NonMaxSuppression``, a
score sort and the ``dets`` [1, N, 5] / ``labels`` [1, N] outputs (COMPAT section 1), one class
as the HumanArt detectors have. Its boxes are checked against our raw YOLOX pipeline on the same
weights, then both files go through ``dwpose bench`` with the same pose model, so the FPS of the
two detector families is compared on one machine in one run::

    python benchmarks/end2end_detector.py --det yolox_nano.onnx --pose dw-m.onnx \\
        --input single_person_dance.mp4 --backend onnxruntime openvino
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from engines.detectors.yolox import anchor_grid  # noqa: E402
from engines.errors import ModelError  # noqa: E402


def wrap_end2end(raw: str | Path, output: str | Path, iou_thr: float = 0.45,
                 score_thr: float = 0.3, max_boxes: int = 100) -> Path:
    """Write ``output``: the raw YOLOX graph ``raw`` with decode + NMS appended (end2end I/O).

    The input is renamed ``input``; ``dets`` holds x1, y1, x2, y2 (network pixels) and the
    person score, best first; ``labels`` is 0 for every box. The NMS keeps boxes whose person
    score is above ``score_thr`` and whose IoU with a better one is at most ``iou_thr``.
    """
    model = onnx.load(str(raw))
    graph = model.graph
    if len(graph.input) != 1 or len(graph.output) != 1:
        raise ModelError(f"{raw}: not a raw YOLOX export (one input, one output)")
    dims = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    if len(dims) != 4 or dims[2] != dims[3] or dims[2] <= 0:
        raise ModelError(f"{raw}: input {dims} is not a static square [1,3,S,S]")
    grid, strides = anchor_grid(dims[2])
    old_in, head = graph.input[0].name, graph.output[0].name
    for node in graph.node:
        node.input[:] = ["input" if name == old_in else name for name in node.input]
    graph.input[0].name = "input"
    del graph.output[:]

    def const(name: str, value) -> str:
        graph.initializer.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op: str, inputs: list[str], output: str, **attrs) -> str:
        graph.node.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    def columns(start: int, end: int, name: str) -> str:  # raw[:, :, start:end]
        return node("Slice", [head, const(f"{name}_s", np.array([start], np.int64)),
                              const(f"{name}_e", np.array([end], np.int64)),
                              const(f"{name}_a", np.array([2], np.int64))], name)

    grid_c = const("e2e_grid", grid[None])                    # [1, N, 2]
    stride_c = const("e2e_stride", strides[None])             # [1, N, 1]
    xy = node("Mul", [node("Add", [columns(0, 2, "e2e_pxy"), grid_c], "e2e_xy0"), stride_c],
              "e2e_xy")
    half = node("Mul", [node("Mul", [node("Exp", [columns(2, 4, "e2e_pwh")], "e2e_ewh"),
                                     stride_c], "e2e_wh"),
                        const("e2e_half", np.array(0.5, np.float32))], "e2e_halfwh")
    boxes = node("Concat", [node("Sub", [xy, half], "e2e_x1y1"),
                            node("Add", [xy, half], "e2e_x2y2")], "e2e_boxes", axis=2)
    score = node("Mul", [columns(4, 5, "e2e_obj"), columns(5, 6, "e2e_cls0")], "e2e_score")
    selected = node("NonMaxSuppression", [
        boxes, node("Transpose", [score], "e2e_nms_scores", perm=[0, 2, 1]),
        const("e2e_max", np.array([max_boxes], np.int64)),
        const("e2e_iou", np.array([iou_thr], np.float32)),
        const("e2e_thr", np.array([score_thr], np.float32))], "e2e_selected")  # [M, 3]
    flat = const("e2e_flat", np.array([-1], np.int64))
    picked = node("Reshape", [node("Gather", [selected, const("e2e_col2", np.array([2]))],
                                   "e2e_idx2", axis=1), flat], "e2e_idx")              # [M]
    kept = node("Reshape", [node("Gather", [score, picked], "e2e_kept3", axis=1),
                            const("e2e_row", np.array([1, -1], np.int64))], "e2e_kept")  # [1, M]
    sorted_scores = "e2e_sorted"
    graph.node.append(helper.make_node("TopK", [kept, node("Shape", [picked], "e2e_m")],
                                       [sorted_scores, "e2e_order"], axis=1))
    order = node("Gather", [picked, node("Reshape", ["e2e_order", flat], "e2e_order1")],
                 "e2e_final")                                                     # [M]
    final_boxes = node("Gather", [boxes, order], "e2e_final_boxes", axis=1)       # [1, M, 4]
    node("Concat", [final_boxes, node("Unsqueeze", [sorted_scores], "e2e_s3", axes=[2])
                    if model.opset_import[0].version < 13 else
                    node("Unsqueeze", [sorted_scores, const("e2e_ax2", np.array([2]))],
                         "e2e_s3")], "dets", axis=2)
    node("Cast", [node("Mul", [sorted_scores, const("e2e_zero", np.array(0, np.float32))],
                       "e2e_zeros")], "labels", to=onnx.TensorProto.INT64)
    graph.output.extend([
        helper.make_tensor_value_info("dets", onnx.TensorProto.FLOAT, [1, "num_dets", 5]),
        helper.make_tensor_value_info("labels", onnx.TensorProto.INT64, [1, "num_dets"])])
    onnx.checker.check_model(model)
    output = Path(output)
    onnx.save(model, str(output))
    return output


def _bench(det: Path, args: argparse.Namespace, backend: str, out: Path) -> dict:
    cmd = [sys.executable, "-m", "app.cli", "bench", "-i", str(args.input), "--det", str(det),
           "--pose", str(args.pose), "--backend", backend, "--det-interval", "1",
           "--frames", str(args.frames), "--pipeline", "serial", "--det-norm", "yolox",
           "--json", str(out)]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if run.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({run.returncode}):\n{run.stderr.strip()}")
    return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--det", type=Path, required=True, help="a raw YOLOX .onnx (real weights)")
    p.add_argument("--pose", type=Path, required=True, help="the pose .onnx for both runs")
    p.add_argument("--input", type=Path, required=True, help="video to run on")
    p.add_argument("--backend", nargs="+", default=["onnxruntime"],
                   help="runtimes to measure (default: onnxruntime)")
    p.add_argument("--frames", type=int, default=100, help="frames per run (default: 100)")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default: 2)")
    args = p.parse_args(argv)
    for path in (args.det, args.pose, args.input):
        if not path.is_file():
            print(f"error: {path}: not found", file=sys.stderr)
            return 2
    from benchmarks.compare import format_machine, machine

    print(format_machine(machine(), " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])])))
    with tempfile.TemporaryDirectory() as tmp:
        e2e = wrap_end2end(args.det, Path(tmp) / f"{args.det.stem}_end2end.onnx")
        rows: dict[tuple[str, str], list[float]] = {}
        for _round in range(args.rounds):
            for backend in args.backend:
                for family, det in (("raw YOLOX", args.det), ("end2end", e2e)):
                    result = _bench(det, args, backend, Path(tmp) / "bench.json")
                    serial = result["pipelines"]["serial"]
                    rows.setdefault((backend, family), []).append(
                        (serial["fps"], serial["stages"]["detector"]["median_ms"]))
    print(f"{'runtime':<12} {'detector family':<16} {'FPS (median)':>12} {'detector ms':>12}")
    for (backend, family), runs in rows.items():
        fps = float(np.median([r[0] for r in runs]))
        det_ms = float(np.median([r[1] for r in runs]))
        print(f"{backend:<12} {family:<16} {fps:>12.1f} {det_ms:>12.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
