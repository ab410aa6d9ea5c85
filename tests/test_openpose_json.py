"""engines.openpose.openpose_json through every loader's rules (tests/openpose_loaders.py, from
../shared/reference/openpose-json-loaders.md): what we write is what each tool reads, on
random people with points off the canvas and on the real COCO-WholeBody annotations."""
from __future__ import annotations

import json

import numpy as np
import pytest

from engines import openpose as op
from engines import skeleton
from tests import openpose_loaders as loaders
from tests.test_openpose import _coco_people, _random_people

H, W = 240, 320
PART_KEYS = {"body": (op.BODY, "pose_keypoints_2d"), "face": (op.FACE, "face_keypoints_2d"),
             "left_hand": (op.LEFT_HAND, "hand_left_keypoints_2d"),
             "right_hand": (op.RIGHT_HAND, "hand_right_keypoints_2d")}


def _doc(kpts, scores, h=H, w=W, **options) -> dict:
    """What a file holds: the JSON text read back."""
    return json.loads(json.dumps(op.openpose_json(kpts, scores, h, w, **options)))


def _cases():
    rng = np.random.default_rng(11)
    for spread in (0.3, 1.0, 2.0):  # 2.0: many points off the canvas
        kpts, scores = _random_people(rng, 3, H, W, spread, np.float64)
        yield f"random-{spread}", kpts, scores, H, W
    kpts, scores = _random_people(rng, 2, H, W, 0.5, np.float64)
    scores[0] = 0.0  # a person with no point at all
    scores[1, 91:133] = 0.1  # no hand
    yield "empty-parts", kpts, scores, H, W
    rng = np.random.default_rng(3)
    yield "edges", np.array([[[0.0, 5.0], [1.0, 1.0], [1.0, 2.0], [W - 0.01, H - 0.01], [W, 5.0],
                              [5.0, H], [0.999, 100.0]] + [[50.0, 60.0]] * 126]), \
        np.ones((1, 133)), H, W


@pytest.mark.parametrize("loader", sorted(loaders.LOADERS))
@pytest.mark.parametrize("parts", [op.ALL_PARTS, ("body", "hand"), ("face",), ("left_hand",)])
def test_every_loader_reads_what_was_written(loader, parts):
    read = loaders.LOADERS[loader]
    for name, kpts, scores, h, w in _cases():
        doc = _doc(kpts, scores, h, w, parts=parts)
        assert loaders.same_people(read(doc), loaders.written(doc)), (loader, name)


def test_controlnet_aux_reads_the_first_frame_of_a_list():
    kpts, scores = _random_people(np.random.default_rng(1), 2, H, W, 0.5, np.float64)
    doc = _doc(kpts, scores)
    assert loaders.same_people(loaders.controlnet_aux_render([doc, {}]), loaders.written(doc))


def test_written_points_are_the_present_ones_on_the_canvas():
    """Present = score >= 0.3, on the canvas (1 <= x < W, 1 <= y < H, not (1, 1)) and in the
    parts asked for; at the OpenPose-form coordinates, c exactly 1.0; else 0, 0, 0."""
    for name, kpts, scores, h, w in _cases():
        k134, s134 = op.to_openpose(kpts, scores)
        x, y = k134[..., 0], k134[..., 1]
        on_canvas = (x >= 1) & (x < w) & (y >= 1) & (y < h) & ((x > 1) | (y > 1))
        for parts in (op.ALL_PARTS, ("body", "left_hand")):
            doc = _doc(kpts, scores, h, w, parts=parts)
            assert doc["canvas_height"] == h and doc["canvas_width"] == w and doc["animals"] == []
            assert isinstance(doc["canvas_height"], int) and len(doc["people"]) == len(kpts)
            wanted = skeleton.part_mask(parts)
            for n, person in enumerate(doc["people"]):
                for part, (span, key) in PART_KEYS.items():
                    in_parts = bool(wanted[skeleton.PARTS[part].start])
                    if not in_parts and part != "body":
                        assert person[key] is None, (name, part)
                        continue
                    triples = np.array(person[key]).reshape(-1, 3)[:span.stop - span.start]
                    for j, (px, py, c) in enumerate(triples):
                        i = span.start + j
                        if in_parts and s134[n, i] >= 0.3 and on_canvas[n, i]:
                            assert (px, py, c) == (k134[n, i, 0], k134[n, i, 1], 1.0)
                        else:
                            assert (px, py, c) == (0.0, 0.0, 0.0), (name, part, j)
    # the edge case: (0, 5), (1, 1), (W, 5), (5, H), (0.999, 100) are dropped; (1, 2) is kept
    _, kpts, scores, h, w = list(_cases())[-1]
    body = np.array(_doc(kpts, scores, h, w)["people"][0]["pose_keypoints_2d"]).reshape(18, 3)
    # COCO-18 from mmpose: nose 0 <- 0, right eye 14 <- 2, left eye 15 <- 1, right ear 16 <- 4,
    # left ear 17 <- 3, left shoulder 5 <- 5, right shoulder 2 <- 6
    assert body[0, 2] == 0 and body[15, 2] == 0 and body[14].tolist() == [1.0, 2.0, 1.0]
    assert body[17].tolist() == [W - 0.01, H - 0.01, 1.0]
    assert body[16, 2] == body[5, 2] == body[2, 2] == 0


def test_the_rules_matter():
    """Files that break a rule are misread by the loaders above (so the round trips can
    fail): a hand point beyond the canvas, a part whose only point is at (1, 1), a score as c."""
    kpts, scores = _random_people(np.random.default_rng(9), 1, H, W, 0.2, np.float64)
    scores[:] = 0.9
    good = _doc(kpts, scores)
    beyond = json.loads(json.dumps(good))
    beyond["people"][0]["hand_left_keypoints_2d"][0] = W + 30.0  # unclamped, as before
    assert not loaders.same_people(loaders.ultimate_editor_ui(beyond), loaders.written(beyond))
    corner = json.loads(json.dumps(good))
    corner["people"][0]["hand_right_keypoints_2d"] = [1.0, 1.0, 1.0] + [0.0] * 60
    assert not loaders.same_people(loaders.sd_webui_controlnet(corner), loaders.written(corner))
    raw = json.loads(json.dumps(good))
    raw["people"][0]["pose_keypoints_2d"][2] = 0.93  # a score instead of 1.0: dropped
    assert loaders.sd_webui_controlnet(raw)[0]["body"][0] is None


def test_a_body_for_every_person_and_null_parts_left_out():
    kpts, scores = _random_people(np.random.default_rng(2), 2, H, W, 0.5, np.float64)
    doc = _doc(kpts, scores, parts=("face",))
    for person in doc["people"]:
        assert person["pose_keypoints_2d"] == [0.0] * 54  # the format needs a body
        assert len(person["face_keypoints_2d"]) == 210
        assert person["hand_left_keypoints_2d"] is None
        assert person["hand_right_keypoints_2d"] is None
    # ControlNet takes a person with an empty body; the sd-webui editor keeps its face
    assert len(loaders.sd_webui_controlnet(doc)) == 2
    assert loaders.sd_webui_openpose_editor(doc)[0]["face"] is not None
    assert op.openpose_json(np.zeros((0, 133, 2)), np.zeros((0, 133)), H, W)["people"] == []


def test_face70_appends_the_pupils_in_openpose_order():
    """Points 68 and 69: right then left pupil, each the mean of its eye's six contour points
    (iBUG 36-41 is the right eye: the subject's right, seen on the image's left)."""
    face0 = skeleton.PARTS["face"].start
    kpts = np.full((1, 133, 2), 100.0)
    scores = np.ones((1, 133))
    right = np.array([[60, 50], [64, 47], [68, 47], [72, 50], [68, 53], [64, 53]], float)
    left = right + [40, 0]
    kpts[0, face0 + 36:face0 + 42] = right
    kpts[0, face0 + 42:face0 + 48] = left
    face = _doc(kpts, scores)["people"][0]["face_keypoints_2d"]
    assert len(face) == 210
    assert face[204:] == [66.0, 50.0, 1.0, 106.0, 50.0, 1.0]
    # the right eye seen on the image's left, as the body's right eye (COCO right_eye)
    assert skeleton.KEYPOINT_NAMES[face0 + 36] == "face-36"
    scores[0, face0 + 44] = 0.1  # one left-eye point hidden: no left pupil
    face = _doc(kpts, scores)["people"][0]["face_keypoints_2d"]
    assert face[204:] == [66.0, 50.0, 1.0, 0.0, 0.0, 0.0]
    assert len(_doc(kpts, scores, face70=False)["people"][0]["face_keypoints_2d"]) == 204


def test_the_sd_webui_editor_needs_the_70_point_face():
    """Why face70 is the default: the editor drops a 68-point face (the person stays)."""
    kpts, scores = _random_people(np.random.default_rng(4), 1, H, W, 0.3, np.float64)
    assert loaders.sd_webui_openpose_editor(_doc(kpts, scores, face70=False))[0]["face"] is None
    assert loaders.sd_webui_openpose_editor(_doc(kpts, scores))[0]["face"] is not None


def test_real_annotations_round_trip_in_every_loader():
    for image, kpts, vis in _coco_people():
        h, w = image["height"], image["width"]
        doc = _doc(kpts, vis, h, w)  # visibility 1 / 2 as scores: every annotated point
        for name, read in loaders.LOADERS.items():
            assert loaders.same_people(read(doc), loaders.written(doc)), (name,
                                                                          image["file_name"])
        # every annotated on-canvas body point is there, at its annotated place
        k134, s134 = op.to_openpose(kpts, vis)
        for n, person in enumerate(doc["people"]):
            body = np.array(person["pose_keypoints_2d"]).reshape(18, 3)
            shown = (s134[n, :18] >= 0.3) & (k134[n, :18, 0] >= 1) & (k134[n, :18, 1] >= 1)
            np.testing.assert_array_equal(body[:, 2] == 1.0, shown)
            np.testing.assert_array_equal(body[shown, :2], k134[n, :18][shown])


def _read_body25(doc: dict) -> list[dict[str, tuple[float, float] | None]]:
    """A BODY_25 reader: 25 triples per person, named in OpenPose's BODY_25 order."""
    names = ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
             "left_elbow", "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle",
             "left_hip", "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear",
             "left_ear", "left_big_toe", "left_small_toe", "left_heel", "right_big_toe",
             "right_small_toe", "right_heel")
    assert names == op.BODY25_NAMES
    people = []
    for person in doc["people"]:
        triples = np.array(person["pose_keypoints_2d"]).reshape(-1, 3)
        assert len(triples) == 25
        people.append({name: (x, y) if c == 1.0 else None
                       for name, (x, y, c) in zip(names, triples)})
    return people


def test_body25_known_answer():
    """Each BODY_25 point is the COCO-WholeBody point of its name; the mid-hip is the mean of
    the hips when both score > 0.3 (like the neck); the feet are COCO-WholeBody's 17-22."""
    kpts = np.stack([10.0 + np.arange(133.0), 20.0 + 0.5 * np.arange(133.0)], axis=-1)[None]
    scores = np.full((1, 133), 0.9)
    people = _read_body25(_doc(kpts, scores, 400, 400, layout="body25"))
    got = people[0]
    for name, point in got.items():
        if name == "neck":
            expected = kpts[0, [5, 6]].mean(axis=0)
        elif name == "mid_hip":
            expected = kpts[0, [11, 12]].mean(axis=0)
        else:
            expected = kpts[0, skeleton.KEYPOINT_INDEX[name]]
        assert point == tuple(expected), name
    assert [skeleton.KEYPOINT_INDEX[n] for n in op.BODY25_NAMES[19:]] == list(range(17, 23))
    scores[0, 12] = 0.3  # right hip at the threshold: no mid-hip (both must be > 0.3)
    assert _read_body25(_doc(kpts, scores, 400, 400, layout="body25"))[0]["mid_hip"] is None
    scores[0, 17:23] = 0.9
    no_feet = _doc(kpts, scores, 400, 400, layout="body25", parts=("body", "face", "hand"))
    assert all(_read_body25(no_feet)[0][n] is None for n in op.BODY25_NAMES[19:])
    # face and hands are as in COCO-18
    coco = _doc(kpts, scores, 400, 400)
    body25 = _doc(kpts, scores, 400, 400, layout="body25")
    for key in ("face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d"):
        assert body25["people"][0][key] == coco["people"][0][key]


def test_body25_is_not_for_the_editors():
    """What --help says: the sd-webui editor fails on 25 body points and ControlNet reads
    them as COCO-18 (points from 8 on are shifted)."""
    kpts, scores = _random_people(np.random.default_rng(8), 1, H, W, 0.3, np.float64)
    scores[:] = 0.9
    doc = _doc(kpts, scores, layout="body25")
    with pytest.raises(TypeError):
        loaders.sd_webui_openpose_editor(doc)
    misread = loaders.sd_webui_controlnet(doc)[0]["body"]
    right = loaders.sd_webui_controlnet(_doc(kpts, scores))[0]["body"]
    assert misread[:8] == right[:8]  # nose to left wrist agree
    assert misread[8] != right[8]  # the mid-hip taken for the right hip
    assert misread[9:] == right[8:17]  # and every point after it one place off


def test_invalid_layout():
    with pytest.raises(ValueError):
        op.openpose_json(np.zeros((1, 133, 2)), np.zeros((1, 133)), H, W, layout="body_25")
