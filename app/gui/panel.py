"""The side panel: the controls for guidance, source, models and display.

It only builds and lays out widgets; the window fills them from the settings and reacts to
them, so every control has one owner.
"""
from __future__ import annotations

from PyQt5.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.guidance import PROFILES
from engines.overlap import AUTO_RULE

PROFILE_LABELS = {"full_body": "Full body", "upper_body": "Upper body", "portrait": "Portrait",
                  "hands": "Hands"}
SOURCE_LABELS = {"camera": "Camera", "video": "Video file", "images": "Image folder"}
PIPELINE_LABELS = {"auto": "Auto (overlapped on a GPU)", "serial": "Serial",
                   "overlap": "Overlapped"}
RESOLUTIONS = (("640x480", "640 × 480"), ("1280x720", "1280 × 720 (HD)"),
               ("1920x1080", "1920 × 1080 (Full HD)"), ("", "Native"))
PANEL_WIDTH = 330


def _row(*widgets: QWidget, stretch: int = 0) -> QWidget:
    """Widgets side by side; the widget at index ``stretch`` takes the free space."""
    box = QWidget()
    layout = QHBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    for i, widget in enumerate(widgets):
        layout.addWidget(widget, 1 if i == stretch else 0)
    return box


def _form(title: str) -> tuple[QGroupBox, QFormLayout]:
    group = QGroupBox(title)
    form = QFormLayout(group)
    form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
    return group, form


class ControlPanel(QWidget):
    """Every setting's widget, grouped: Guidance, Source, Models, Display."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedWidth(PANEL_WIDTH)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        for group in (self._guidance(), self._source(), self._models(), self._display()):
            layout.addWidget(group)
        layout.addStretch(1)

    def _guidance(self) -> QGroupBox:
        group, form = _form("Guidance")
        self.profile = QComboBox()
        for name in PROFILES:
            self.profile.addItem(PROFILE_LABELS.get(name, name), name)
        self.auto_capture = QCheckBox("Auto-capture when ready")
        self.capture_dir = QLineEdit()
        self.capture_dir.setPlaceholderText("capture folder")
        self.capture_browse = QToolButton(text="…")
        self.capture_button = QPushButton("Capture now  (Space)")
        self.last_capture = QLabel()
        self.last_capture.setWordWrap(True)
        self.last_capture.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.last_capture.setVisible(False)  # until the first capture
        form.addRow("Profile", self.profile)
        form.addRow(self.auto_capture)
        form.addRow("Save to", _row(self.capture_dir, self.capture_browse))
        form.addRow(self.capture_button)
        form.addRow(self.last_capture)
        return group

    def _source(self) -> QGroupBox:
        group, form = _form("Source")
        self.source_kind = QComboBox()
        for kind, label in SOURCE_LABELS.items():
            self.source_kind.addItem(label, kind)
        self.camera = QComboBox()
        self.camera_refresh = QToolButton(text="↻")
        self.camera_refresh.setToolTip("Look for cameras again")
        self.path = QLineEdit()
        self.path.setPlaceholderText("path")
        self.path_browse = QToolButton(text="…")
        self.target = QStackedWidget()  # page 0: camera chooser, page 1: file or folder
        self.target.addWidget(_row(self.camera, self.camera_refresh))
        self.target.addWidget(_row(self.path, self.path_browse))
        self.target.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Maximum)
        self.loop = QCheckBox("Loop at the end")
        self.resolution = QComboBox()
        for value, label in RESOLUTIONS:
            self.resolution.addItem(label, value)
        self.mirror = QCheckBox("Mirror view (selfie)  M")
        form.addRow("Input", self.source_kind)
        form.addRow("", self.target)
        form.addRow("", self.loop)
        form.addRow("Size", self.resolution)
        form.addRow(self.mirror)
        return group

    def _models(self) -> QGroupBox:
        group, form = _form("Models")
        self.backend = QComboBox()
        self.pipeline = QComboBox()
        for mode, label in PIPELINE_LABELS.items():
            self.pipeline.addItem(label, mode)
        self.pipeline.setToolTip("Overlapped: the detector of a frame runs while the pose model "
                                 "of the previous one finishes (same keypoints, more frames "
                                 "per second when the models are the bottleneck).\n"
                                 f"{AUTO_RULE}.")
        self.det = QComboBox()
        self.det_browse = QToolButton(text="…")
        self.det_browse.setToolTip("Choose a detector model file")
        self.pose = QComboBox()
        self.pose_browse = QToolButton(text="…")
        self.pose_browse.setToolTip("Choose a pose model file")
        form.addRow("Backend", self.backend)
        form.addRow("Pipeline", self.pipeline)
        form.addRow("Detector", _row(self.det, self.det_browse))
        form.addRow("Pose", _row(self.pose, self.pose_browse))
        return group

    def _display(self) -> QGroupBox:
        group = QGroupBox("Display")
        grid = QGridLayout(group)
        self.show_body = QCheckBox("Body")
        self.show_feet = QCheckBox("Feet")
        self.show_face = QCheckBox("Face")
        self.show_hands = QCheckBox("Hands")
        self.show_boxes = QCheckBox("Person boxes")
        self.check_list = QCheckBox("Check list")
        self.stats_overlay = QCheckBox("FPS and latency  O")
        self.kpt_thr = QDoubleSpinBox()
        self.kpt_thr.setRange(0.05, 0.95)
        self.kpt_thr.setSingleStep(0.05)
        self.kpt_thr.setDecimals(2)
        for i, box in enumerate((self.show_body, self.show_feet, self.show_face, self.show_hands)):
            grid.addWidget(box, 0, i)
        grid.addWidget(self.show_boxes, 1, 0, 1, 2)
        grid.addWidget(self.check_list, 1, 2, 1, 2)
        grid.addWidget(self.stats_overlay, 2, 0, 1, 4)
        grid.addWidget(QLabel("Keypoint score ≥"), 3, 0, 1, 2)
        grid.addWidget(self.kpt_thr, 3, 2, 1, 2)
        return group
