"""What each OpenPose-JSON loader reads from a file, written from the rules that
../shared/reference/openpose-json-loaders.md reads off each tool's code (one function per
tool, its rules in its docstring). Each returns the people the tool shows or draws:

    [{"body": [point] * 18, "face": [point] * n | None, "left_hand": ..., "right_hand": ...}]

with ``point`` ``(x, y)`` in canvas pixels, or None where the tool hides the point; a part is
None when the tool has no such part. Where the tool fails on a file, the function raises what
the tool raises (KeyError, TypeError, IndexError, AssertionError). Where a tool takes a part
as normalised coordinates, it scales it as the tool does, so a writer whose part was misread
gets the wrong points back.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Optional

Point = Optional[tuple[float, float]]
Person = dict[str, Optional[list[Point]]]

PARTS = {"body": "pose_keypoints_2d", "face": "face_keypoints_2d",
         "left_hand": "hand_left_keypoints_2d", "right_hand": "hand_right_keypoints_2d"}
MIN_POINTS = {"body": 18, "face": 70, "left_hand": 21, "right_hand": 21}
NUM_BODY = 18  # COCO-18: points 0..17 are drawn


def _triples(numbers: list[float]) -> list[tuple[float, float, float]]:
    assert len(numbers) % 3 == 0
    return [tuple(numbers[i:i + 3]) for i in range(0, len(numbers), 3)]


def _canvas(doc: dict) -> tuple[int, int]:
    """``canvas_height`` / ``canvas_width``: required (KeyError), and the shape of a
    ``np.zeros`` canvas, so positive integers (TypeError otherwise)."""
    h, w = doc["canvas_height"], doc["canvas_width"]
    for v in (h, w):
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise TypeError(f"canvas size {v!r} is not a positive integer")
    return h, w


def sd_webui_openpose_editor(doc: Any, canvas: tuple[int, int] | None = None) -> list[Person]:
    """huchenlei/sd-webui-openpose-editor (parseOpenposeJson, loadPeopleFromJson, Openpose.ts).

    A top-level array finds no people (Upload JSON). ``canvas_width``/``height`` are required.
    Per part, when every number (c included) has |v| <= 1 the part is normalised: x * W, y * H.
    A body with fewer than 18 points skips the person; more than 18 throw (18 body colours).
    A face needs >= 70 points, a hand >= 21, else the part is skipped; null is no part. A point
    shows when x > 0, y > 0 and c === 1.
    """
    if isinstance(doc, list):
        return []
    h, w = (doc["canvas_height"], doc["canvas_width"]) if canvas is None else canvas
    people = []
    for raw in doc["people"]:
        person: Person = {}
        for part, key in PARTS.items():
            numbers = raw.get(key)
            if numbers is None or len(numbers) // 3 < MIN_POINTS[part]:
                person[part] = None
                continue
            if part == "body" and len(numbers) // 3 > NUM_BODY:
                raise TypeError("formatColor(undefined): more than 18 body points")
            scale = (w, h) if all(abs(v) <= 1 for v in numbers) else (1, 1)
            person[part] = [(x * scale[0], y * scale[1]) if x > 0 and y > 0 and c == 1 else None
                            for x, y, c in _triples(numbers)]
        if person["body"] is not None:
            people.append(person)
    return people


def sd_webui_controlnet(doc: Any) -> list[Person]:
    """Mikubill/sd-webui-controlnet (decode_json_as_poses, draw_poses, util.draw_*pose).

    ``canvas_height``/``width`` required, positive ints. A falsy part (missing, null, []) is
    None; lengths are multiples of 3; a point with c < 1.0 is None. A part whose present
    points all lie in [-1, 1] is normalised already; others are pixels. A None body fails
    (TypeError), fewer than 18 body points too (IndexError); points 0..17 are drawn in COCO-18
    order. Hands need >= 21 points (IndexError); hand and face points are drawn only where
    int(x) >= 1 and int(y) >= 1 (canvas pixels). Face: 68 or 70 points.
    """
    h, w = _canvas(doc)
    people = []
    for raw in doc["people"]:
        person: Person = {}
        for part, key in PARTS.items():
            numbers = raw.get(key)
            if not numbers:
                person[part] = None
                continue
            points = [(x, y) if c >= 1.0 else None for x, y, c in _triples(numbers)]
            present = [p for p in points if p is not None]
            normalised = bool(present) and all(abs(v) <= 1 for p in present for v in p)
            scale = (w, h) if normalised else (1, 1)
            person[part] = [None if p is None else (p[0] * scale[0], p[1] * scale[1])
                            for p in points]
        if person["body"] is None:
            raise TypeError("'NoneType' object is not iterable (draw_bodypose)")
        if len(person["body"]) < NUM_BODY:
            raise IndexError("list index out of range (draw_bodypose)")
        person["body"] = person["body"][:NUM_BODY]
        for part in ("left_hand", "right_hand", "face"):
            points = person[part]
            if points is None:
                continue
            if part != "face" and len(points) < MIN_POINTS[part]:
                raise IndexError("list index out of range (draw_handpose)")
            person[part] = [p if p is not None and int(p[0]) >= 1 and int(p[1]) >= 1 else None
                            for p in points]
        people.append(person)
    return people


def controlnet_aux_render(doc: Any) -> list[Person]:
    """Fannovel16/comfyui_controlnet_aux 'Render Pose JSON (Human)': the rules of
    sd-webui-controlnet; POSE_KEYPOINT is a list of frames of which element 0 is rendered, and
    a bare object is accepted."""
    return sd_webui_controlnet(doc[0] if isinstance(doc, list) else doc)


def _ultimate_frames(doc: Any) -> list[dict]:
    """westNeighbor/ComfyUI-ultimate-openpose-editor's node (load_pose, pose_normalized): every
    frame needs people and an integer canvas; a frame where some part's largest number is above
    2.0 is in pixels and every part is divided by W, H; null parts become []. Its output
    carries normalised coordinates."""
    frames = []
    for frame in doc if isinstance(doc, list) else [doc]:
        h, w = _canvas(frame)
        parts = [p or [] for person in frame["people"] for p in
                 (person.get(key) for key in PARTS.values())]
        pixels = any(max(p) > 2.0 for p in parts if p)
        people = []
        for person in frame["people"]:
            out = {}
            for key in PARTS.values():
                numbers = person.get(key) or []
                triples = _triples(numbers)
                out[key] = [v for x, y, c in triples
                            for v in ((x / w, y / h, c) if pixels else (x, y, c))]
            people.append(out)
        frames.append({"people": people, "canvas_height": h, "canvas_width": w})
    return frames


def ultimate_editor_node(doc: Any) -> list[Person]:
    """ComfyUI-ultimate-openpose-editor's node drawing (draw_pose_json, draw_*pose) of frame 0:
    a body point is present iff c > 0 (>= 18 points, 0..17 drawn); face and hand confidence is
    ignored, a point is drawn where int(x * W) >= 1 and int(y * H) >= 1; hands need >= 21
    points."""
    frame = _ultimate_frames(doc)[0]
    h, w = frame["canvas_height"], frame["canvas_width"]
    people = []
    for raw in frame["people"]:
        person: Person = {}
        for part, key in PARTS.items():
            triples = _triples(raw[key])
            if not triples:
                person[part] = None
                continue
            if len(triples) < MIN_POINTS[part] and part != "face":
                raise IndexError(f"list index out of range ({part})")
            if part == "body":
                person[part] = [(x * w, y * h) if c > 0 else None for x, y, c in triples[:18]]
            else:
                person[part] = [(x * w, y * h) if int(x * w) >= 1 and int(y * h) >= 1 else None
                                for x, y, _ in triples]
        people.append(person)
    return people


def ultimate_editor_ui(doc: Any) -> list[Person]:
    """ComfyUI-ultimate-openpose-editor's editor view: the node's normalised output of frame 0
    opened with the sd-webui-openpose-editor rules on the frame's own canvas (a part with a
    number beyond [-1, 1] is then read as pixels and lands in the top-left corner)."""
    frame = _ultimate_frames(doc)[0]
    return sd_webui_openpose_editor(frame, (frame["canvas_height"], frame["canvas_width"]))


#: every loader that reads COCO-18 OpenPose JSON, by the name the reference gives it
LOADERS: dict[str, Callable[[Any], list[Person]]] = {
    "sd-webui-openpose-editor": sd_webui_openpose_editor,
    "sd-webui-controlnet": sd_webui_controlnet,
    "controlnet_aux-render": controlnet_aux_render,
    "ultimate-editor-node": ultimate_editor_node,
    "ultimate-editor-ui": ultimate_editor_ui,
}


def written(doc: dict) -> list[Person]:
    """What a file says, read literally: present points (c == 1) at their pixels."""
    return [{part: None if person[key] is None else
             [(x, y) if c == 1.0 else None for x, y, c in _triples(person[key])]
             for part, key in PARTS.items()} for person in doc["people"]]


def same_people(got: list[Person], want: list[Person], tol: float = 1e-6) -> bool:
    """Equal people: the same parts, the same hidden points, present points within ``tol``
    px (the normalising loaders divide and multiply by the canvas)."""
    if len(got) != len(want):
        return False
    for a, b in zip(got, want):
        for part in PARTS:
            pa, pb = a[part], b[part]
            if pa is None or pb is None:
                if pa is not pb:
                    return False
                continue
            if len(pa) != len(pb):
                return False
            for p, q in zip(pa, pb):
                if (p is None) != (q is None) or (p is not None and not all(
                        math.isclose(u, v, abs_tol=tol) for u, v in zip(p, q))):
                    return False
    return True
