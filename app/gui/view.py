"""The video widget: the newest frame, scaled to fit with its skeletons, and the overlay."""
from __future__ import annotations

import numpy as np
from PyQt5.QtCore import QRectF, QSize
from PyQt5.QtGui import QColor, QImage, QPainter, QPaintEvent
from PyQt5.QtWidgets import QSizePolicy, QWidget

from engines.pipeline import FrameResult

from .overlay import OverlayState, paint_overlay
from .render import DrawOptions, fit_size, render

BACKGROUND = QColor(18, 18, 22)


class VideoView(QWidget):
    """Shows one frame at a time; rendering is cached until the frame, options or size change."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setMinimumSize(320, 240)
        self.overlay = OverlayState()
        self._frame: tuple[np.ndarray, FrameResult | None, int | None] | None = None
        self._options = DrawOptions()
        self._cache: tuple[tuple, QImage] | None = None

    def sizeHint(self) -> QSize:
        return QSize(960, 720)

    def set_frame(self, image: np.ndarray, result: FrameResult | None,
                  guided: int | None) -> None:
        """Show ``image`` (BGR) with ``result``; ``guided`` is the guided person's index."""
        self._frame = (image, result, guided)
        self._cache = None
        self.update()

    def set_options(self, options: DrawOptions) -> None:
        self._options = options
        self.update()

    def set_overlay(self, state: OverlayState) -> None:
        self.overlay = state
        self.update()

    def image_rect(self) -> QRectF:
        """Where the frame is drawn (the whole widget when there is none)."""
        if self._frame is None:
            return QRectF(self.rect())
        h, w = self._frame[0].shape[:2]
        fw, fh = fit_size((w, h), (self.width(), self.height()))
        return QRectF((self.width() - fw) // 2, (self.height() - fh) // 2, fw, fh)

    def _image(self, rect: QRectF) -> QImage:
        assert self._frame is not None
        size = (int(rect.width()), int(rect.height()))
        key = (size, self._options)
        if self._cache is None or self._cache[0] != key:
            image, result, guided = self._frame
            bgr = render(image, result, self._options, size, guided)
            qimage = QImage(bgr.data, bgr.shape[1], bgr.shape[0], bgr.strides[0],
                            QImage.Format_BGR888).copy()
            self._cache = (key, qimage)
        return self._cache[1]

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        rect = self.image_rect()
        if self._frame is not None:
            painter.drawImage(rect.topLeft(), self._image(rect))
        paint_overlay(painter, rect, QRectF(self.rect()), self.overlay)
        painter.end()
