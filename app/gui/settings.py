"""The app's settings: one dataclass, persisted field by field with QSettings.

Only a change made in the window is written (:meth:`SettingsStore.save`), so command-line
options (``--source``, ``--det``...) apply to one run without replacing what the user chose.
Tests and headless runs pass their own file (``SettingsStore(path)``), never the user's.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from PyQt5.QtCore import QByteArray, QSettings

from engines.hub import default_models
from engines.overlap import PIPELINE_MODES

ORGANIZATION = APPLICATION = "dwpose-guide"

#: Source kinds of :class:`Settings.source_kind`.
SOURCE_KINDS = ("camera", "video", "images")
#: The allowed values of the fields that have a fixed set of them.
CHOICES = {"source_kind": SOURCE_KINDS, "pipeline": PIPELINE_MODES,
           "det_norm": ("", "yolox", "rtmdet")}


def default_capture_dir() -> str:
    return str(Path.home() / "dwpose-captures")


@dataclass
class Settings:
    """Everything the window remembers between runs."""

    source_kind: str = "camera"  # one of SOURCE_KINDS
    camera: int = 0
    video: str = ""
    images: str = ""
    loop: bool = True  # restart a video or an image folder at its end
    resolution: str = "1280x720"  # WxH asked of a camera (files: fitted into it); "" = native
    mirror: bool = True  # selfie view
    backend: str = "auto"  # "auto" (engines.backends.auto) or a key of BACKENDS
    pipeline: str = "auto"  # serial or overlapped models: one of PIPELINE_MODES
    det: str = default_models()["detector"]  # release name or path: this machine's default
    pose: str = default_models()["pose"]
    det_size: int = 0  # input size of a detector file that leaves it open; 0 = its default
    det_norm: str = ""  # end2end detector normalisation ("yolox", "rtmdet"); "" = the file's
    profile: str = "full_body"
    stats_overlay: bool = True  # FPS and per-stage latency
    check_list: bool = True
    show_body: bool = True
    show_feet: bool = True
    show_face: bool = True
    show_hands: bool = True
    show_boxes: bool = True
    kpt_thr: float = 0.3
    auto_capture: bool = True
    capture_dir: str = ""  # "" = default_capture_dir()

    @property
    def source_target(self) -> str:
        """The camera index or path of the chosen source kind."""
        return {"camera": str(self.camera), "video": self.video,
                "images": self.images}[self.source_kind]

    @property
    def parts(self) -> tuple[str, ...]:
        """Skeleton parts to draw, as ``engines.draw.draw_skeleton`` names them."""
        chosen = (("body", self.show_body), ("foot", self.show_feet),
                  ("face", self.show_face), ("hand", self.show_hands))
        return tuple(name for name, on in chosen if on)

    @property
    def capture_folder(self) -> Path:
        return Path(self.capture_dir or default_capture_dir()).expanduser()


class SettingsStore:
    """Reads and writes :class:`Settings` (``path``: an ini file; None: the user's settings)."""

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            self.qsettings = QSettings(QSettings.IniFormat, QSettings.UserScope,
                                       ORGANIZATION, APPLICATION)
        else:
            self.qsettings = QSettings(str(path), QSettings.IniFormat)

    def load(self) -> Settings:
        """The stored settings; a missing or unreadable value keeps its default."""
        settings = Settings()
        for f in fields(Settings):
            default = getattr(settings, f.name)
            try:
                value = self.qsettings.value(f.name, default, type=type(default))
            except TypeError:
                continue
            if f.name in CHOICES and value not in CHOICES[f.name]:
                continue
            setattr(settings, f.name, value)
        return settings

    def save(self, name: str, value: Any) -> None:
        """Write one field now (so a crash loses nothing)."""
        self.qsettings.setValue(name, value)
        self.qsettings.sync()

    def geometry(self) -> QByteArray | None:
        value = self.qsettings.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    def save_geometry(self, geometry: QByteArray) -> None:
        self.save("window/geometry", geometry)
