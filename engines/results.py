"""Results in the COCO keypoint results format, written as a stream so nothing is lost.

Each person becomes ``{"image_id", "file_name", "category_id": 1, "bbox": [x, y, w, h],
"keypoints": [x1, y1, s1, ... 133 triples], "score", "track_id"}``; for a video ``image_id`` is
the frame index, for images it is the number in the file name when the stem is all digits (COCO's
``000000000785.jpg`` -> 785, so results match COCO ground truth) and the position otherwise.
The keypoints of the parts left out (``parts``) are written 0, 0, 0 (the format has a place for
every point); ``score`` is the person's, from every keypoint the model gave.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .files import AtomicFile
from .pipeline import FrameResult
from .skeleton import PARTS, part_mask


def image_id_for(name: str, index: int) -> int:
    stem = Path(name).stem
    return int(stem) if stem.isdigit() else index


def coco_results(result: FrameResult, image_id: int, file_name: str,
                 parts: Iterable[str] = tuple(PARTS)) -> list[dict]:
    """One COCO results entry per person of ``result``, with the keypoints of ``parts``."""
    entries = []
    person_scores = result.person_scores()
    kept = part_mask(parts)[:, None]
    for i in range(len(result)):
        x1, y1, x2, y2 = (float(v) for v in result.boxes[i])
        triples = np.where(kept, np.concatenate(
            [result.keypoints[i], result.scores[i][:, None]], axis=1), 0.0)
        entries.append({
            "image_id": image_id,
            "file_name": file_name,
            "category_id": 1,
            "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
            "keypoints": [round(float(v), 4) for v in triples.ravel()],
            "score": round(float(person_scores[i]), 6),
            "track_id": int(result.track_ids[i]),
        })
    return entries


class ResultsWriter:
    """Streams a JSON list to ``path`` through a temporary file renamed into place on close
    (``engines.files.AtomicFile``).

    Closing after an interruption still writes a valid file with everything so far; a failed
    write is a one-line error naming the file, and the partial list is dropped.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = AtomicFile(self.path, "results", text=True)
        self._file.write("[")
        self.count = 0

    def extend(self, entries: list[dict]) -> None:
        for entry in entries:
            self._file.write(("\n" if self.count == 0 else ",\n") + json.dumps(entry))
            self.count += 1

    @property
    def committed(self) -> bool:
        """True once the complete file is in place (False after a failed write)."""
        return self._file.committed

    def close(self) -> None:
        if self._file.closed:
            return
        self._file.write("\n]\n")
        self._file.commit()

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
