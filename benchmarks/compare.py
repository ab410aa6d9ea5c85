"""Benchmark harness: our pipeline against rtmlib and MediaPipe Holistic, and against the floor.

Same machine, same run, same looped input videos, same YOLOX detector and the same pose ONNX
for ours and rtmlib, same detector interval. Every contender runs in its own fresh process
(``benchmarks/peers/*_runner.py`` around one shared measurement loop, decode and drawing
included); the peers run in their own virtual environment (``.bench-venv``: rtmlib,
``mediapipe==0.10.14`` and our ONNX Runtime version), created on first use. The model-only
floor (the two models' own inference time per frame at the same detector interval) is measured
in the same run. Runs are interleaved (ours, rtmlib, floor, ours, ...) and each ratio is taken
between neighbouring runs, so a machine shared with other work skews both sides alike.

Pose models: ``--pose m l`` exports DWPose-m (256x192) and DWPose-l (384x288) shaped models with
``dwpose export`` (random weights; the released files from ``dwpose fetch`` are used instead
when cached). Random weights give near-zero SimCC logits, so every keypoint would score 0 and
both trackers would re-detect on every frame: the harness adds a fixed SimCC template to the
outputs (one Add per output, a person-shaped layout of confident keypoints spanning 64% of the
crop), which keeps tracked boxes stable and makes drawing draw everything. Speed is what is
measured; the keypoints mean nothing.

Writes the results as JSON, prints tables with the ratios and saves a plot (matplotlib PNG).
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
PEER_PACKAGES = ("rtmlib", "mediapipe==0.10.14")
CONTENDERS = ("ours", "rtmlib", "mediapipe")
RUNNERS = {"ours": "ours_runner.py", "floor": "ours_runner.py",
           "rtmlib": "rtmlib_runner.py", "mediapipe": "mediapipe_runner.py"}


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
    """The peers' interpreter; creates the venv (rtmlib, mediapipe, our ORT) when needed."""
    import onnxruntime

    python = venv / "bin" / "python"
    wanted = f"onnxruntime=={onnxruntime.__version__}"
    check = ("import importlib.metadata as m, rtmlib, mediapipe; "
             f"assert m.version('onnxruntime') == '{onnxruntime.__version__}'; "
             "assert m.version('mediapipe') == '0.10.14'")
    if python.exists() and subprocess.run([str(python), "-c", check],
                                          capture_output=True).returncode == 0:
        return python
    print(f"creating {venv} ({', '.join(PEER_PACKAGES)}, {wanted}) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", wanted, *PEER_PACKAGES],
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
        raw = out.name + "_raw"
        for node in graph.node:
            node.output[:] = [raw if o == out.name else o for o in node.output]
        pos = np.linspace((1 - span) / 2, (1 + span) / 2, k)
        rng.shuffle(pos)
        template = np.zeros((1, k, bins), np.float32)
        template[0, np.arange(k), np.round(pos * (bins - 1)).astype(int)] = peak
        graph.initializer.append(numpy_helper.from_array(template, out.name + "_template"))
        graph.node.append(helper.make_node("Add", [raw, out.name + "_template"], [out.name]))
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


def run_one(python: Path, contender: str, video: str, det: str, pose: Path, interval: int,
            args: argparse.Namespace) -> dict:
    """One contender in a fresh process; returns its summary."""
    with tempfile.NamedTemporaryFile(suffix=".json", dir=args.work_dir, delete=False) as f:
        out = Path(f.name)
    cmd = [str(python), str(PEERS / RUNNERS[contender]), "--video", video, "--det", det,
           "--pose", str(pose), "--interval", str(interval), "--frames", str(args.frames),
           "--warmup", str(args.warmup), "--json", str(out)]
    cmd += ["--floor"] if contender == "floor" else []
    cmd += ["--no-draw"] if args.no_draw else []
    env = dict(os.environ, PYTHONPATH=str(ROOT)) if contender in ("ours", "floor") else None
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{contender} failed on {video}:\n{proc.stderr[-3000:]}")
    summary = json.loads(out.read_text())
    out.unlink()
    return summary


def machine() -> dict:
    import cv2
    import onnxruntime

    cpu = platform.processor() or platform.machine()
    flags = ""
    if Path("/proc/cpuinfo").exists():
        info = Path("/proc/cpuinfo").read_text()
        cpu = next((line.split(":", 1)[1].strip() for line in info.splitlines()
                    if line.startswith("model name")), cpu)
        flags = " ".join(f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni")
                         if f" {f}" in info)
    return {"cpu": cpu, "isa": flags, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "opencv": cv2.__version__,
            "onnxruntime": onnxruntime.__version__, "load_avg": os.getloadavg()[0]}


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
             contenders: list[str], args: argparse.Namespace) -> dict:
    """Interleaved repeats of every contender (and the floor) on one case."""
    runs: dict[str, list[dict]] = {c: [] for c in contenders}
    for _ in range(args.repeats):
        for c in contenders:
            interp = Path(sys.executable) if c in ("ours", "floor") else python
            runs[c].append(run_one(interp, c, video, det, pose, interval, args))
            print(f"  {c:<10}{runs[c][-1]['fps']:7.1f} FPS", flush=True)
    case = {"video": Path(video).name, "pose": pose.name, "interval": interval,
            "runs": runs, "summary": {c: _median(r) for c, r in runs.items()}}
    ours = runs.get("ours")
    case["ratios"] = {}
    if ours:
        for peer in ("rtmlib", "mediapipe"):
            if peer in runs:
                case["ratios"][f"fps_ours_over_{peer}"] = statistics.median(
                    o["fps"] / p["fps"] for o, p in zip(ours, runs[peer]))
        if "floor" in runs:
            case["ratios"]["ours_over_floor"] = statistics.median(
                (1e3 / o["fps"]) / f["floor_ms"]["mean"] for o, f in zip(ours, runs["floor"]))
    return case


def _median(runs: list[dict]) -> dict:
    """Per-metric median over repeats (nested dicts too)."""
    def med(values):
        if isinstance(values[0], dict):
            return {k: med([v[k] for v in values]) for k in values[0]}
        if isinstance(values[0], (int, float)) and not isinstance(values[0], bool):
            return statistics.median(values)
        return values[0]
    return med(runs)


def format_tables(cases: list[dict]) -> str:
    """The main table (one row per contender and case) and the stage breakdown."""
    head = (f"{'case':<44}{'contender':<11}{'FPS':>7}{'med ms':>8}{'p90 ms':>8}{'cores':>7}"
            f"{'RSS MB':>8}{'pers':>6}{'det':>6}{'ours/x':>8}")
    lines = [head, "-" * len(head)]
    stage_lines = []
    for case in cases:
        name = f"{case['video'][:22]} {case['pose'][:14]} i={case['interval']}"
        s, r = case["summary"], case["ratios"]
        for c, v in s.items():
            if c == "floor":
                ratio = r.get("ours_over_floor")
                lines.append(f"{name:<44}{'floor':<11}{v['fps']:>7.1f}"
                             f"{v['floor_ms']['median']:>8.1f}{'':>8}{'':>7}{v['rss_mb']:>8.0f}"
                             f"{'':>6}{'':>6}{'' if ratio is None else f'{ratio:.2f}':>8}")
                continue
            ratio = "" if c == "ours" else f"{r.get(f'fps_ours_over_{c}', float('nan')):.2f}"
            lines.append(f"{name:<44}{c:<11}{v['fps']:>7.1f}{v['latency_ms']['median']:>8.1f}"
                         f"{v['latency_ms']['p90']:>8.1f}{v['cores_used']:>7.2f}"
                         f"{v['peak_rss_mb']:>8.0f}{v['persons']:>6.1f}{v['detector_runs']:>6.2f}"
                         f"{ratio:>8}")
            stage_lines.append(f"{name:<44}{c:<11}" + "".join(
                f"{v['stages_ms'][st]:>9.1f}" for st in v["stages_ms"]))
    stages = next((v["stages_ms"] for c in cases for k, v in c["summary"].items()
                   if k != "floor"), {})
    stage_head = f"{'case':<44}{'contender':<11}" + "".join(f"{st:>9}" for st in stages)
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

    colors = {"ours": "#1f77b4", "rtmlib": "#ff7f0e", "mediapipe": "#2ca02c", "floor": "#999999"}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), dpi=80)
    labels = [f"{c['video'].split('_')[0]}\n{_arch(c)} i={c['interval']}" for c in cases]
    names = [n for n in ("ours", "rtmlib", "mediapipe", "floor")
             if any(n in c["summary"] for c in cases)]
    width = 0.8 / len(names)
    for j, n in enumerate(names):
        fps = [c["summary"][n]["fps"] if n in c["summary"] else 0 for c in cases]
        ax1.bar(np.arange(len(cases)) + j * width, fps, width, label=
                "models alone (floor)" if n == "floor" else n, color=colors[n])
    ax1.set_xticks(np.arange(len(cases)) + 0.4 - width / 2, labels, fontsize=7)
    ax1.set_ylabel("end-to-end FPS")
    ax1.legend(fontsize=7)
    ax1.set_title("throughput (higher is better)", fontsize=9)
    pairs = [(c, n) for c in cases for n in ("ours", "rtmlib") if n in c["summary"]]
    bottom = np.zeros(len(pairs))
    stages = list(pairs[0][0]["summary"][pairs[0][1]]["stages_ms"]) if pairs else []
    cmap = plt.get_cmap("tab10")
    for k, st in enumerate(stages):
        ms = np.array([c["summary"][n]["stages_ms"][st] for c, n in pairs])
        ax2.bar(np.arange(len(pairs)), ms, 0.7, bottom=bottom, label=st, color=cmap(k))
        bottom += ms
    ax2.set_xticks(np.arange(len(pairs)),
                   [f"{n}\n{_arch(c)} i={c['interval']}\n{c['video'].split('_')[0]}"
                    for c, n in pairs], fontsize=6)
    ax2.set_ylabel("mean ms per frame")
    ax2.legend(fontsize=6, ncol=2)
    ax2.set_title("where the time goes", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json:
        cases = json.loads(args.from_json.read_text())["cases"]
        print(format_tables(cases))
        plot(cases, args.plot)
        return 0
    cases_given = case_list(args)
    args.det = args.det or real_input(DEFAULT_DET, "--det YOLOX.onnx")
    check_inputs([v for v, _, _ in cases_given], args.det, [p for _, p, _ in cases_given])
    args.work_dir.mkdir(parents=True, exist_ok=True)
    peers = [c for c in args.contenders if c != "ours"]
    python = ensure_venv(args.venv) if peers else Path(sys.executable)
    cases = []
    top_down = [c for c in args.contenders if c != "mediapipe"]
    top_down += ["floor"] * ("ours" in top_down)
    for video, spec, interval in cases_given:
        pose = pose_model(spec, args.work_dir)
        print(f"{Path(video).name}, {pose.name}, detector every {interval}", flush=True)
        cases.append(run_case(python, video, args.det, pose, interval, top_down, args))
    mediapipe_videos = dict.fromkeys(v for v, _, _ in cases_given)
    for video in mediapipe_videos if "mediapipe" in args.contenders else ():
        print(f"{Path(video).name}, MediaPipe Holistic", flush=True)
        mp = run_case(python, video, args.det, Path(), 1, ["mediapipe"], args)
        for case in cases:
            if case["video"] == Path(video).name:
                case["summary"]["mediapipe"] = mp["summary"]["mediapipe"]
                case["runs"]["mediapipe"] = mp["runs"]["mediapipe"]
                if "ours" in case["runs"]:
                    case["ratios"]["fps_ours_over_mediapipe"] = (
                        case["summary"]["ours"]["fps"] / mp["summary"]["mediapipe"]["fps"])
    report = {"machine": machine(), "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
              "frames": args.frames, "repeats": args.repeats, "draw": not args.no_draw,
              "det": Path(args.det).name, "cases": cases}
    out = args.json or args.work_dir / "compare.json"
    out.write_text(json.dumps(report, indent=2))
    print(format_tables(cases))
    plot(cases, args.plot)
    print(f"wrote {out} and {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
