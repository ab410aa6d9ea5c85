"""Benchmark harness: our pipeline against rtmlib and MediaPipe Holistic, and against the floor.

Same machine, same run, same looped input videos, same YOLOX detector and the same pose ONNX
for ours and rtmlib, same detector interval. Every contender runs in its own fresh process
(``benchmarks/peers/*_runner.py`` around one shared measurement loop, decode and drawing
included); the peers run in their own virtual environment (``.bench-venv``: rtmlib,
``mediapipe==0.10.14``, our ONNX Runtime and OpenVINO versions), created on first use.

Contenders:

- ours, once per ``--ours`` spec ``BACKEND[:PRECISION]`` (default ``auto``: what ``dwpose
  predict`` picks on this machine; e.g. ``onnxruntime``, ``openvino:bf16``, ``openvino:int8``).
  An ``int8`` spec runs INT8 files of both models made here with ``dwpose quantize``
  (calibrated on the case's video, the pose crops found by the detector).
- rtmlib, once per ``--rtmlib-backends`` runtime (``onnxruntime``, ``openvino``: rtmlib's own
  settings for each; OpenVINO then runs at the CPU's default precision, BF16 where it has it),
  on the FP32 files. It keeps the person class only, so everyone processes the same persons.
- the model-only floor of every ours spec: its two models alone, same runtime and precision,
  at the same detector interval on the same crops.
- MediaPipe Holistic, for reference (its own models, one person).

Runs are interleaved (ours, rtmlib, floor, ours, ...) and each ratio is taken between
neighbouring runs, so a machine shared with other work skews both sides alike. "best rtmlib"
is, per repeat, the faster of rtmlib's runtimes.

Pose models: ``--pose m l`` exports DWPose-m (256x192) and DWPose-l (384x288) shaped models with
``dwpose export`` (random weights; the released files from ``dwpose fetch`` are used instead
when cached), their outputs declared with the symbolic keypoint axis of the upstream SDK
exports. Random weights give near-zero SimCC logits, so every keypoint would score 0 and
both trackers would re-detect on every frame: the harness adds a fixed SimCC template to the
outputs (one Add per output, a person-shaped layout of confident keypoints spanning 64% of the
crop), which keeps tracked boxes stable and makes drawing draw everything. Speed is what is
measured; the keypoints mean nothing.

Writes the results as JSON, prints the machine (CPU features, versions) and tables with the
ratios, and saves a plot (matplotlib PNG).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / "benchmarks" / "peers"
sys.path.insert(0, str(ROOT))

#: The default inputs: real files under shared/data, found as the tests find them (in
#: ../shared, the model cache or downloaded; tests/realdata.py).
DEFAULT_VIDEOS = ("video/single_person_dance.mp4", "video/street_multi_person.mp4")
DEFAULT_DET = "models/yolox_nano.onnx"
#: Pose shapes: --pose name -> (arch, "HxW", released names tried in the model cache first).
POSE_SHAPES = {"m": ("m", "256x192", ("dwpose-m_256x192",)),
               "l": ("l", "384x288", ("dw-ll_ucoco_384", "dwpose-l_384x288"))}
PEER_PACKAGES = ("rtmlib==0.0.16", "mediapipe==0.10.14")
CONTENDERS = ("ours", "rtmlib", "mediapipe")
RTMLIB_BACKENDS = ("onnxruntime", "openvino")
RUNNERS = {"ours": "ours_runner.py", "floor": "ours_runner.py",
           "rtmlib": "rtmlib_runner.py", "mediapipe": "mediapipe_runner.py"}
#: The symbolic keypoint axis the upstream SDK exports declare (COMPAT section 1).
KEYPOINT_AXIS = "MatMulsimcc_x_dim_1"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--videos", nargs="+", metavar="VIDEO",
                   help="input videos, looped (default: the two real test videos, "
                        "../shared/data/video/*.mp4)")
    p.add_argument("--det", help="YOLOX ONNX (default: the real YOLOX-Nano, "
                                 "../shared/data/models/yolox_nano.onnx or 'dwpose fetch "
                                 "yolox_nano')")
    p.add_argument("--pose", nargs="+", default=["m", "l"], metavar="M",
                   help="pose models: m, l (exported or released, see above) or .onnx paths "
                        "(default: m l)")
    p.add_argument("--intervals", nargs="+", type=int, default=[1, 7], metavar="N",
                   help="detector intervals (default: 1 7)")
    p.add_argument("--cases", nargs="+", metavar="VIDEO:POSE:N",
                   help="explicit cases instead of videos x poses x intervals, e.g. "
                        "single_person_dance.mp4:l:7 (a video path or a default video's name)")
    p.add_argument("--contenders", nargs="+", default=list(CONTENDERS), choices=CONTENDERS)
    p.add_argument("--ours", nargs="+", default=["auto"], metavar="BACKEND[:PRECISION]",
                   help="our configurations, e.g. auto onnxruntime openvino:bf16 "
                        "openvino:int8 onnxruntime:int8 (default: auto)")
    p.add_argument("--rtmlib-backends", nargs="+", default=list(RTMLIB_BACKENDS),
                   choices=RTMLIB_BACKENDS, help="rtmlib's runtimes (default: both)")
    p.add_argument("--pipeline", default="auto",
                   choices=("auto", "serial", "overlap", "throughput"),
                   help="our pipeline (default: auto, as dwpose predict on a video: several "
                        "frames in flight; serial or overlap for a camera's latency)")
    p.add_argument("--frames", type=int, default=150, help="frames measured per run")
    p.add_argument("--warmup", type=int, default=10, help="frames run first, not measured")
    p.add_argument("--repeats", type=int, default=2, help="interleaved runs per contender")
    p.add_argument("--no-draw", action="store_true", help="leave drawing out for everyone")
    p.add_argument("--work-dir", type=Path, default=ROOT / "out" / "bench",
                   help="exported models and per-run JSON (default: out/bench)")
    p.add_argument("--venv", type=Path, default=ROOT / ".bench-venv",
                   help="the peers' virtual environment (default: .bench-venv)")
    p.add_argument("--json", type=Path, default=None,
                   help="results file (default: WORK_DIR/compare.json)")
    p.add_argument("--from-json", type=Path, metavar="RESULTS.json",
                   help="run nothing: print the tables and plot of an earlier results file")
    p.add_argument("--plot", type=Path, default=ROOT / "docs" / "perf.png",
                   help="plot to write (default: docs/perf.png)")
    return p.parse_args(argv)


def real_input(path: str, option: str) -> str:
    """The real file ``path`` (under shared/data), or exit with one line saying where it was
    looked for and how to get it, ``option`` included."""
    from tests.realdata import Missing, resolve

    try:
        return str(resolve(path))
    except Missing as exc:
        raise SystemExit(f"{exc}; or pass {option}") from None


def check_inputs(videos: list[str], det: str, poses: list[str] = ()) -> None:
    """Exit with one line naming the first input file given that does not exist."""
    for what, path in ([("input video", v) for v in videos] + [("--det", det)]
                       + [("--pose", p) for p in poses if p not in POSE_SHAPES]):
        if not Path(path).is_file():
            raise SystemExit(f"{what} {path}: no such file")


def ensure_venv(venv: Path) -> Path:
    """The peers' interpreter; creates the venv (rtmlib, mediapipe, our ORT and OpenVINO
    versions) when needed."""
    import onnxruntime
    import openvino

    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    ov_version = openvino.__version__.split("-")[0]
    wanted = (f"onnxruntime=={onnxruntime.__version__}", f"openvino=={ov_version}")
    check = ("import importlib.metadata as m, rtmlib, mediapipe, openvino; "
             f"assert m.version('onnxruntime') == '{onnxruntime.__version__}'; "
             f"assert m.version('openvino') == '{ov_version}'; "
             "assert m.version('mediapipe') == '0.10.14'")
    if python.exists() and subprocess.run([str(python), "-c", check],
                                          capture_output=True).returncode == 0:
        return python
    print(f"creating {venv} ({', '.join(PEER_PACKAGES + wanted)}) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *wanted, *PEER_PACKAGES],
                   check=True)
    subprocess.run([str(python), "-c", check], check=True)
    return python


def add_simcc_template(src: Path, dst: Path, span: float = 0.64, peak: float = 0.9) -> None:
    """Copy of ``src`` whose SimCC outputs get a fixed keypoint layout added (see module doc).

    Keypoints spread over the central ``span`` of the crop: the tracker's box around them,
    grown 1.25x, is then the box the crop was made from (the crop is the box padded 1.25x).
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    rng = np.random.default_rng(0)
    for out in graph.output:
        _, k, bins = (d.dim_value for d in out.type.tensor_type.shape.dim)
        k = k or 133  # a symbolic keypoint axis (an upstream graph): the whole-body count
        raw = out.name + "_raw"
        for node in graph.node:
            node.output[:] = [raw if o == out.name else o for o in node.output]
        pos = np.linspace((1 - span) / 2, (1 + span) / 2, k)
        rng.shuffle(pos)
        template = np.zeros((1, k, bins), np.float32)
        template[0, np.arange(k), np.round(pos * (bins - 1)).astype(int)] = peak
        graph.initializer.append(numpy_helper.from_array(template, out.name + "_template"))
        graph.node.append(helper.make_node("Add", [raw, out.name + "_template"], [out.name]))
        out.type.tensor_type.shape.dim[1].dim_param = KEYPOINT_AXIS  # as upstream declares it
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))


def pose_model(spec: str, work_dir: Path) -> Path:
    """A pose ONNX for ``spec``: a path, a cached release, or an export made here."""
    if spec not in POSE_SHAPES:
        return Path(spec)
    from engines.hub import cached_path

    arch, size, releases = POSE_SHAPES[spec]
    for name in releases:
        if cached_path(name).is_file():
            return cached_path(name)
    bench = work_dir / f"dwpose-{arch}_{size}-bench.onnx"
    if not bench.exists():
        random = work_dir / f"dwpose-{arch}_{size}-random.onnx"
        if not random.exists():
            print(f"exporting {random.name} (random weights) ...", flush=True)
            subprocess.run([sys.executable, "-m", "app.cli", "export", "--arch", arch,
                            "--input-size", size, "--output", str(random)], check=True, cwd=ROOT)
        add_simcc_template(random, bench)
    return bench


@dataclass(frozen=True)
class Contender:
    """One contender of a case: its label in the tables, its runner and the runner's options;
    ``int8``: it runs the INT8 files of both models."""

    label: str
    runner: str  # a key of RUNNERS
    options: tuple[str, ...] = ()
    int8: bool = False


def contenders_for(args: argparse.Namespace) -> list[Contender]:
    """The top-down contenders of every case, in their interleaving order."""
    ours, floors = [], []
    if "ours" in args.contenders:
        for spec in args.ours:
            backend, _, precision = spec.partition(":")
            options = ("--backend", backend, "--precision", precision or "auto",
                       "--pipeline", args.pipeline)
            suffix = "" if spec == args.ours[0] else f"[{spec}]"
            ours.append(Contender(f"ours{suffix}", "ours", options, precision == "int8"))
            floors.append(Contender(f"floor{suffix}", "floor", options, precision == "int8"))
    peers = [Contender(f"rtmlib[{b}]", "rtmlib", ("--backend", b))
             for b in args.rtmlib_backends] if "rtmlib" in args.contenders else []
    return ours + peers + floors


def int8_models(det: str, pose: Path, video: str, work_dir: Path) -> tuple[str, Path]:
    """INT8 files of both models (``dwpose quantize --runtime openvino --plain``: NNCF's QDQ
    file, calibrated on ``video``), made once. For speed: the bench models' weights are
    random, so the precision gate's verdict (exit status 1 when it fails) says nothing here."""
    tag = Path(video).stem
    det_int8 = work_dir / f"{Path(det).stem}.{tag}.int8.onnx"
    pose_int8 = work_dir / f"{pose.stem}.{tag}.int8.onnx"
    for src, dst, extra in ((Path(det), det_int8, []), (pose, pose_int8, ["--det", det])):
        if not dst.exists():
            print(f"quantizing {src.name} on {Path(video).name} ...", flush=True)
            proc = subprocess.run([sys.executable, "-m", "app.cli", "quantize", "--onnx",
                                   str(src), "--images", video, "--output", str(dst),
                                   "--runtime", "openvino", "--plain", *extra], cwd=ROOT,
                                  capture_output=True, text=True)
            if proc.returncode not in (0, 1) or not dst.exists():
                raise SystemExit(f"quantizing {src} failed:\n{proc.stderr[-3000:]}")
    return str(det_int8), pose_int8


def run_one(python: Path, contender: Contender, video: str, det: str, pose: Path,
            interval: int, args: argparse.Namespace) -> dict:
    """One contender in a fresh process; returns its summary."""
    with tempfile.NamedTemporaryFile(suffix=".json", dir=args.work_dir, delete=False) as f:
        out = Path(f.name)
    cmd = [str(python), str(PEERS / RUNNERS[contender.runner]), "--video", video, "--det", det,
           "--pose", str(pose), "--interval", str(interval), "--frames", str(args.frames),
           "--warmup", str(args.warmup), "--json", str(out), *contender.options]
    cmd += ["--floor"] if contender.runner == "floor" else []
    cmd += ["--no-draw"] if args.no_draw else []
    ours = contender.runner in ("ours", "floor")
    env = dict(os.environ, PYTHONPATH=str(ROOT)) if ours else None
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{contender.label} failed on {video}:\n{proc.stderr[-3000:]}")
    summary = json.loads(out.read_text())
    out.unlink()
    return summary


def machine() -> dict:
    """The CPU (its features, as ``--backend auto`` sees them), the load and the versions."""
    import cv2
    import onnxruntime

    from benchmarks.peers.harness import load_average
    from engines.cpu import cpu_info

    cpu = cpu_info()
    info = {"cpu": cpu.name, "isa": cpu.features(), "cores": cpu.cores,
            "python": platform.python_version(), "numpy": np.__version__,
            "opencv": cv2.__version__, "onnxruntime": onnxruntime.__version__,
            "load_avg": load_average()}
    try:
        import openvino

        info["openvino"] = openvino.__version__.split("-")[0]
    except ImportError:
        pass
    return info


def format_machine(info: dict, command: str = "") -> str:
    versions = ", ".join(f"{k} {info[k]}" for k in ("python", "numpy", "opencv", "onnxruntime",
                                                      "openvino", "rtmlib") if k in info)
    load = info["load_avg"]
    text = (f"CPU {info['cpu']}, {info['cores']} cores, {info['isa']}; {versions}; load "
            f"average {'n/a' if load is None else f'{load:.1f}'} at the start")
    return text + (f"\ncommand: {command}" if command else "")


def case_list(args: argparse.Namespace) -> list[tuple[str, str, int]]:
    """(video, pose spec, interval) of every case, from --cases or the cross product."""
    if not args.cases:
        videos = args.videos or [real_input(v, "--videos CLIP.mp4") for v in DEFAULT_VIDEOS]
        return [(v, p, n) for v in videos for p in args.pose for n in args.intervals]
    by_name = {Path(v).name: v for v in DEFAULT_VIDEOS}
    cases = []
    for text in args.cases:
        video, pose, interval = text.rsplit(":", 2)
        if video in by_name:
            video = real_input(by_name[video], "a video path in --cases")
        cases.append((video, pose, int(interval)))
    return cases


def run_case(python: Path, video: str, det: str, pose: Path, interval: int,
             contenders: list[Contender], args: argparse.Namespace) -> dict:
    """Interleaved repeats of every contender on one case, and the ratios between them."""
    runs: dict[str, list[dict]] = {c.label: [] for c in contenders}
    int8 = int8_models(det, pose, video, args.work_dir) if any(c.int8 for c in contenders) \
        else None
    for _ in range(args.repeats):
        for c in contenders:
            interp = Path(sys.executable) if c.runner in ("ours", "floor") else python
            files = int8 if c.int8 else (det, pose)
            runs[c.label].append(run_one(interp, c, video, *files, interval, args))
            fps = runs[c.label][-1]["fps"]
            print(f"  {c.label:<26}{fps:7.1f} FPS", flush=True)
    case = {"video": Path(video).name, "pose": pose.name, "interval": interval,
            "runs": runs, "summary": {label: _median(r) for label, r in runs.items()},
            "ratios": ratios(runs, [c for c in contenders if c.runner == "ours"],
                             [c.label for c in contenders if c.runner == "rtmlib"])}
    return case


def ratios(runs: dict[str, list[dict]], ours: list[Contender], peers: list[str]) -> dict:
    """Per ours configuration: its FPS over each peer's and over the best peer's of the same
    repeat, and its frame time over its floor's; medians over the repeats."""
    out = {}
    for c in ours:
        mine = runs[c.label]
        r = {f"over {peer}": statistics.median(o["fps"] / p["fps"]
                                               for o, p in zip(mine, runs[peer]))
             for peer in peers}
        if peers:
            r["over best rtmlib"] = statistics.median(
                o["fps"] / max(runs[peer][i]["fps"] for peer in peers)
                for i, o in enumerate(mine))
        floor = runs.get(c.label.replace("ours", "floor", 1))
        if floor:
            r["over floor"] = statistics.median((1e3 / o["fps"]) / f["floor_ms"]["mean"]
                                                for o, f in zip(mine, floor))
        out[c.label] = r
    return out


def _median(runs: list[dict]) -> dict:
    """Per-metric median over repeats (nested dicts too)."""
    def med(values):
        if isinstance(values[0], dict):
            return {k: med([v[k] for v in values]) for k in values[0]}
        if isinstance(values[0], (int, float)) and not isinstance(values[0], bool):
            return statistics.median(values)
        return values[0]
    return med(runs)


def _runtime(v: dict) -> str:
    """What a contender ran: backend and precision (rtmlib: its backend, default precision)."""
    if "backend" not in v:
        return "own models"
    if v.get("contender") == "rtmlib":
        return f"{v['backend']} default"
    overlapped = v.get("pipeline") == "overlapped" and v.get("contender") == "ours"
    return f"{v['backend']} {v['precision']}" + (" overlap" if overlapped else "")


def format_tables(cases: list[dict]) -> str:
    """The main table (one row per contender and case) and the stage breakdown. The last
    column: ours over the best rtmlib (ours rows), the first ours over that peer (peer rows),
    the frame time over the floor's (floor rows)."""
    head = (f"{'case':<40}{'contender':<26}{'runtime':<22}{'FPS':>7}{'med ms':>8}{'p90 ms':>8}"
            f"{'cores':>7}{'RSS MB':>8}{'pers':>6}{'det':>6}{'ratio':>8}")
    lines = [head, "-" * len(head)]
    stage_lines = []
    for case in cases:
        name = f"{case['video'][:20]} {case['pose'][:12]} i={case['interval']}"
        s, r = case["summary"], case["ratios"]
        first = next((label for label in r), None)
        for c, v in s.items():
            if c.startswith("floor"):
                ratio = r.get(c.replace("floor", "ours", 1), {}).get("over floor")
                lines.append(f"{name:<40}{c:<26}{_runtime(v):<22}{v['fps']:>7.1f}"
                             f"{v['floor_ms']['median']:>8.1f}{'':>8}{'':>7}{v['rss_mb']:>8.0f}"
                             f"{'':>6}{'':>6}{'' if ratio is None else f'{ratio:.2f}':>8}")
                continue
            ratio = r[c].get("over best rtmlib") if c in r else (
                r.get(first, {}).get(f"over {c}") if first else None)
            lines.append(f"{name:<40}{c:<26}{_runtime(v):<22}{v['fps']:>7.1f}"
                         f"{v['latency_ms']['median']:>8.1f}{v['latency_ms']['p90']:>8.1f}"
                         f"{v['cores_used']:>7.2f}{v['peak_rss_mb']:>8.0f}{v['persons']:>6.1f}"
                         f"{v['detector_runs']:>6.2f}"
                         f"{'' if ratio is None else f'{ratio:.2f}':>8}")
            stage_lines.append(f"{name:<40}{c:<26}" + "".join(
                f"{v['stages_ms'][st]:>9.1f}" for st in v["stages_ms"]))
    stages = next((v["stages_ms"] for c in cases for k, v in c["summary"].items()
                   if not k.startswith("floor")), {})
    stage_head = f"{'case':<40}{'contender':<26}" + "".join(f"{st:>9}" for st in stages)
    return "\n".join(lines + ["", "mean ms per frame by stage", stage_head] + stage_lines)


def _arch(case: dict) -> str:
    """Short pose model label: "m" for dwpose-m_256x192-bench.onnx, else the file stem."""
    stem = case["pose"].split("_")[0]
    return stem.removeprefix("dwpose-")


def plot(cases: list[dict], path: Path) -> None:
    """FPS of every contender per case and our stage breakdown against rtmlib's: a small PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=80)
    labels = [f"{c['video'].split('_')[0]}\n{_arch(c)} i={c['interval']}" for c in cases]
    names = list(dict.fromkeys(n for c in cases for n in c["summary"]))
    cmap = plt.get_cmap("tab10")
    width = 0.8 / len(names)
    for j, n in enumerate(names):
        fps = [c["summary"][n]["fps"] if n in c["summary"] else 0 for c in cases]
        ax1.bar(np.arange(len(cases)) + j * width, fps, width, color=cmap(j % 10),
                label=n.replace("floor", "models alone (floor)", 1) if n.startswith("floor")
                else n)
    ax1.set_xticks(np.arange(len(cases)) + 0.4 - width / 2, labels, fontsize=7)
    ax1.set_ylabel("end-to-end FPS")
    ax1.legend(fontsize=6)
    ax1.set_title("throughput (higher is better)", fontsize=9)
    shown = [n for n in names if n == "ours" or n.startswith("rtmlib")]
    pairs = [(c, n) for c in cases for n in shown if n in c["summary"]]
    bottom = np.zeros(len(pairs))
    stages = list(pairs[0][0]["summary"][pairs[0][1]]["stages_ms"]) if pairs else []
    for k, st in enumerate(stages):
        ms = np.array([c["summary"][n]["stages_ms"][st] for c, n in pairs])
        ax2.bar(np.arange(len(pairs)), ms, 0.7, bottom=bottom, label=st, color=cmap(k))
        bottom += ms
    ax2.set_xticks(np.arange(len(pairs)),
                   ["\n".join([*n.replace("[", " [").split(" "), f"{_arch(c)} i={c['interval']}"])
                    for c, n in pairs], fontsize=5)
    ax2.set_ylabel("mean ms per frame")
    ax2.legend(fontsize=6, ncol=2)
    ax2.set_title("where the time goes", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    from engines.files import write_file

    args = parse_args(argv)
    if args.from_json:
        report = json.loads(args.from_json.read_text())
        print(format_machine(report["machine"], report.get("command", "")))
        print(format_tables(report["cases"]))
        plot(report["cases"], args.plot)
        return 0
    cases_given = case_list(args)
    args.det = args.det or real_input(DEFAULT_DET, "--det YOLOX.onnx")
    check_inputs([v for v, _, _ in cases_given], args.det, [p for _, p, _ in cases_given])
    args.work_dir.mkdir(parents=True, exist_ok=True)
    peers = [c for c in args.contenders if c != "ours"]
    python = ensure_venv(args.venv) if peers else Path(sys.executable)
    info = machine()
    print(format_machine(info), flush=True)
    cases = []
    top_down = contenders_for(args)
    for video, spec, interval in cases_given:
        pose = pose_model(spec, args.work_dir)
        print(f"{Path(video).name}, {pose.name}, detector every {interval}", flush=True)
        cases.append(run_case(python, video, args.det, pose, interval, top_down, args))
    mediapipe_videos = dict.fromkeys(v for v, _, _ in cases_given)
    for video in mediapipe_videos if "mediapipe" in args.contenders else ():
        print(f"{Path(video).name}, MediaPipe Holistic", flush=True)
        mp = run_case(python, video, args.det, Path(), 1, [Contender("mediapipe", "mediapipe")],
                      args)
        for case in cases:
            if case["video"] == Path(video).name:
                case["summary"]["mediapipe"] = mp["summary"]["mediapipe"]
                case["runs"]["mediapipe"] = mp["runs"]["mediapipe"]
                for label, r in case["ratios"].items():
                    r["over mediapipe"] = (case["summary"][label]["fps"]
                                           / mp["summary"]["mediapipe"]["fps"])
    info.update(rtmlib=next((v["version"] for c in cases for k, v in c["summary"].items()
                             if k.startswith("rtmlib")), None))
    command = " ".join(["python benchmarks/compare.py", *(argv if argv is not None
                                                           else sys.argv[1:])])
    report = {"machine": info, "command": command, "frames": args.frames,
              "repeats": args.repeats, "draw": not args.no_draw, "det": Path(args.det).name,
              "cases": cases}
    out = args.json or args.work_dir / "compare.json"
    write_file(out, json.dumps(report, indent=2), "comparison")
    print(format_machine(info, command))
    print(format_tables(cases))
    plot(cases, args.plot)
    print(f"wrote {out} and {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
