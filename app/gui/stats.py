"""Frame rate and latency for the statistics overlay, smoothed so the numbers are readable."""
from __future__ import annotations

from engines.pipeline import STAGES

from .workers import Processed

#: Weight of the newest sample in the moving averages (about the last 10 frames).
EMA = 0.1
#: Short names of the stages in the overlay, in pipeline order, then the guide.
STAGE_LABELS = dict(zip(STAGES, ("pre", "det", "pose", "post")), guide="guide")


def _ema(old: float | None, new: float) -> float:
    return new if old is None else old + EMA * (new - old)


class FrameStats:
    """Shown frames per second, source frames per second, latency and per-stage times.

    The detector only runs every few frames (tracking in between), so its time is averaged
    over the frames where it ran.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start over (a new source)."""
        self.fps: float | None = None
        self.source_fps: float | None = None
        self.latency_ms: float | None = None
        self.stages: dict[str, float] = {}
        self._last: Processed | None = None

    def update(self, p: Processed, now: float) -> None:
        """Account for ``p``, shown at ``now`` (time.perf_counter())."""
        last = self._last
        if last is not None and p.done > last.done:
            self.fps = _ema(self.fps, 1.0 / (p.done - last.done))
            read = p.packet.t - last.packet.t  # between the two frames' capture times
            if read > 0 and p.packet.seq > last.packet.seq:
                self.source_fps = _ema(self.source_fps, (p.packet.seq - last.packet.seq) / read)
        self._last = p
        self.latency_ms = _ema(self.latency_ms, (now - p.packet.t) * 1e3)
        for stage, ms in p.timings.items():
            if stage == "detector" and not (p.result is not None and p.result.detected):
                continue
            self.stages[stage] = _ema(self.stages.get(stage), ms)

    def lines(self) -> list[str]:
        """The overlay's text lines."""
        fps = "–" if self.fps is None else f"{self.fps:.1f}"
        source = "" if self.source_fps is None else f" (source {self.source_fps:.1f})"
        latency = "–" if self.latency_ms is None else f"{self.latency_ms:.0f} ms"
        lines = [f"{fps} FPS{source}", f"latency {latency}"]
        order = sorted(self.stages, key=lambda k: list(STAGE_LABELS).index(k)
                       if k in STAGE_LABELS else len(STAGE_LABELS))
        if order:
            lines.append("  ".join(f"{STAGE_LABELS.get(k, k)} {self.stages[k]:.1f}"
                                   for k in order) + " ms")
        return lines
