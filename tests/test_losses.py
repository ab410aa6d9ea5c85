"""Known-value tests of the SimCC and distillation losses against literal numpy loops."""
from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from trainer.losses import FeatureLoss, KLDiscretLoss, LogitLoss  # noqa: E402


def _softmax(v: np.ndarray) -> np.ndarray:
    e = np.exp(v - v.max())
    return e / e.sum()


def _kl(p: np.ndarray, q: np.ndarray) -> list[float]:
    """Per-bin p_b * (log p_b - log q_b), 0 where p_b == 0."""
    return [0.0 if pb == 0 else pb * (math.log(pb) - math.log(qb)) for pb, qb in zip(p, q)]


def ref_kl_discret(preds, labels, weight, beta=10.0, label_softmax=True, label_beta=10.0,
                   use_weight=True):
    """mmpose KLDiscretLoss written out: mean over bins, * weight, sum over N, K, / K."""
    n, k, _ = preds[0].shape
    total = 0.0
    for pred, label in zip(preds, labels):
        for i in range(n):
            for j in range(k):
                p = _softmax(label[i, j] * label_beta) if label_softmax else label[i, j]
                q = _softmax(pred[i, j] * beta)
                w = weight[i, j] if use_weight else 1.0
                total += w * float(np.mean(_kl(p, q)))
    return total / k


def ref_logit(s_pred, t_pred, beta=10.0, weight=0.1):
    """DWPose KDLoss written out: sum over bins and K, mean over N, * weight; (x + y) / K."""
    n, k, _ = s_pred[0].shape
    total = 0.0
    for s, t in zip(s_pred, t_pred):
        per_sample = [sum(sum(_kl(_softmax(t[i, j] * beta), _softmax(s[i, j] * beta)))
                          for j in range(k)) for i in range(n)]
        total += weight * float(np.mean(per_sample))
    return total / k


def _t(a: np.ndarray):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


@pytest.fixture
def simcc():
    rng = np.random.default_rng(0)
    n, k = 2, 3
    preds = (rng.normal(size=(n, k, 5)) * 0.3, rng.normal(size=(n, k, 7)) * 0.3)
    labels = (rng.uniform(size=(n, k, 5)), rng.uniform(size=(n, k, 7)))
    weight = rng.uniform(size=(n, k))
    return preds, labels, weight


# ----------------------------------------------------------------------------- KLDiscretLoss
def test_kl_discret_known_value(simcc):
    preds, labels, weight = simcc
    got = KLDiscretLoss()(tuple(map(_t, preds)), tuple(map(_t, labels)), _t(weight))
    assert got.item() == pytest.approx(ref_kl_discret(preds, labels, weight), rel=1e-10)


def test_kl_discret_hand_computed_two_bins():
    # one keypoint, two bins, beta = label_beta = 1, no label softmax: labels (1, 0), pred
    # logits (0, 0) -> q = (.5, .5): KL bins = (log 2, 0), mean = log 2 / 2, x + y = log 2.
    pred = torch.zeros(1, 1, 2, dtype=torch.float64)
    label = torch.tensor([[[1.0, 0.0]]], dtype=torch.float64)
    loss = KLDiscretLoss(beta=1.0, label_softmax=False)
    got = loss((pred, pred), (label, label), torch.ones(1, 1, dtype=torch.float64))
    assert got.item() == pytest.approx(math.log(2))


def test_kl_discret_without_label_softmax_and_weights(simcc):
    preds, labels, weight = simcc
    loss = KLDiscretLoss(beta=2.0, label_softmax=False, use_target_weight=False)
    labels = tuple(lab / lab.sum(-1, keepdims=True) for lab in labels)  # distributions
    got = loss(tuple(map(_t, preds)), tuple(map(_t, labels)), None)
    want = ref_kl_discret(preds, labels, weight, beta=2.0, label_softmax=False, use_weight=False)
    assert got.item() == pytest.approx(want, rel=1e-10)


def test_kl_discret_label_softmax_uses_label_beta(simcc):
    preds, labels, weight = simcc
    args = (tuple(map(_t, preds)), tuple(map(_t, labels)), _t(weight))
    got = KLDiscretLoss(beta=10.0, label_beta=3.0)(*args).item()
    assert got == pytest.approx(ref_kl_discret(preds, labels, weight, label_beta=3.0), rel=1e-10)
    assert got != pytest.approx(KLDiscretLoss(beta=10.0, label_beta=10.0)(*args).item())


def test_kl_discret_zero_at_the_softmax_fixed_point(simcc):
    _preds, labels, weight = simcc
    labels = tuple(map(_t, labels))
    # beta == label_beta: pred == label (or any per-row shift of it) gives equal softmaxes
    shifted = tuple(lab + 3.0 for lab in labels)
    for pred in (labels, shifted):
        assert KLDiscretLoss()(pred, labels, _t(weight)).item() == pytest.approx(0, abs=1e-12)
    # but not pred == label when the temperatures differ
    assert KLDiscretLoss(beta=1.0)(labels, labels, _t(weight)).item() > 1e-3


def test_kl_discret_target_weight_zeroes_keypoints(simcc):
    preds, labels, weight = simcc
    weight = weight.copy()
    weight[:, 1] = 0
    loss = KLDiscretLoss()
    base = loss(tuple(map(_t, preds)), tuple(map(_t, labels)), _t(weight)).item()
    changed = tuple(p.copy() for p in preds)
    for p in changed:
        p[:, 1] += np.random.default_rng(1).normal(size=p[:, 1].shape)
    assert loss(tuple(map(_t, changed)), tuple(map(_t, labels)),
                _t(weight)).item() == pytest.approx(base, rel=1e-12)
    assert loss(tuple(map(_t, changed)), tuple(map(_t, labels)),
                _t(np.ones_like(weight))).item() != pytest.approx(base)
    unweighted = KLDiscretLoss(use_target_weight=False)
    assert unweighted(tuple(map(_t, preds)), tuple(map(_t, labels)),
                      _t(weight)).item() == pytest.approx(
        ref_kl_discret(preds, labels, weight, use_weight=False), rel=1e-10)


def test_kl_discret_normalisation_by_k_not_n(simcc):
    preds, labels, weight = simcc
    loss = KLDiscretLoss()
    base = loss(tuple(map(_t, preds)), tuple(map(_t, labels)), _t(weight)).item()
    # same keypoints twice (K -> 2K): sum doubles, K doubles -> unchanged
    twice_k = loss(tuple(_t(np.concatenate([p, p], 1)) for p in preds),
                   tuple(_t(np.concatenate([lab, lab], 1)) for lab in labels),
                   _t(np.concatenate([weight, weight], 1))).item()
    assert twice_k == pytest.approx(base, rel=1e-12)
    # same samples twice (N -> 2N): no division by N -> doubles
    twice_n = loss(tuple(_t(np.concatenate([p, p], 0)) for p in preds),
                   tuple(_t(np.concatenate([lab, lab], 0)) for lab in labels),
                   _t(np.concatenate([weight, weight], 0))).item()
    assert twice_n == pytest.approx(2 * base, rel=1e-12)


def test_kl_discret_mask_weight(simcc):
    preds, labels, weight = simcc
    args = (tuple(map(_t, preds)), tuple(map(_t, labels)))
    w2 = weight.copy()
    w2[:, 2] *= 5.0
    masked = KLDiscretLoss(mask=[2], mask_weight=5.0)(*args, _t(weight)).item()
    assert masked == pytest.approx(KLDiscretLoss()(*args, _t(w2)).item(), rel=1e-12)


def test_kl_discret_needs_weights_when_told():
    x = torch.zeros(1, 1, 4)
    with pytest.raises(ValueError, match="target_weight"):
        KLDiscretLoss()((x, x), (x, x), None)


# ----------------------------------------------------------------------------- FeatureLoss
def test_feature_loss_identity_when_channels_match():
    loss = FeatureLoss(8, 8, alpha=0.00007)
    assert loss.align is None and len(loss.state_dict()) == 0
    rng = np.random.default_rng(2)
    s, t = rng.normal(size=(3, 8, 2, 4)), rng.normal(size=(3, 8, 2, 4))
    want = 0.00007 * float(((s - t) ** 2).sum()) / 3
    assert loss(_t(s), _t(t)).item() == pytest.approx(want, rel=1e-12)
    assert loss(_t(s), _t(s)).item() == 0.0


def test_feature_loss_align_conv_when_channels_differ():
    torch.manual_seed(0)
    loss = FeatureLoss(4, 6, alpha=0.5).double()
    assert isinstance(loss.align, torch.nn.Conv2d)
    assert loss.align.kernel_size == (1, 1) and loss.align.bias is not None
    assert sorted(loss.state_dict()) == ["align.bias", "align.weight"]
    rng = np.random.default_rng(3)
    s, t = rng.normal(size=(2, 4, 3, 2)), rng.normal(size=(2, 6, 3, 2))
    w = loss.align.weight.detach().numpy()[:, :, 0, 0]
    b = loss.align.bias.detach().numpy()
    aligned = np.einsum("oc,nchw->nohw", w, s) + b[None, :, None, None]
    want = 0.5 * float(((aligned - t) ** 2).sum()) / 2
    assert loss(_t(s), _t(t)).item() == pytest.approx(want, rel=1e-10)


def test_feature_loss_does_not_backprop_into_the_teacher():
    s = torch.randn(2, 3, 2, 2, requires_grad=True)
    t = torch.randn(2, 3, 2, 2, requires_grad=True)
    FeatureLoss(3, 3)(s, t).backward()
    assert s.grad is not None and t.grad is None


# ----------------------------------------------------------------------------- LogitLoss
def test_logit_loss_known_value(simcc):
    preds, labels, _weight = simcc
    teacher = tuple(lab * 0.5 for lab in labels)
    for beta, weight in ((10.0, 0.1), (1.0, 1.0)):
        got = LogitLoss(beta=beta, weight=weight)(tuple(map(_t, preds)), tuple(map(_t, teacher)))
        assert got.item() == pytest.approx(ref_logit(preds, teacher, beta, weight), rel=1e-10)


def test_logit_loss_sums_bins_averages_batch_divides_by_k(simcc):
    preds, labels, _weight = simcc
    loss = LogitLoss(weight=1.0)
    base = loss(tuple(map(_t, preds)), tuple(map(_t, labels))).item()
    assert base > 0
    twice_n = loss(tuple(_t(np.concatenate([p, p], 0)) for p in preds),
                   tuple(_t(np.concatenate([lab, lab], 0)) for lab in labels)).item()
    twice_k = loss(tuple(_t(np.concatenate([p, p], 1)) for p in preds),
                   tuple(_t(np.concatenate([lab, lab], 1)) for lab in labels)).item()
    assert twice_n == pytest.approx(base, rel=1e-12)   # batch mean
    assert twice_k == pytest.approx(base, rel=1e-12)   # / K
    assert LogitLoss(weight=0.1)(tuple(map(_t, preds)), tuple(map(_t, labels))).item() == \
        pytest.approx(0.1 * base, rel=1e-12)


def test_logit_loss_zero_for_equal_logits_and_no_teacher_grad(simcc):
    preds, _labels, _weight = simcc
    p = tuple(map(_t, preds))
    assert LogitLoss()(p, p).item() == pytest.approx(0, abs=1e-12)
    s = tuple(x.clone().requires_grad_(True) for x in p)
    t = tuple((x + 1).requires_grad_(True) for x in map(_t, _labels))
    LogitLoss()(s, t).backward()
    assert all(x.grad is not None for x in s) and all(x.grad is None for x in t)


def test_logit_loss_has_no_visibility_input(simcc):
    # invisible keypoints (all-zero labels upstream) are distilled like any other: the loss
    # takes no weights, and a keypoint's term does not depend on anything but the logits
    preds, labels, _weight = simcc
    loss = LogitLoss(weight=1.0)
    whole = loss(tuple(map(_t, preds)), tuple(map(_t, labels))).item() * 3
    parts = sum(loss(tuple(_t(p[:, j:j + 1]) for p in preds),
                     tuple(_t(lab[:, j:j + 1]) for lab in labels)).item() for j in range(3))
    assert whole == pytest.approx(parts, rel=1e-12)
