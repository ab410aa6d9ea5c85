"""engines.skeleton: the COCO-WholeBody facts every module shares.

Expected values are mmpose's ``configs/_base_/datasets/coco_wholebody.py`` (names, swap pairs,
skeleton_info links and colours, sigmas).
"""

from __future__ import annotations

import numpy as np
import pytest

from engines import skeleton as S


def test_counts_and_shapes():
    assert S.NUM_KEYPOINTS == 133
    assert len(S.KEYPOINT_NAMES) == 133
    assert len(set(S.KEYPOINT_NAMES)) == 133
    assert len(S.LINKS) == 65
    assert len(S.LINK_PARTS) == 65
    assert S.LINK_COLORS.shape == (65, 3) and S.LINK_COLORS.dtype == np.uint8
    assert S.KEYPOINT_COLORS.shape == (133, 3) and S.KEYPOINT_COLORS.dtype == np.uint8
    assert S.FLIP_INDICES.shape == (133,)
    assert np.issubdtype(S.FLIP_INDICES.dtype, np.integer)
    assert S.SIGMAS.shape == (133,) and S.SIGMAS.dtype.kind == "f"


def test_names_follow_mmpose():
    names = S.KEYPOINT_NAMES
    assert names[:5] == ("nose", "left_eye", "right_eye", "left_ear", "right_ear")
    assert names[15:17] == ("left_ankle", "right_ankle")
    assert names[17:23] == (
        "left_big_toe", "left_small_toe", "left_heel",
        "right_big_toe", "right_small_toe", "right_heel",
    )  # fmt: skip
    assert names[23] == "face-0" and names[90] == "face-67"
    assert names[91:97] == (
        "left_hand_root", "left_thumb1", "left_thumb2", "left_thumb3", "left_thumb4",
        "left_forefinger1",
    )  # fmt: skip
    assert names[100] == "left_middle_finger1"
    assert names[104] == "left_ring_finger1"
    assert names[108] == "left_pinky_finger1"
    assert names[112] == "right_hand_root"
    assert names[132] == "right_pinky_finger4"
    assert all(S.KEYPOINT_INDEX[n] == i for i, n in enumerate(names))


def test_parts_partition_all_keypoints():
    assert list(S.PARTS) == ["body", "foot", "face", "left_hand", "right_hand"]
    expected = {
        "body": (0, 17), "foot": (17, 23), "face": (23, 91),
        "left_hand": (91, 112), "right_hand": (112, 133),
    }  # fmt: skip
    assert {k: (r.start, r.stop) for k, r in S.PARTS.items()} == expected
    covered = sorted(i for r in S.PARTS.values() for i in r)
    assert covered == list(range(133))  # no gap, no overlap


def test_part_mask():
    assert S.part_mask(["body"]).sum() == 17
    assert S.part_mask(["face"])[23:91].all() and S.part_mask(["face"]).sum() == 68
    hand = S.part_mask(["hand"])
    assert np.array_equal(hand, S.part_mask(["left_hand", "right_hand"]))
    assert hand.sum() == 42 and hand[91:133].all()
    assert S.part_mask([]).sum() == 0
    assert S.part_mask(["body", "foot", "face", "hand"]).all()
    assert np.array_equal(S.part_mask("foot"), S.part_mask(["foot"]))
    with pytest.raises(ValueError, match="unknown skeleton part"):
        S.part_mask(["tail"])


def test_flip_indices_is_an_involution_mapping_left_to_right():
    flip = S.FLIP_INDICES
    assert sorted(flip.tolist()) == list(range(133))  # a permutation
    assert np.array_equal(flip[flip], np.arange(133))  # an involution
    for i, name in enumerate(S.KEYPOINT_NAMES):
        mirror = S.KEYPOINT_NAMES[flip[i]]
        if name.startswith("left_"):
            assert mirror == "right_" + name[len("left_") :]
        elif name.startswith("right_"):
            assert mirror == "left_" + name[len("right_") :]
    # face (mmpose swap fields): jaw ends, chin, eyes, nose bridge, mouth corners
    face = {n: i for i, n in enumerate(S.KEYPOINT_NAMES)}
    for a, b in [(0, 16), (8, 8), (17, 26), (27, 27), (30, 30), (31, 35), (33, 33), (36, 45),
                 (39, 42), (40, 47), (41, 46), (48, 54), (51, 51), (55, 59), (60, 64),
                 (65, 67), (66, 66)]:  # fmt: skip
        assert flip[face[f"face-{a}"]] == face[f"face-{b}"], (a, b)
    # pairs: exactly the non-fixed points, each once
    assert all(i < j and flip[i] == j for i, j in S.FLIP_PAIRS)
    assert len(S.FLIP_PAIRS) == int((flip != np.arange(133)).sum()) // 2


def test_sigmas_match_mmpose():
    # values from mmpose coco_wholebody.py `sigmas` (COCO-WholeBody myeval_wholebody.py)
    known = {0: 0.026, 1: 0.025, 5: 0.079, 11: 0.107, 16: 0.089, 17: 0.068, 22: 0.094,
             23: 0.042, 70: 0.034, 90: 0.008, 91: 0.029, 95: 0.047, 111: 0.031,
             112: 0.029, 116: 0.047, 132: 0.031}  # fmt: skip
    for i, v in known.items():
        assert S.SIGMAS[i] == v, i
    assert np.array_equal(S.SIGMAS[91:112], S.SIGMAS[112:133])
    assert (S.SIGMAS > 0).all()


def test_links_in_range_and_parts_consistent():
    part_of = np.empty(133, dtype=object)
    for name, r in S.PARTS.items():
        part_of[list(r)] = name
    assert len(set(S.LINKS)) == 65
    for (a, b), part in zip(S.LINKS, S.LINK_PARTS):
        assert 0 <= a < 133 and 0 <= b < 133 and a != b
        if part == "foot":  # ankle -> toe / heel
            assert part_of[a] == "body" and S.KEYPOINT_NAMES[a].endswith("_ankle")
            assert part_of[b] == "foot"
        else:
            assert part in ("body", "left_hand", "right_hand")
            assert part_of[a] == part_of[b] == part
    assert S.LINK_PARTS.count("body") == 19
    assert S.LINK_PARTS.count("foot") == 6
    assert S.LINK_PARTS.count("left_hand") == S.LINK_PARTS.count("right_hand") == 20
    # mmpose order: left leg first, then the feet, the left hand, the right hand
    assert S.LINKS[0] == (15, 13) and S.LINKS[19] == (15, 17) and S.LINKS[25] == (91, 92)
    assert S.LINKS[64] == (131, 132)
    # the hand links mirror each other under the flip
    left = [link for link, p in zip(S.LINKS, S.LINK_PARTS) if p == "left_hand"]
    right = [link for link, p in zip(S.LINKS, S.LINK_PARTS) if p == "right_hand"]
    assert [tuple(S.FLIP_INDICES[list(link)]) for link in left] == right


def test_colors_follow_mmpose():
    blue, green, orange, white = (51, 153, 255), (0, 255, 0), (255, 128, 0), (255, 255, 255)
    kc = [tuple(c) for c in S.KEYPOINT_COLORS.tolist()]
    assert kc[0] == blue and kc[4] == blue
    assert kc[5] == green and kc[6] == orange and kc[15] == green and kc[16] == orange
    assert all(c == orange for c in kc[17:23])
    assert all(c == white for c in kc[23:91])
    assert kc[91] == white and kc[92] == orange and kc[96] == (255, 153, 255)
    assert kc[100] == (102, 178, 255) and kc[104] == (255, 51, 51) and kc[108] == green
    assert kc[91:112] == kc[112:133]
    lc = [tuple(c) for c in S.LINK_COLORS.tolist()]
    assert lc[0] == green and lc[2] == orange and lc[4] == blue and lc[17] == blue
    assert lc[19] == green and lc[22] == orange
    assert lc[25:45] == lc[45:65]
