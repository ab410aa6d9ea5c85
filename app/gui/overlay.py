"""What the view paints over the frame with QPainter: guidance, statistics, messages.

- left: FPS and per-stage latency (the O key), then the per-check status list,
- top centre, over them: the one instruction (green "Ready" with the auto-capture progress),
- at the edge it concerns: a large arrow for the instruction's direction (four corner arrows
  for "come closer" / "step back"),
- bottom centre, on top of everything: problems in red (source lost, inference error,
  models) and the capture confirmation in blue; with no frame yet, a placeholder message.

Sizes scale with the view so the text stays readable from a few metres away.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from PyQt5.QtCore import QPointF, QRectF, Qt
from PyQt5.QtGui import QColor, QFont, QPainter, QPen, QPolygonF

from app.guidance import CheckResult, Direction

#: What the check list calls each check of ``app.guidance.CHECKS``.
CHECK_LABELS = {
    "exposure": "Light", "person": "Person", "in_frame": "In frame", "distance": "Distance",
    "centre": "Centred", "head_room": "Head room", "facing": "Facing", "hands": "Hands",
    "single": "One person", "motion": "Still",
}

PANEL = QColor(15, 15, 20, 185)
READY = QColor(36, 150, 70, 230)
PROBLEM = QColor(190, 40, 40, 230)
NOTICE = QColor(36, 120, 200, 230)
ARROW = QColor(255, 196, 0, 215)
OK_DOT, FAIL_DOT, WAIT_DOT = QColor(80, 210, 90), QColor(240, 80, 70), QColor(140, 140, 140)


@dataclass
class OverlayState:
    """Everything painted over one frame (directions already in display coordinates)."""

    instruction: str | None = None  # None and not ready: no guidance (no models yet)
    direction: Direction = Direction.NONE
    ready: bool = False
    progress: float | None = None  # 0-1 towards the automatic capture; None: off
    checks: tuple[CheckResult, ...] = ()  # empty: no list
    stats: list[str] = field(default_factory=list)  # empty: no statistics box
    problems: list[str] = field(default_factory=list)
    notice: str | None = None
    placeholder: str | None = None  # shown when there is no frame


def _font(px: float, bold: bool = False, mono: bool = False) -> QFont:
    font = QFont()
    if mono:
        font.setFamily("monospace")
        font.setStyleHint(QFont.TypeWriter)
    font.setPixelSize(max(8, round(px)))
    font.setBold(bold)
    return font


def _text_box(p: QPainter, text: str, font: QFont, max_width: float) -> QRectF:
    """Size of ``text`` wrapped at ``max_width`` (placed at the origin)."""
    p.setFont(font)
    return QRectF(p.boundingRect(QRectF(0, 0, max_width, 1e4), Qt.TextWordWrap, text))


def _rounded(p: QPainter, rect: QRectF, color: QColor, radius: float) -> None:
    p.setPen(Qt.NoPen)
    p.setBrush(color)
    p.drawRoundedRect(rect, radius, radius)


def arrow_polygon(tail: QPointF, head: QPointF, width: float) -> QPolygonF:
    """A block arrow from ``tail`` to ``head``: shaft ``width`` wide, head twice as wide."""
    d = head - tail
    length = max((d.x() ** 2 + d.y() ** 2) ** 0.5, 1e-6)
    ux, uy = d.x() / length, d.y() / length
    nx, ny = -uy, ux
    head_len = min(1.4 * width, 0.6 * length)
    neck = QPointF(head.x() - ux * head_len, head.y() - uy * head_len)

    def at(base: QPointF, across: float) -> QPointF:
        return QPointF(base.x() + nx * across, base.y() + ny * across)

    half = width / 2
    return QPolygonF([at(tail, half), at(neck, half), at(neck, width), head, at(neck, -width),
                      at(neck, -half), at(tail, -half)])


def direction_arrows(direction: Direction, rect: QRectF, top: float) -> list[QPolygonF]:
    """The big arrows for ``direction`` inside ``rect`` (below ``top``, the banner's bottom)."""
    size = 0.16 * min(rect.width(), rect.height())
    width, margin = 0.35 * size, 0.06 * min(rect.width(), rect.height())
    c = rect.center()
    left, right = rect.left() + margin, rect.right() - margin
    upper, lower = max(rect.top(), top) + margin, rect.bottom() - margin
    ends = {
        Direction.LEFT: [(QPointF(left + size, c.y()), QPointF(left, c.y()))],
        Direction.RIGHT: [(QPointF(right - size, c.y()), QPointF(right, c.y()))],
        Direction.UP: [(QPointF(c.x(), upper + size), QPointF(c.x(), upper))],
        Direction.DOWN: [(QPointF(c.x(), lower - size), QPointF(c.x(), lower))],
    }
    if direction in (Direction.FORWARD, Direction.BACK):
        d = size / 2 ** 0.5
        pairs = []
        for x, y, sx, sy in ((left, upper, 1, 1), (right, upper, -1, 1), (left, lower, 1, -1),
                             (right, lower, -1, -1)):
            corner, inner = QPointF(x, y), QPointF(x + sx * d, y + sy * d)
            pairs.append((inner, corner) if direction is Direction.FORWARD else (corner, inner))
        ends[direction] = pairs
    return [arrow_polygon(tail, head, width) for tail, head in ends.get(direction, [])]


def paint_overlay(p: QPainter, image_rect: QRectF, view_rect: QRectF,
                  state: OverlayState) -> None:
    """Paint ``state`` over a frame drawn in ``image_rect`` of a view of ``view_rect``."""
    p.save()
    p.setRenderHint(QPainter.Antialiasing)
    p.setRenderHint(QPainter.TextAntialiasing)
    s = min(max(min(view_rect.width(), view_rect.height()) / 720, 0.7), 1.6)
    banner = None
    if state.instruction is not None or state.ready:
        banner = _instruction_rect(p, view_rect, image_rect, state, s)
    y = max(image_rect.top(), view_rect.top() if banner is None else banner.bottom()) + 10 * s
    if state.stats:
        y = _paint_lines(p, view_rect.left() + 10 * s, y, state.stats, _font(12 * s, mono=True),
                         s) + 8 * s
    if state.checks:
        _paint_checks(p, view_rect.left() + 10 * s, y, state.checks, s)
    if banner is not None:
        _paint_instruction(p, banner, state, s)
    if not state.ready:
        p.setPen(QPen(QColor(0, 0, 0, 170), 2 * s))
        p.setBrush(ARROW)
        top = image_rect.top() if banner is None else banner.bottom()
        for polygon in direction_arrows(state.direction, image_rect, top):
            p.drawPolygon(polygon)
    bottom = view_rect.bottom() - 12 * s
    for text in state.problems:
        bottom = _paint_message(p, view_rect, bottom, text, PROBLEM, s) - 8 * s
    if state.notice:
        _paint_message(p, view_rect, bottom, state.notice, NOTICE, s)
    if state.placeholder:
        p.setPen(QColor(200, 200, 200))
        p.setFont(_font(20 * s))
        p.drawText(view_rect.adjusted(40 * s, 0, -40 * s, 0),
                   Qt.AlignCenter | Qt.TextWordWrap, state.placeholder)
    p.restore()


def _instruction_text(state: OverlayState) -> str:
    return "Ready: hold still" if state.ready else state.instruction or ""


def _instruction_rect(p: QPainter, view_rect: QRectF, image_rect: QRectF, state: OverlayState,
                      s: float) -> QRectF:
    """Where the instruction banner goes: centred in the band above the picture when it fits
    there (so it hides nothing), else at the top of the picture."""
    pad = 14 * s
    box = _text_box(p, _instruction_text(state), _font(24 * s, bold=True),
                    min(0.8 * view_rect.width(), 900 * s))
    rect = QRectF(0, 0, box.width() + 2 * pad, box.height() + 2 * pad)
    if state.ready and state.progress is not None:
        rect.setHeight(rect.height() + 10 * s)
    rect.moveCenter(QPointF(view_rect.center().x(), 0))
    band = image_rect.top() - view_rect.top()
    if band >= rect.height() + 16 * s:
        rect.moveTop(view_rect.top() + (band - rect.height()) / 2)
    else:
        rect.moveTop(max(image_rect.top(), view_rect.top()) + 12 * s)
    return rect


def _paint_instruction(p: QPainter, rect: QRectF, state: OverlayState, s: float) -> None:
    """The instruction banner, with the auto-capture progress bar when ready."""
    pad = 14 * s
    _rounded(p, rect, READY if state.ready else PANEL, 10 * s)
    text_rect = rect.adjusted(pad, pad, -pad, -pad)
    if state.ready and state.progress is not None:
        text_rect.setBottom(text_rect.bottom() - 10 * s)
        bar = QRectF(rect.left() + pad, rect.bottom() - pad * 0.9, rect.width() - 2 * pad, 5 * s)
        _rounded(p, bar, QColor(255, 255, 255, 70), 2 * s)
        bar.setWidth(bar.width() * min(max(state.progress, 0.0), 1.0))
        _rounded(p, bar, QColor(255, 255, 255, 230), 2 * s)
    p.setPen(Qt.white)
    p.setFont(_font(24 * s, bold=True))
    p.drawText(text_rect, Qt.AlignCenter | Qt.TextWordWrap, _instruction_text(state))


def _paint_lines(p: QPainter, x: float, y: float, lines: list[str], font: QFont,
                 s: float) -> float:
    """A box of plain text lines at (x, y); returns its bottom edge."""
    p.setFont(font)
    metrics = p.fontMetrics()
    pad, step = 8 * s, metrics.lineSpacing()
    width = max(metrics.horizontalAdvance(line) for line in lines)
    rect = QRectF(x, y, width + 2 * pad, step * len(lines) + 2 * pad)
    _rounded(p, rect, PANEL, 6 * s)
    p.setPen(QColor(235, 235, 235))
    for i, line in enumerate(lines):
        p.drawText(QPointF(x + pad, y + pad + metrics.ascent() + i * step), line)
    return rect.bottom()


def _paint_checks(p: QPainter, x: float, y: float, checks: tuple[CheckResult, ...],
                  s: float) -> None:
    """One line per check: a status dot, the check's name and its message."""
    name_font, msg_font = _font(13 * s, bold=True), _font(12 * s)
    p.setFont(msg_font)
    msgs = p.fontMetrics()
    p.setFont(name_font)
    names = p.fontMetrics()
    pad, step, dot = 8 * s, names.lineSpacing() + 2 * s, 9 * s
    name_w = max(names.horizontalAdvance(CHECK_LABELS.get(c.name, c.name)) for c in checks)
    msg_w = max(msgs.horizontalAdvance(c.message) for c in checks)
    text_x = x + pad + dot + 6 * s
    rect = QRectF(x, y, text_x - x + name_w + 10 * s + msg_w + pad, step * len(checks) + 2 * pad)
    _rounded(p, rect, PANEL, 6 * s)
    for i, check in enumerate(checks):
        base = y + pad + i * step + names.ascent()
        color = OK_DOT if check.ok else FAIL_DOT if check.instruction else WAIT_DOT
        p.setPen(Qt.NoPen)
        p.setBrush(color)
        p.drawEllipse(QPointF(x + pad + dot / 2, base - names.ascent() / 2 + s), dot / 2, dot / 2)
        p.setPen(QColor(245, 245, 245))
        p.setFont(name_font)
        p.drawText(QPointF(text_x, base), CHECK_LABELS.get(check.name, check.name))
        p.setPen(QColor(200, 200, 200))
        p.setFont(msg_font)
        p.drawText(QPointF(text_x + name_w + 10 * s, base), check.message)


def _paint_message(p: QPainter, view_rect: QRectF, bottom: float, text: str, color: QColor,
                   s: float) -> float:
    """A wrapped message box centred above ``bottom``; returns its top edge."""
    font, pad = _font(16 * s, bold=True), 10 * s
    box = _text_box(p, text, font, 0.85 * view_rect.width())
    rect = QRectF(0, 0, box.width() + 2 * pad, box.height() + 2 * pad)
    rect.moveCenter(QPointF(view_rect.center().x(), 0))
    rect.moveBottom(bottom)
    _rounded(p, rect, color, 8 * s)
    p.setPen(Qt.white)
    p.setFont(font)
    p.drawText(rect.adjusted(pad, pad, -pad, -pad), Qt.AlignCenter | Qt.TextWordWrap, text)
    return rect.top()
