"""Help > About: the app's version and ``dwpose doctor``'s report of this machine, to read or
copy into a bug report. The report is made on a background thread (it loads the runtimes and
tries the cameras: a few seconds); the camera the app is streaming from is not opened again.
"""
from __future__ import annotations

import importlib.metadata
import threading
from collections.abc import Collection

from PyQt5.QtCore import pyqtSignal
from PyQt5.QtGui import QFontDatabase, QGuiApplication
from PyQt5.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from engines.camera import backend_order, probe_cameras
from engines.doctor import Machine, diagnose


def version() -> str:
    try:
        return importlib.metadata.version("dwpose-guide")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout, not installed
        return "(not installed)"


class AboutDialog(QDialog):
    """The version and the machine's report (``report_ready`` carries it once made)."""

    report_ready = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None, cameras_in_use: Collection[int] = ()
                 ) -> None:
        super().__init__(parent)
        self.setWindowTitle("About dwpose-guide")
        self.text = QPlainTextEdit("Checking this machine…")
        self.text.setReadOnly(True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.FixedFont))
        self.text.setMinimumSize(720, 320)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        self.copy = buttons.addButton("Copy report", QDialogButtonBox.ActionRole)
        self.copy.setEnabled(False)
        self.copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(
            self.text.toPlainText()))
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"dwpose-guide {version()}: real-time whole-body pose guidance. "
                                "What this machine can run ('dwpose doctor'):"))
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        self.report_ready.connect(self._show)
        in_use = set(cameras_in_use)
        machine = Machine(cameras=lambda: (probe_cameras(4, in_use), "/".join(backend_order())))
        threading.Thread(target=lambda: self.report_ready.emit(diagnose(machine).format()),
                         name="doctor", daemon=True).start()

    def _show(self, report: str) -> None:
        self.text.setPlainText(report)
        self.copy.setEnabled(True)
