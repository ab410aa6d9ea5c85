"""The missing-model dialog: download the release with a progress bar, or say where it goes.

The download is ``engines.hub.fetch`` (resume, size check, verification) on a background
thread; the bar follows the growing ``.part`` file. Offline, the dialog names the URL and the
exact file to save it as, and ``Retry`` picks it up from there; ``Choose file…`` takes any
model file instead. Cancelling leaves a partial download in the cache, which the next attempt
resumes.
"""
from __future__ import annotations

import html
import threading
from pathlib import Path

from PyQt5.QtCore import QObject, Qt, QTimer, pyqtSignal, pyqtSlot
from PyQt5.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engines.download import remote_size
from engines.hub import Release, default_cache_dir, fetch, release_url

MODEL_FILTER = "Models (*.onnx *.engine);;All files (*)"


class _Download(QObject):
    """Runs ``fetch`` on a daemon thread (an abandoned download ends with the process)."""

    size = pyqtSignal(int)
    done = pyqtSignal(str)
    failed = pyqtSignal(str)

    def __init__(self, release: Release) -> None:
        super().__init__()
        self.release = release

    def start(self) -> None:
        """Start downloading (connect the signals first: a failure can be immediate)."""
        threading.Thread(target=self._run, name=f"download {self.release.name}",
                         daemon=True).start()

    def _run(self) -> None:
        total = remote_size(release_url(self.release))
        if total:
            self.size.emit(total)
        try:
            path = fetch(self.release.name, progress=False)
        except Exception as exc:
            self.failed.emit(str(exc))
        else:
            self.done.emit(str(path))


class ModelDialog(QDialog):
    """Offers to download ``release`` (or to choose a file); ``path`` is set when accepted."""

    def __init__(self, release: Release, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.release, self.path = release, ""
        cache = default_cache_dir()
        self._target = cache / (release.archive or release.filename)
        self._part = self._target.with_name(self._target.name + ".part")
        self._download: _Download | None = None
        self.setWindowTitle(f"{release.stage.capitalize()} model missing")
        self.setMinimumWidth(560)

        url = release_url(release)
        by_hand = f"save it as <code>{html.escape(str(self._target))}</code>"
        if release.archive:
            by_hand += " (the model is unpacked from it when you press Download)"
        self.info = QLabel(
            f"<p>The {release.stage} model <b>{html.escape(release.name)}</b> "
            f"({html.escape(release.notes)}) is not in the model cache yet.</p>"
            f"<p><b>Download</b> fetches it from <code>{html.escape(url)}</code>.</p>"
            f"<p>Offline? Download that file on another machine and {by_hand}, "
            f"or run <code>dwpose fetch {html.escape(release.name)}</code> later.</p>")
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status = QLabel()
        self.status.setWordWrap(True)

        buttons = QDialogButtonBox(QDialogButtonBox.Cancel)
        self.download_button = QPushButton("Download")
        self.choose_button = QPushButton("Choose file…")
        buttons.addButton(self.download_button, QDialogButtonBox.ActionRole)
        buttons.addButton(self.choose_button, QDialogButtonBox.ActionRole)
        buttons.rejected.connect(self.reject)
        self.download_button.clicked.connect(self.start_download)
        self.choose_button.clicked.connect(self._choose)

        layout = QVBoxLayout(self)
        for widget in (self.info, self.progress, self.status, buttons):
            layout.addWidget(widget)
        self._timer = QTimer(self)
        self._timer.setInterval(200)
        self._timer.timeout.connect(self._poll)
        self.finished.connect(self._timer.stop)

    def start_download(self) -> None:
        """Start (or retry) the download in the background."""
        self.download_button.setEnabled(False)
        self.status.setText("Downloading…")
        self.status.setStyleSheet("")
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self._download = _Download(self.release)
        self._download.size.connect(self._size)
        self._download.done.connect(self._done)
        self._download.failed.connect(self._failed)
        self._download.start()
        self._timer.start()

    @pyqtSlot(int)
    def _size(self, total: int) -> None:
        self.progress.setRange(0, total)

    def _poll(self) -> None:
        """Follow the growing ``.part`` file (the hub streams into it)."""
        have = next((f.stat().st_size for f in (self._part, self._target) if f.exists()), 0)
        if self.progress.maximum() > 0:
            self.progress.setValue(min(have, self.progress.maximum()))
        self.status.setText(f"Downloading… {have / 2**20:.1f} MB")

    @pyqtSlot(str)
    def _done(self, path: str) -> None:
        self._timer.stop()
        self.path = path
        self.accept()

    @pyqtSlot(str)
    def _failed(self, message: str) -> None:
        self._timer.stop()
        self.progress.setVisible(False)
        self.status.setText(message)
        self.status.setStyleSheet("color: #c0392b")
        self.download_button.setText("Retry")
        self.download_button.setEnabled(True)

    def _choose(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, f"Choose a {self.release.stage} model",
                                              str(Path.home()), MODEL_FILTER)
        if path:
            self.path = path
            self.accept()
