"""``dwpose eval --checkpoint``: mmpose's SimCC flip test, top-down inference over ground-truth or
detected boxes, and its equality with the results-file evaluation."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from app.cli import main  # noqa: E402
from engines.skeleton import FLIP_INDICES, NUM_KEYPOINTS  # noqa: E402
from trainer.data import generate as generate_synthetic  # noqa: E402
from trainer.evaluation import EVAL_PARTS, evaluate_wholebody  # noqa: E402
from trainer.models import build_model  # noqa: E402
from trainer.validation import CocoValidator, flip_test  # noqa: E402

SIZE = (192, 256)


# ----------------------------------------------------------------------------- flip test
class _SideAware(nn.Module):
    """K=3 keypoints (0 centre, 1 left, 2 right), 4 x-bins, 2 y-bins; the output tells a crop
    from its mirror by which half of the image is brighter."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        left_bright = (x[..., : x.shape[-1] // 2].mean() > x[..., x.shape[-1] // 2:].mean())
        if left_bright:  # the original crop
            sx = torch.tensor([[[1.0, 2, 3, 4], [10, 0, 0, 0], [0, 0, 0, 20]]])
            sy = torch.tensor([[[1.0, 0], [2, 0], [0, 3]]])
        else:  # the mirrored crop
            sx = torch.tensor([[[5.0, 6, 7, 8], [0, 0, 30, 0], [0, 40, 0, 0]]])
            sy = torch.tensor([[[0.0, 4], [5, 0], [0, 6]]])
        return sx.expand(x.shape[0], -1, -1), sy.expand(x.shape[0], -1, -1)


def test_flip_test_known_answer():
    x = torch.zeros(2, 3, 4, 6)
    x[..., :3] = 1.0  # left half bright: the mirror has the right half bright
    sx, sy = flip_test(_SideAware(), x, flip_indices=[0, 2, 1])
    # mirror's keypoint k comes from its flip partner, x bins reversed, then the mean
    want_x = [[(1 + 8) / 2, (2 + 7) / 2, (3 + 6) / 2, (4 + 5) / 2],  # centre: [8 7 6 5]
              [(10 + 0) / 2, (0 + 0) / 2, (0 + 40) / 2, (0 + 0) / 2],  # left <- right [0 0 40 0]
              [(0 + 0) / 2, (0 + 30) / 2, (0 + 0) / 2, (20 + 0) / 2]]  # right <- left [0 30 0 0]
    want_y = [[(1 + 0) / 2, (0 + 4) / 2], [(2 + 0) / 2, (0 + 6) / 2], [(0 + 5) / 2, (3 + 0) / 2]]
    assert sx.shape == (2, 3, 4) and sy.shape == (2, 3, 2)
    assert torch.equal(sx[1], torch.tensor(want_x)) and torch.equal(sy[0], torch.tensor(want_y))


class _Linear(nn.Module):
    """A whole-body-shaped SimCC model: fixed random linear maps of a pooled crop."""

    def __init__(self, bins: tuple[int, int] = (24, 32)) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d((4, 3))
        self.fx = nn.Linear(36, NUM_KEYPOINTS * bins[0])
        self.fy = nn.Linear(36, NUM_KEYPOINTS * bins[1])
        self.bins = bins

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.pool(x).flatten(1)
        n = x.shape[0]
        return (self.fx(f).reshape(n, NUM_KEYPOINTS, self.bins[0]),
                self.fy(f).reshape(n, NUM_KEYPOINTS, self.bins[1]))


def test_flip_test_matches_a_hand_loop_on_133_keypoints():
    torch.manual_seed(0)
    model = _Linear()
    x = torch.randn(3, 3, 32, 24)
    sx, sy = flip_test(model, x)
    with torch.no_grad():
        ox, oy = (t.numpy() for t in model(x))
        mx, my = (t.numpy() for t in model(torch.from_numpy(x.numpy()[..., ::-1].copy())))
    want_x, want_y = np.empty_like(ox), np.empty_like(oy)
    for n in range(3):
        for k in range(NUM_KEYPOINTS):
            partner = FLIP_INDICES[k]
            want_x[n, k] = (ox[n, k] + mx[n, partner][::-1]) * 0.5
            want_y[n, k] = (oy[n, k] + my[n, partner]) * 0.5
    np.testing.assert_allclose(sx.detach().numpy(), want_x, rtol=0, atol=1e-6)
    np.testing.assert_allclose(sy.detach().numpy(), want_y, rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------- checkpoint eval
@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """4 synthetic images, a random RTMPose-t checkpoint, and a ground truth made of that
    model's own flip-test predictions (every other person shifted by 6 px): known AP."""
    root = tmp_path_factory.mktemp("evalckpt")
    ann = generate_synthetic(root, 4, seed=7)
    torch.manual_seed(5)
    model = build_model("t", "256x192").eval()
    with torch.no_grad():  # SimCC maxima (the scores) around the 0.2 rescoring threshold
        model.head.cls_x.weight.mul_(2e5)
        model.head.cls_y.weight.mul_(2e5)
    ckpt = root / "t.pth"
    torch.save({"state_dict": model.state_dict()}, ckpt)
    results = CocoValidator(ann, root / "images", SIZE, batch_size=8).predict(model)
    gt = json.loads(ann.read_text())
    assert len(results) == len(gt["annotations"]) >= 4
    fields = (("keypoints", 0, 17), ("foot_kpts", 17, 23), ("face_kpts", 23, 91),
              ("lefthand_kpts", 91, 112), ("righthand_kpts", 112, 133))
    for i, (person, res) in enumerate(zip(gt["annotations"], results)):
        kpts = np.asarray(res["keypoints"]).reshape(-1, 3)
        kpts[:, 2] = 2
        kpts[:, 0] += 6.0 * (i % 2)
        for field, a, b in fields:
            person[field] = kpts[a:b].reshape(-1).tolist()
        person["num_keypoints"] = 17
    own = root / "own_gt.json"
    own.write_text(json.dumps(gt))
    return {"root": root, "images": root / "images", "ckpt": ckpt, "own": own,
            "results": results}


def test_checkpoint_eval_equals_results_file_eval(data, tmp_path, capsys):
    metrics_out, results_out = tmp_path / "m.json", tmp_path / "r.json"
    rc = main(["eval", "--checkpoint", str(data["ckpt"]), "--ann", str(data["own"]),
               "--images", str(data["images"]), "--output", str(metrics_out),
               "--save-results", str(results_out), "--workers", "0"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "rtmpose-t 256x192" in text and "flip test on" in text  # read from the checkpoint
    saved = json.loads(results_out.read_text())
    assert saved == data["results"]  # the same predictions as the validator's
    direct = json.loads(metrics_out.read_text())
    assert main(["eval", "--gt", str(data["own"]), "--pred", str(results_out),
                 "--json", str(tmp_path / "m2.json")]) == 0
    assert json.loads((tmp_path / "m2.json").read_text()) == direct  # all 60 numbers
    assert set(direct) == set(EVAL_PARTS)
    # half the people are exactly their ground truth; the other half, 6 px off, still match
    # on the body at OKS .5 but never on the whole body (face and hand sigmas are tiny)
    assert 0.0 < direct["wholebody"]["AP"] < 1.0
    assert direct["wholebody"]["AR"] == pytest.approx(0.5)
    assert direct["body"]["AP .5"] == pytest.approx(1.0)
    exact = json.loads(data["own"].read_text())
    exact["annotations"] = exact["annotations"][::2]
    kept = {p["image_id"] for p in exact["annotations"]}
    perfect = evaluate_wholebody(exact, [r for i, r in enumerate(saved)
                                         if i % 2 == 0 and r["image_id"] in kept])
    assert all(perfect[part]["AP"] == pytest.approx(1.0) for part in EVAL_PARTS)


def test_no_flip_test_differs_and_matches_a_plain_forward(data, tmp_path):
    model = build_model("t", "256x192").eval()
    model.load_state_dict(torch.load(data["ckpt"], weights_only=True)["state_dict"])
    plain = CocoValidator(data["own"], data["images"], SIZE, flip_test=False).predict(model)
    assert plain != data["results"]
    out = tmp_path / "r.json"
    assert main(["eval", "--checkpoint", str(data["ckpt"]), "--gt", str(data["own"]),
                 "--images", str(data["images"]), "--no-flip-test", "--workers", "0",
                 "--save-results", str(out)]) == 0
    assert json.loads(out.read_text()) == plain


def test_bbox_file_detections(data, tmp_path, capsys):
    gt = json.loads(data["own"].read_text())
    dets = [{"image_id": p["image_id"], "category_id": 1, "bbox": p["bbox"], "score": 0.5}
            for p in gt["annotations"]]
    dets += [{"image_id": 1, "category_id": 2, "bbox": [0, 0, 50, 50], "score": 0.9},
             {"image_id": 999, "category_id": 1, "bbox": [0, 0, 50, 50], "score": 0.9},
             {"image_id": 1, "category_id": 1, "bbox": [0, 0, 50, 50], "score": 0.01}]
    bbox_file = tmp_path / "dets.json"
    bbox_file.write_text(json.dumps(dets))
    out = tmp_path / "r.json"
    assert main(["eval", "--checkpoint", str(data["ckpt"]), "--gt", str(data["own"]),
                 "--images", str(data["images"]), "--bbox-file", str(bbox_file),
                 "--det-score-thr", "0.05", "--workers", "0", "--save-results", str(out)]) == 0
    assert f"{len(gt['annotations'])} detections of" in capsys.readouterr().out
    results = json.loads(out.read_text())
    assert len(results) == len(gt["annotations"])
    inside = rescored = 0
    for res, ref, person in zip(results, data["results"], gt["annotations"]):
        assert res["image_id"] == ref["image_id"] and res["bbox_score"] == 0.5
        kpt_scores = np.asarray(res["keypoints"][2::3])
        confident = kpt_scores[kpt_scores > 0.2]
        assert len(confident) < NUM_KEYPOINTS
        assert res["score"] == pytest.approx(0.5 * confident.mean() if len(confident) else 0.0)
        rescored += len(confident) > 0
        x, y, w, h = person["bbox"]
        if x + w < 319 and y + h < 255:  # not clipped as a ground-truth box: the same crop
            inside += 1
            np.testing.assert_allclose(res["keypoints"], ref["keypoints"], atol=0.6)
    assert inside >= 2 and rescored >= 2


def test_eval_user_errors(data, tmp_path, capsys):
    assert main(["eval", "--checkpoint", str(data["ckpt"]), "--gt", str(data["own"])]) == 2
    assert "needs --images" in capsys.readouterr().err
    assert main(["eval", "--gt", str(data["own"]), "--pred", "r.json", "--images", "x"]) == 2
    assert "--images: only with --checkpoint" in capsys.readouterr().err
    assert main(["eval", "--checkpoint", str(tmp_path / "none.pth"), "--gt", str(data["own"]),
                 "--images", str(data["images"])]) == 2
    assert "checkpoint file not found" in capsys.readouterr().err
    assert main(["eval", "--checkpoint", str(data["ckpt"]), "--gt", str(data["own"]),
                 "--images", str(data["images"]), "--arch", "s"]) == 2
    assert "does not fit" in capsys.readouterr().err
    bad = tmp_path / "dets.json"
    bad.write_text(json.dumps([{"image_id": 999, "category_id": 1, "bbox": [0, 0, 9, 9],
                                "score": 1.0}]))
    assert main(["eval", "--checkpoint", str(data["ckpt"]), "--gt", str(data["own"]),
                 "--images", str(data["images"]), "--bbox-file", str(bad)]) == 2
    assert "no person detection" in capsys.readouterr().err
