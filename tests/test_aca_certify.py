"""SEM Table 1's ACA as Cohen et al.'s certified accuracy at radius 0 (CERTIFY: ``n0`` selection
draws, ``n`` estimation draws, one-sided Clopper-Pearson level ``alpha``), against closed forms."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy.stats import beta, binom, norm
from torch import nn

from paperlib.defenses.ensemble import Member
from paperlib.metrics.aca import ACA_METHODS, certified_accuracy_at_zero, certify_predictions
from paperlib.sem.table1 import aca_settings, member_accuracy
from paperlib.seeding import make_generator
from paperlib.zoo.accuracy import model_accuracy

torch.set_num_threads(2)


class Threshold(nn.Module):
    """Two classes: class 1 iff the first pixel exceeds 0.5. Under N(0, sigma^2) input noise an
    image whose pixel is ``m`` is class 1 with probability ``Phi((m - 0.5) / sigma)``."""

    def forward(self, x):
        z = x.flatten(1)[:, 0] - 0.5
        return torch.stack([-z, z], 1)


class Constant(nn.Module):
    """Always class ``cls`` of 10, whatever the input (and the noise)."""

    def __init__(self, cls: int = 3):
        super().__init__()
        self.cls = cls

    def forward(self, x):
        z = torch.zeros(x.shape[0], 10, device=x.device)
        z[:, self.cls] = 1.0
        return z


def certify_k_min(n: int, alpha: float) -> int:
    """Smallest count ``k`` of ``n`` draws whose one-sided Clopper-Pearson lower bound is >= 0.5:
    by test inversion, the smallest ``k`` with ``P(Binom(n, 1/2) >= k) <= alpha``."""
    k = np.arange(n + 1)
    k_min = int(k[binom.sf(k - 1, n, 0.5) <= alpha].min())
    # the same from the beta quantile form of the bound
    lower = beta.ppf(alpha, k[1:], n - k[1:] + 1)
    assert lower[k_min - 1] >= 0.5 and (k_min == 1 or lower[k_min - 2] < 0.5)
    return k_min


def closed_form(p_label: float, n0: int, n: int, alpha: float) -> float:
    """P(an image is certified with its label), the label's class probability ``p_label`` under
    noise, two classes, ``n0`` odd: the ``n0`` draws pick the label (a strict majority), and the
    ``n`` fresh draws give at least ``k_min`` votes to it."""
    return binom.sf(n0 // 2, n0, p_label) * binom.sf(certify_k_min(n, alpha) - 1, n, p_label)


SIGMA, N0, N, ALPHA = 0.25, 9, 40, 0.01
P1 = [0.5, 0.6, 0.7, 0.8, 0.9, 0.97, 0.3, 0.1]  # probability of class 1 under noise
PER_GROUP = 400


@pytest.fixture(scope="module")
def toy():
    """Images with known class probabilities: for every p1 of P1, PER_GROUP images labelled 1 and
    PER_GROUP labelled 0; returns x, y, the label's probability, the group index."""
    pix, lab, p_lab, group = [], [], [], []
    for gi, p1 in enumerate(P1):
        m = 0.5 + SIGMA * norm.ppf(p1)
        for label in (1, 0):
            pix += [m] * PER_GROUP
            lab += [label] * PER_GROUP
            p_lab += [p1 if label == 1 else 1 - p1] * PER_GROUP
            group += [2 * gi + label] * PER_GROUP
    x = torch.tensor(pix, dtype=torch.float32).view(-1, 1, 1, 1)
    return x, torch.tensor(lab), np.array(p_lab), np.array(group)


def test_certified_accuracy_at_zero_matches_the_closed_form(toy):
    x, y, p_lab, group = toy
    acc, ok = certified_accuracy_at_zero(Threshold(), x, y, sigma=SIGMA, n0=N0, n=N, alpha=ALPHA,
                                         generator=make_generator(0, "aca-certify"), chunk=4096, num_classes=2)
    assert ok.dtype == torch.bool and ok.shape == y.shape and acc == float(ok.double().mean())
    okn = ok.numpy()
    expected = np.array([closed_form(p, N0, N, ALPHA) for p in p_lab])
    for gi in np.unique(group):
        sel = group == gi
        r, emp = expected[sel][0], okn[sel].mean()
        assert abs(emp - r) <= 4.5 * math.sqrt(r * (1 - r) / sel.sum()) + 1e-12, (gi, emp, r)
    r_all = expected.mean()
    assert abs(acc - r_all) <= 4 * math.sqrt((expected * (1 - expected)).sum()) / len(expected)
    # Not the majority vote: at p = 0.6 and 0.7 most images have the label as their top class,
    # but the lower bound of n = 40 draws rarely reaches 0.5.
    for p in (0.6, 0.7):
        assert binom.sf(N // 2, N, p) - closed_form(p, N0, N, ALPHA) > 0.3


def test_certify_is_reproducible_with_a_fixed_generator(toy):
    x, y, _, _ = toy
    kw = dict(sigma=SIGMA, n0=N0, n=N, alpha=ALPHA, chunk=1000, num_classes=2)
    a = certified_accuracy_at_zero(Threshold(), x[::50], y[::50], generator=make_generator(1, "c"), **kw)
    b = certified_accuracy_at_zero(Threshold(), x[::50], y[::50], generator=make_generator(1, "c"), **kw)
    assert a[0] == b[0] and torch.equal(a[1], b[1])


@pytest.mark.parametrize("alpha", [0.001, 0.01, 0.05, 0.1])
def test_a_classifier_that_is_always_right_needs_enough_draws(alpha):
    """All ``n`` draws vote for the label: pA_lower = alpha^(1/n), certified iff >= 0.5, i.e.
    ``n >= log2(1 / alpha)``; the boundary is exact."""
    n_min = math.ceil(math.log(alpha) / math.log(0.5))
    assert alpha ** (1 / n_min) >= 0.5 > alpha ** (1 / (n_min - 1))
    x = torch.rand(12, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([3] * 8 + [5] * 4)  # the last four labels are never predicted
    kw = dict(sigma=0.5, n0=1, alpha=alpha, generator=make_generator(0, "always-right"), chunk=64)
    acc, ok = certified_accuracy_at_zero(Constant(3), x, y, n=n_min, **kw)
    assert acc == 8 / 12 and ok.tolist() == [True] * 8 + [False] * 4
    acc, ok = certified_accuracy_at_zero(Constant(3), x, y, n=n_min - 1, **kw)
    assert acc == 0.0 and not ok.any()
    pred, radius = certify_predictions(Constant(3), x, n=n_min - 1, **kw)
    assert (pred == -1).all() and (radius == 0).all()
    pred, radius = certify_predictions(Constant(3), x, n=n_min, **kw)
    assert (pred == 3).all() and np.allclose(radius, 0.5 * norm.ppf(alpha ** (1 / n_min)))


def test_one_draw_never_certifies_at_cohens_alpha():
    x = torch.rand(5, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    y = torch.full((5,), 3)
    acc, ok = certified_accuracy_at_zero(Constant(3), x, y, sigma=0.25, n0=100, n=1, alpha=0.001,
                                         generator=make_generator(0, "one-draw"))
    assert acc == 0.0 and not ok.any()
    acc, _ = certified_accuracy_at_zero(Constant(3), x, y, sigma=0.25, n0=100, n=10, alpha=0.001,
                                        generator=make_generator(0, "one-draw"))
    assert acc == 1.0


def test_bad_certify_settings_are_refused():
    x, y = torch.rand(3, 1, 2, 2), torch.zeros(3, dtype=torch.long)
    g = make_generator(0, "bad")
    for kw, word in ((dict(n0=0, n=10, alpha=0.01), "CERTIFY's n0"), (dict(n0=1, n=2.5, alpha=0.01), "CERTIFY's n "),
                     (dict(n0=1, n=10, alpha=1.0), "CERTIFY's alpha")):
        with pytest.raises(ValueError, match=word):
            certified_accuracy_at_zero(Constant(0), x, y, sigma=0.25, generator=g, **kw)
    with pytest.raises(ValueError, match="Generator"):
        certified_accuracy_at_zero(Constant(0), x, y, sigma=0.25, n0=1, n=10, alpha=0.01, generator=None)
    with pytest.raises(ValueError, match="sigma"):
        certified_accuracy_at_zero(Constant(0), x, y, sigma=0.0, n0=1, n=10, alpha=0.01, generator=g)


# --- the zoo's model_accuracy and SEM Table 1's member_accuracy -------------------------------

def test_model_accuracy_certify_equals_certified_accuracy_at_zero(toy):
    x, y, _, _ = toy
    x, y = x[::20], y[::20]
    acc, ok = certified_accuracy_at_zero(Threshold(), x, y, sigma=SIGMA, n0=N0, n=N, alpha=ALPHA,
                                         generator=make_generator(2, "same"), chunk=256, num_classes=2)
    row, ok2 = model_accuracy(Threshold(), x, y, sigma=SIGMA, generator=make_generator(2, "same"), chunk=256,
                              num_classes=2, method="certify", certify_n0=N0, certify_n=N, certify_alpha=ALPHA)
    assert list(row) == ["accuracy", "ci_low", "ci_high", "correct", "n", "abstained"]
    assert row["accuracy"] == acc and torch.equal(ok, ok2) and row["correct"] == int(ok.sum())
    assert 0 < row["abstained"] < len(y)
    # PREDICT on the same toy is another number (kept for comparison, and still the default).
    row_p, _ = model_accuracy(Threshold(), x, y, sigma=SIGMA, mc_draws=N, predict_alpha=ALPHA,
                              generator=make_generator(2, "same"), chunk=256, num_classes=2)
    row_d, _ = model_accuracy(Threshold(), x, y, sigma=SIGMA, mc_draws=N, predict_alpha=ALPHA,
                              generator=make_generator(2, "same"), chunk=256, num_classes=2, method="predict")
    assert row_p == row_d
    with pytest.raises(ValueError, match="certify_n0, certify_alpha"):
        model_accuracy(Threshold(), x, y, sigma=SIGMA, generator=make_generator(0, "x"), method="certify",
                       certify_n=10)
    with pytest.raises(ValueError, match="method"):
        model_accuracy(Threshold(), x, y, sigma=SIGMA, generator=make_generator(0, "x"), method="Certify")


def test_member_accuracy_certify_keeps_table1s_columns():
    x = torch.rand(12, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([3] * 9 + [1] * 3)
    kw = dict(mc_draws=10, alpha=0.001, chunk=8, generator=make_generator(0, "member"), method="certify",
              certify_n0=5, certify_alpha=0.001)
    row, ok = member_accuracy(Member("c@0.25", "c", 0.25, Constant(3)), x, y, certify_n=10, **kw)
    assert list(row) == ["arch", "sigma", "accuracy", "ci_low", "ci_high", "correct", "n", "abstained"]
    assert (row["arch"], row["sigma"], row["accuracy"], row["abstained"]) == ("c", 0.25, 9 / 12, 0)
    assert ok.tolist() == [True] * 9 + [False] * 3
    row, ok = member_accuracy(Member("c@0.25", "c", 0.25, Constant(3)), x, y, certify_n=9, **kw)
    assert row["accuracy"] == 0.0 and row["abstained"] == 12  # 0.001 ** (1/9) < 0.5
    # An unsmoothed member keeps its clean accuracy, whatever the ACA method.
    row, ok = member_accuracy(Member("c@0", "c", 0.0, Constant(3)), x, y, certify_n=9, **kw)
    assert row["accuracy"] == 9 / 12 and row["abstained"] == 0


def test_aca_settings_read_table1_params():
    t1 = SimpleNamespace(mc_draws=16, predict_alpha=0.05, chunk=512)  # today's params: no ACA method keys
    assert aca_settings(t1) == {"method": "predict", "certify_n0": None, "certify_n": None, "certify_alpha": None}
    assert ACA_METHODS == ("predict", "certify")
    ok = SimpleNamespace(aca_method="certify", certify_n0=100, certify_n=1000, certify_alpha=0.001)
    assert aca_settings(ok) == {"method": "certify", "certify_n0": 100, "certify_n": 1000, "certify_alpha": 0.001}
    with pytest.raises(ValueError, match=r"sem\.table1\.aca_method"):
        aca_settings(SimpleNamespace(aca_method="cohen"))
    with pytest.raises(ValueError, match=r"sem\.table1\.certify_n0"):
        aca_settings(SimpleNamespace(aca_method="certify", certify_n=10, certify_alpha=0.01))
    with pytest.raises(ValueError, match=r"sem\.table1\.certify_n\b"):
        aca_settings(SimpleNamespace(aca_method="certify", certify_n0=10, certify_n=0, certify_alpha=0.01))
    with pytest.raises(ValueError, match=r"sem\.table1\.certify_alpha"):
        aca_settings(SimpleNamespace(aca_method="certify", certify_n0=10, certify_n=10, certify_alpha=0))
