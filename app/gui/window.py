"""The main window: the video view, the settings panel, the status bar and the shortcuts.

It owns the capture thread (restarted when the source changes), the inference thread and
the capture writer, turns their signals into what the view and status bar show, and writes
every setting the user changes. Shortcuts: Space capture, F full screen, M mirror,
O statistics overlay, Esc leaves full screen.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PyQt5.QtCore import Qt, QTimer, pyqtSignal, pyqtSlot
from PyQt5.QtGui import QCloseEvent, QKeySequence
from PyQt5.QtWidgets import (
    QAction,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QScrollArea,
    QWidget,
)

from app.guidance import Direction
from engines.camera import probe_cameras
from engines.errors import UserError
from engines.hub import RELEASES, cached_path, resolve_model
from engines.overlap import FrameRunner
from engines.sources import FrameSource

from .about import AboutDialog
from .capture import CaptureWriter
from .dialogs import MODEL_FILTER, ModelDialog
from .models import (
    auto_choice,
    backend_names,
    backend_problem,
    is_cached,
    missing_release,
    model_label,
    release_names,
)
from .overlay import OverlayState
from .panel import ControlPanel
from .render import DrawOptions
from .settings import Settings, SettingsStore
from .sources import SourceSpec, open_spec, parse_resolution
from .stats import FrameStats
from .view import VideoView
from .workers import CaptureThread, InferenceThread, LatestSlot, ModelSpec, Processed, load_pipeline

#: Seconds an inference error and a capture confirmation stay on screen.
ERROR_SHOW_S, NOTICE_SHOW_S = 5.0, 4.0
#: Longest status bar entry (the whole text is in its tooltip and over the picture).
STATUS_CHARS = 48
VIDEO_FILTER = "Videos (*.mp4 *.avi *.mov *.mkv *.webm *.m4v);;All files (*)"


class MainWindow(QMainWindow):
    """The app. ``overrides`` (Settings field -> value) apply to this run and are not saved.

    ``interactive=False`` (headless runs) never opens a dialog: a missing model is reported
    through ``model_problem``. ``opener`` and ``loader`` build the frame source and the
    pipeline (tests substitute their own).

    Signals: ``shown(Processed)`` after a frame with keypoints is shown, ``model_problem(str)``
    when the models cannot run, ``source_ended(problem)`` at the end of a file that does not
    loop (``problem``: why it ended before its announced length, "" when it did not),
    ``captured(str)`` with each capture folder written.
    """

    shown = pyqtSignal(object)
    model_problem = pyqtSignal(str)
    source_ended = pyqtSignal(str)
    captured = pyqtSignal(str)
    cameras_found = pyqtSignal(list)

    def __init__(self, store: SettingsStore, overrides: dict[str, Any] | None = None, *,
                 interactive: bool = True,
                 opener: Callable[[SourceSpec], FrameSource] = open_spec,
                 loader: Callable[[ModelSpec], FrameRunner] = load_pipeline) -> None:
        super().__init__()
        self.store, self.interactive, self._opener = store, interactive, opener
        self.settings: Settings = store.load()
        for name, value in (overrides or {}).items():
            setattr(self.settings, name, value)
        self.setWindowTitle("DWPose guide")
        self.frames: LatestSlot = LatestSlot()
        self.inference = InferenceThread(self.frames, self.settings.profile, loader, self)
        self.capture_thread: CaptureThread | None = None
        self.writer = CaptureWriter(self)
        self.stats = FrameStats()
        self.current: Processed | None = None
        self.inferred_shown = 0
        self._source_state = ("", True)  # (message, ok)
        self._model_state = ("loading", "loading models…")
        self._error: tuple[str, float] | None = None
        self._notice: tuple[str, float] | None = None
        self._probe: threading.Thread | None = None
        self._closing = False  # set by closeEvent: late queued signals are ignored

        self.view = VideoView()
        self.view.setFocusPolicy(Qt.StrongFocus)
        self.panel = ControlPanel()
        scroll = QScrollArea()
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setFixedWidth(self.panel.width() + 18)
        self._side = scroll
        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.view, 1)
        layout.addWidget(scroll)
        self.setCentralWidget(central)
        self.status_labels = {k: QLabel() for k in ("source", "backend", "models")}
        for label in self.status_labels.values():
            label.setContentsMargins(8, 0, 8, 0)
            self.statusBar().addPermanentWidget(label)

        self._make_actions()
        self._fill_panel()
        self._connect()
        geometry = store.geometry()
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1280, 840)
        self._timer = QTimer(self)  # expires messages and refreshes the status bar
        self._timer.timeout.connect(self._refresh)
        self._timer.start(250)

        self.inference.start()
        self._start_source()
        if self.settings.source_kind == "camera":
            self._probe_cameras()
        self._refresh()
        QTimer.singleShot(0, self.apply_models)  # after the window is up (may open a dialog)

    # ------------------------------------------------------------------------------ setup

    def _make_actions(self) -> None:
        def action(text: str, key: Any, slot: Callable, checkable: bool = False) -> QAction:
            act = QAction(text, self)
            act.setShortcut(QKeySequence(key))
            act.setCheckable(checkable)
            (act.toggled if checkable else act.triggered).connect(slot)
            self.addAction(act)  # shortcuts work while the menu bar is hidden
            return act

        self.capture_action = action("&Capture", Qt.Key_Space, lambda: self.capture())
        self.fullscreen_action = action("&Full screen", Qt.Key_F, self.set_fullscreen, True)
        self.mirror_action = action("&Mirror view", Qt.Key_M, self._panel_toggle("mirror"), True)
        self.overlay_action = action("FPS and latency &overlay", Qt.Key_O,
                                     self._panel_toggle("stats_overlay"), True)
        action("Leave full screen", Qt.Key_Escape, lambda: self.set_fullscreen(False))
        quit_action = action("&Quit", QKeySequence.Quit, self.close)
        app_menu = self.menuBar().addMenu("&App")
        app_menu.addActions([self.capture_action, quit_action])
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addActions([self.mirror_action, self.overlay_action, self.fullscreen_action])
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(action("&About and system report", QKeySequence.HelpContents,
                                   lambda: self.show_about()))

    def show_about(self) -> AboutDialog:
        """Help > About: the version and what this machine can run (``dwpose doctor``)."""
        streaming = self.settings.source_kind == "camera" and self._source_state[1]
        dialog = AboutDialog(self, {self.settings.camera} if streaming else ())
        dialog.setAttribute(Qt.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def _panel_toggle(self, name: str) -> Callable[[bool], None]:
        """A slot that sets the panel's checkbox ``name`` (which then applies the setting)."""
        return lambda on: getattr(self.panel, name).setChecked(on)

    def _fill_panel(self) -> None:
        s, p = self.settings, self.panel  # signals are connected afterwards: nothing fires
        self._select(p.profile, s.profile)
        self._select(p.source_kind, s.source_kind)
        self._select(p.resolution, s.resolution)
        p.camera.addItem(f"Camera {s.camera}", s.camera)
        p.capture_dir.setText(str(s.capture_folder))
        p.kpt_thr.setValue(s.kpt_thr)
        for name in ("auto_capture", "loop", "mirror", "show_body", "show_feet", "show_face",
                     "show_hands", "show_boxes", "check_list", "stats_overlay"):
            getattr(p, name).setChecked(getattr(s, name))
        self.mirror_action.setChecked(s.mirror)
        self.overlay_action.setChecked(s.stats_overlay)
        for i, name in enumerate(backend_names()):
            problem = backend_problem(name)
            p.backend.addItem(name if problem is None else f"{name} ({problem})", name)
            if problem is not None:
                p.backend.model().item(i).setEnabled(False)
        self._select(p.backend, s.backend)  # an unusable one is reported by apply_models
        self._select(p.pipeline, s.pipeline)
        for combo, stage, spec in ((p.det, "detector", s.det), (p.pose, "pose", s.pose)):
            for name in release_names(stage):
                combo.addItem(name if is_cached(name) else f"{name} (download)", name)
                combo.setItemData(combo.count() - 1, RELEASES[name].notes, Qt.ToolTipRole)
            self._select(combo, spec)
        self._show_source_target()

    def _connect(self) -> None:
        p = self.panel
        self.inference.processed.connect(self._on_processed)
        self.inference.auto_capture.connect(self._on_auto_capture)
        self.inference.models_state.connect(self._on_models_state)
        self.inference.failed.connect(self._on_inference_failed)
        self.writer.saved.connect(self._on_saved)
        self.writer.failed.connect(self.show_error)
        self.cameras_found.connect(self._on_cameras)

        p.profile.currentIndexChanged.connect(self._on_profile)
        p.auto_capture.toggled.connect(lambda on: self._set("auto_capture", on))
        p.capture_dir.editingFinished.connect(
            lambda: self._set("capture_dir", p.capture_dir.text().strip()))
        p.capture_browse.clicked.connect(self._browse_capture_dir)
        p.capture_button.clicked.connect(lambda: self.capture())

        p.source_kind.currentIndexChanged.connect(self._on_source_kind)
        p.camera.activated.connect(lambda _: self._set_source("camera", p.camera.currentData()))
        p.camera_refresh.clicked.connect(self._probe_cameras)
        p.path.editingFinished.connect(
            lambda: self._set_source(self.settings.source_kind, p.path.text().strip()))
        p.path_browse.clicked.connect(self._browse_source)
        p.loop.toggled.connect(lambda on: self._set("loop", on, restart=True))
        p.resolution.currentIndexChanged.connect(
            lambda _: self._set("resolution", p.resolution.currentData(), restart=True))
        p.mirror.toggled.connect(self._on_mirror)

        p.backend.currentIndexChanged.connect(
            lambda _: self._set("backend", p.backend.currentData(), models=True))
        p.pipeline.currentIndexChanged.connect(
            lambda _: self._set("pipeline", p.pipeline.currentData(), models=True))
        p.det.currentIndexChanged.connect(
            lambda _: self._set("det", p.det.currentData(), models=True))
        p.pose.currentIndexChanged.connect(
            lambda _: self._set("pose", p.pose.currentData(), models=True))
        p.det_browse.clicked.connect(lambda: self._browse_model(p.det, "detector"))
        p.pose_browse.clicked.connect(lambda: self._browse_model(p.pose, "pose"))

        for name in ("show_body", "show_feet", "show_face", "show_hands", "show_boxes",
                     "check_list"):
            getattr(p, name).toggled.connect(lambda on, n=name: self._set(n, on))
        p.stats_overlay.toggled.connect(self._on_stats_overlay)
        p.kpt_thr.valueChanged.connect(lambda v: self._set("kpt_thr", round(v, 2)))

    @staticmethod
    def _select(combo: QComboBox, value: Any) -> None:
        """Select the item whose data is ``value``, adding a file path as a new item."""
        index = combo.findData(value)
        if index < 0:
            combo.addItem(Path(str(value)).name, value)
            index = combo.count() - 1
            combo.setItemData(index, str(value), Qt.ToolTipRole)
        combo.setCurrentIndex(index)

    # -------------------------------------------------------------------- settings changes

    def _set(self, name: str, value: Any, restart: bool = False, models: bool = False) -> None:
        """Apply a change made in the window, save it, restart what depends on it."""
        if getattr(self.settings, name) == value:
            return
        setattr(self.settings, name, value)
        self.store.save(name, value)
        if restart:
            self._start_source()
        if models:
            self.apply_models()
        self._refresh()

    def _on_profile(self) -> None:
        name = self.panel.profile.currentData()
        self._set("profile", name)
        self.inference.set_profile(name)

    def _on_mirror(self, on: bool) -> None:
        self.mirror_action.setChecked(on)
        self._set("mirror", on)

    def _on_stats_overlay(self, on: bool) -> None:
        self.overlay_action.setChecked(on)
        self._set("stats_overlay", on)

    def _on_source_kind(self) -> None:
        self._set("source_kind", self.panel.source_kind.currentData(), restart=True)
        self._show_source_target()
        if self.settings.source_kind == "camera":
            self._probe_cameras()

    def _set_source(self, kind: str, target: Any) -> None:
        """Set the camera index, video or folder (each kind's field is named after it)."""
        self._set(kind, int(target) if kind == "camera" else str(target), restart=True)

    def _show_source_target(self) -> None:
        s, p = self.settings, self.panel
        p.target.setCurrentIndex(0 if s.source_kind == "camera" else 1)
        p.path.setText(s.source_target if s.source_kind != "camera" else "")
        p.loop.setEnabled(s.source_kind != "camera")

    def _browse_source(self) -> None:
        s = self.settings
        start = str(Path(s.source_target).parent) if s.source_target else str(Path.home())
        if s.source_kind == "images":
            path = QFileDialog.getExistingDirectory(self, "Folder of images", start)
        else:
            path, _ = QFileDialog.getOpenFileName(self, "Video file", start, VIDEO_FILTER)
        if path:
            self.panel.path.setText(path)
            self._set_source(s.source_kind, path)

    def _browse_capture_dir(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Save captures in",
                                                str(self.settings.capture_folder))
        if path:
            self.panel.capture_dir.setText(path)
            self._set("capture_dir", path)

    def _browse_model(self, combo: QComboBox, stage: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, f"Choose a {stage} model", str(Path.home()),
                                              MODEL_FILTER)
        if path:
            self._select(combo, path)

    def set_fullscreen(self, on: bool) -> None:
        """Full screen shows the video alone (F toggles, Esc leaves)."""
        self.fullscreen_action.setChecked(on)
        for widget in (self._side, self.menuBar(), self.statusBar()):
            widget.setVisible(not on)
        if on and not self.isFullScreen():
            self.showFullScreen()
        elif not on and self.isFullScreen():
            self.showNormal()

    # ---------------------------------------------------------------------- source

    def _source_spec(self) -> SourceSpec:
        s = self.settings
        return SourceSpec(s.source_kind, s.source_target, s.loop, parse_resolution(s.resolution))

    def _start_source(self) -> None:
        """(Re)start the capture thread on the current source."""
        self._stop_source()
        spec = self._source_spec()
        thread = CaptureThread(spec, self.frames, self._opener, self)
        thread.state.connect(self._on_source_state)
        thread.ended.connect(self._on_source_ended)
        self.capture_thread = thread
        self._source_state = (f"opening {spec.label}…", True)
        self.stats.reset()
        thread.start()

    def _stop_source(self) -> None:
        if self.capture_thread is not None:
            self.capture_thread.stop()
            self.capture_thread = None

    @pyqtSlot(str, bool)
    def _on_source_state(self, message: str, ok: bool) -> None:
        if self.sender() is self.capture_thread:
            self._source_state = (message, ok)
            self._refresh()

    @pyqtSlot(str)
    def _on_source_ended(self, problem: str) -> None:
        if self.sender() is self.capture_thread:
            self.source_ended.emit(problem)

    def _probe_cameras(self) -> None:
        """List the cameras that open, in the background (opening one can take a while)."""
        if self._probe is not None and self._probe.is_alive():
            return
        streaming = self.settings.source_kind == "camera" and self._source_state[1]
        in_use = {self.settings.camera} if streaming else set()
        self._probe = threading.Thread(
            target=lambda: self.cameras_found.emit(probe_cameras(in_use=in_use)),
            name="camera probe", daemon=True)
        self._probe.start()

    @pyqtSlot(list)
    def _on_cameras(self, found: list[int]) -> None:
        combo, current = self.panel.camera, self.settings.camera
        combo.clear()
        for index in sorted(set(found) | {current}):
            combo.addItem(f"Camera {index}" + ("" if index in found else " (not found)"), index)
        combo.setCurrentIndex(combo.findData(current))

    # ---------------------------------------------------------------------- models

    def apply_models(self) -> None:
        """Resolve the chosen models (offering downloads) and load them in the inference thread."""
        s = self.settings
        problem = backend_problem(s.backend)
        if problem is not None:
            self._models_failed(f"backend {s.backend}: {problem}")
            return
        paths = []
        for stage, field in (("detector", "det"), ("pose", "pose")):
            spec = getattr(s, field)
            release = missing_release(spec, stage)
            if release is not None and self.interactive:
                dialog = ModelDialog(release, self)
                if dialog.exec() != QDialog.Accepted:
                    self._models_failed(f"no {stage} model: {release.name} is not downloaded "
                                        f"(choose another in the Models panel, or run "
                                        f"'dwpose fetch {release.name}')")
                    return
                if Path(dialog.path) != cached_path(release.name):  # a file of the user's
                    self._select(getattr(self.panel, field), dialog.path)
                    return  # selecting it applies the models again
            try:
                paths.append(str(resolve_model(spec, stage, download=False)))
            except UserError as exc:
                self._models_failed(str(exc))
                return
        self._refresh_model_labels()
        self.inference.set_models(ModelSpec(paths[0], paths[1], s.backend, s.pipeline,
                                            s.det_size or None, s.det_norm or None))

    def _refresh_model_labels(self) -> None:
        for combo, stage in ((self.panel.det, "detector"), (self.panel.pose, "pose")):
            for name in release_names(stage):
                i = combo.findData(name)
                combo.setItemText(i, name if is_cached(name) else f"{name} (download)")

    def _models_failed(self, message: str) -> None:
        """Report why the chosen models cannot run, and stop running the previous ones."""
        self.inference.set_models(None)
        self._model_state = ("failed", message)
        self.model_problem.emit(message)
        self._refresh()

    @pyqtSlot(str, str)
    def _on_models_state(self, state: str, message: str) -> None:
        if state == "failed":
            self._models_failed(message)
        else:
            self._model_state = (state, message)
            self._refresh()

    @pyqtSlot(str)
    def _on_inference_failed(self, message: str) -> None:
        self.show_error(f"Inference error: {message}")

    @pyqtSlot(str)
    def show_error(self, message: str) -> None:
        """Show ``message`` over the picture for ``ERROR_SHOW_S`` seconds."""
        self._error = (message, time.perf_counter())
        self._refresh()

    # ---------------------------------------------------------------------- frames

    @pyqtSlot()
    def _on_processed(self) -> None:
        p = self.inference.results.get()
        if p is None or self._closing:
            return
        self.current = p
        guided = p.guidance.person if p.guidance is not None else None
        self.view.set_frame(p.packet.image, p.smoothed, guided)
        self.stats.update(p, time.perf_counter())
        self._refresh()
        if p.result is not None:
            self.inferred_shown += 1
            self.shown.emit(p)

    @pyqtSlot(object)
    def _on_auto_capture(self, p: Processed) -> None:
        if self.settings.auto_capture and not self._closing:
            self.capture(p)

    def capture(self, p: Processed | None = None) -> None:
        """Save ``p`` (default: the frame on screen) into a new capture folder."""
        if self._closing:
            return
        p = p or self.current
        if p is None or p.result is None:
            self._notice = ("Nothing to capture yet: no keypoints (models loading?)",
                            time.perf_counter())
            self._refresh()
            return
        self.writer.submit(self.settings.capture_folder, p.packet.image, p.result,
                           p.packet.index)

    @pyqtSlot(str)
    def _on_saved(self, folder: str) -> None:
        name = Path(folder).name
        self._notice = (f"Captured {name}", time.perf_counter())
        self.panel.last_capture.setText(f"Last capture: {name}")
        self.panel.last_capture.setToolTip(folder)
        self.panel.last_capture.setVisible(True)
        self._refresh()
        self.captured.emit(folder)

    # ---------------------------------------------------------------------- display

    def overlay_state(self) -> OverlayState:
        """What the view paints over the current frame."""
        s, p, now = self.settings, self.current, time.perf_counter()
        state = OverlayState()
        g = p.guidance if p is not None else None
        if g is not None:
            # The guide works in camera coordinates; a mirrored view flips its arrows.
            instruction = g.instruction.mirrored() if g.instruction and s.mirror else g.instruction
            state.instruction = instruction.text if instruction else None
            state.direction = instruction.direction if instruction else Direction.NONE
            state.ready = g.ready
            capture_after = self.inference.guide.config.capture_after
            state.progress = min(g.ready_for / capture_after, 1.0) if s.auto_capture else None
            state.checks = g.checks if s.check_list else ()
        if s.stats_overlay and p is not None:
            state.stats = self.stats.lines()
        message, ok = self._source_state
        if not ok:
            state.problems.append(message)
        if self._model_state[0] == "failed":
            state.problems.append(self._model_state[1])
        if self._error is not None and now - self._error[1] < ERROR_SHOW_S:
            state.problems.append(self._error[0])
        if self._notice is not None and now - self._notice[1] < NOTICE_SHOW_S:
            state.notice = self._notice[0]
        if p is None:
            state.placeholder = message[:1].upper() + message[1:] if ok else "No picture yet"
        return state

    def _refresh(self) -> None:
        """Bring view options, overlay and status bar up to date."""
        s = self.settings
        self.view.set_options(DrawOptions(s.parts, s.kpt_thr, s.show_boxes, s.mirror))
        self.view.set_overlay(self.overlay_state())
        message, ok = self._source_state
        state, model_message = self._model_state
        models = f"{model_label(s.det)} + {model_label(s.pose)}"
        runner = self.inference.runner  # the pipeline "auto" chose, once loaded
        backend = f"Backend: {s.backend}" + (auto_choice() if s.backend == "auto" else "")
        backend += f" ({runner.kind})" if runner is not None else ""
        texts = {"source": (message, ok), "backend": (backend, True),
                 "models": (f"Models: {models}" + ("" if state == "loaded" else
                                                   f" ({model_message})"), state != "failed")}
        for name, (text, good) in texts.items():
            label = self.status_labels[name]
            label.setText(text if len(text) <= STATUS_CHARS else text[:STATUS_CHARS - 1] + "…")
            label.setToolTip(text)
            label.setStyleSheet("" if good else "color: #c0392b; font-weight: bold")

    # ---------------------------------------------------------------------- closing

    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop and join every thread; pending captures are written first."""
        self._closing = True
        self.store.save_geometry(self.saveGeometry())
        self._timer.stop()
        self._stop_source()
        self.inference.stop()
        self.writer.close()
        if self._probe is not None:
            self._probe.join()
        super().closeEvent(event)
