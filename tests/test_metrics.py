"""Metrics against closed forms and independent implementations (scipy.stats.binomtest,
statsmodels proportion_confint(method="beta"), the exact normal tail of a linear classifier)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import binomtest, norm
from statsmodels.stats.proportion import proportion_confint
from torch import nn

from paperlib.attacks import bim
from paperlib.defenses import GaussianSmoothing, StochasticDefense
from paperlib.metrics import (ABSTAIN, Smooth, approximate_certified_accuracy, asr_curve,
                              asr_distortion_search, binomial_test, certified_accuracy,
                              clopper_pearson_lower, monte_carlo_counts, mra,
                              pairwise_cosine_similarity, rank_verification, saliency_map,
                              sem_attack_success, success_pvalue, write_csv_atomic)
from paperlib.seeding import make_generator

from _tiny_models import correct_test_batch, trained_cnn

torch.set_num_threads(2)


class Threshold(nn.Module):
    """Class 1 iff the first pixel > 0, else class 0 (logits of a 3-class problem)."""

    def forward(self, x):
        v = x.flatten(1)[:, 0]
        return torch.stack([-v, v, torch.full_like(v, -1e9)], 1)


# --- Monte Carlo -------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_monte_carlo_counts_are_binomial(seed):
    # P(class 1) = P(mu + sigma Z > 0) = Phi(mu / sigma), exactly.
    mu = torch.tensor([-0.2, 0.0, 0.1, 0.4])
    x = mu.view(4, 1, 1, 1).expand(4, 1, 2, 2).clone()
    d = GaussianSmoothing(Threshold(), 0.5)
    n = 400
    counts = monte_carlo_counts(d, x, n, make_generator(seed, "mc"), chunk=96)
    assert counts.shape == (4, 3) and torch.all(counts.sum(1) == n) and torch.all(counts[:, 2] == 0)
    for i in range(4):
        p = float(norm.cdf(float(mu[i]) / 0.5))
        assert binomtest(int(counts[i, 1]), n, p).pvalue > 1e-3
    again = monte_carlo_counts(d, x, n, make_generator(seed, "mc"), chunk=96)
    assert torch.equal(counts, again)


def test_sem_attack_success_closed_form_cases():
    counts = torch.tensor([[100, 0, 0],   # all correct
                           [60, 40, 0],   # top correct, 40 % on another class >= alpha
                           [75, 25, 0],   # top correct, 25 % < alpha
                           [20, 50, 30]])  # top wrong
    y = torch.tensor([0, 0, 0, 0])
    assert sem_attack_success(counts, y, alpha=0.3).tolist() == [False, True, False, True]
    assert sem_attack_success(counts, y, alpha=1.0).tolist() == [False, False, False, True]
    t = torch.tensor([1, 1, 1, 2])
    assert sem_attack_success(counts, y, 0.3, targeted=True, y_target=t).tolist() == \
        [False, True, False, True]
    with pytest.raises(ValueError, match="alpha"):
        sem_attack_success(counts, y, alpha=0.0)


def test_binomial_test_matches_scipy_and_success_pvalue():
    k = np.array([0, 3, 50, 61, 61, 100])
    n = np.array([10, 10, 100, 100, 100, 100])
    got = binomial_test(k, n, 0.3)
    for a, b, v in zip(k, n, got):
        assert v == binomtest(int(a), int(b), 0.3).pvalue
    counts = torch.tensor([[70, 30, 0], [10, 80, 10]])
    p = success_pvalue(counts, torch.tensor([0, 0]), rho=0.5)
    assert p[0] == binomtest(30, 100, 0.5).pvalue and p[1] == binomtest(90, 100, 0.5).pvalue


# --- certification -----------------------------------------------------------------------------

def test_clopper_pearson_matches_statsmodels():
    for k, n in [(0, 10), (5, 10), (10, 10), (990, 1000), (9999, 10000)]:
        ref = proportion_confint(k, n, alpha=2 * 0.001, method="beta")[0]
        assert clopper_pearson_lower(k, n, 0.001) == pytest.approx(ref, abs=1e-12)


def test_certify_constant_classifier_closed_form():
    const = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    with torch.no_grad():
        const[1].weight.zero_()
        const[1].bias.copy_(torch.tensor([0.0, 0.0, 5.0]))
    sm = Smooth(const, 3, sigma=0.5)
    x = torch.rand(3, 1, 2, 2)
    pred, radius, p_low = sm.certify(x, n0=10, n=1000, alpha=0.001, generator=make_generator(0, "c"))
    assert pred.tolist() == [2, 2, 2]
    expected = 0.5 * norm.ppf(0.001 ** (1 / 1000))  # Clopper-Pearson lower bound for n of n
    assert np.allclose(radius, expected, rtol=1e-9)
    assert sm.predict(x, 100, 0.001, make_generator(0, "p")).tolist() == [2, 2, 2]


def test_certify_linear_classifier_radius_is_distance_to_boundary():
    # g's exact radius at distance mu from the hyperplane is sigma * Phi^-1(Phi(mu/sigma)) = mu.
    sigma, n, alpha = 0.5, 20000, 0.001
    mu = torch.tensor([0.3, 0.6, -0.4, 0.01])
    x = torch.zeros(4, 1, 2, 2)
    x[:, 0, 0, 0] = mu
    sm = Smooth(Threshold(), 3, sigma)
    pred, radius, p_low = sm.certify(x, 100, n, alpha, make_generator(0, "cert"))
    assert pred[:3].tolist() == [1, 1, 0]
    assert np.all(radius[:3] <= mu[:3].abs().numpy() + 1e-9)  # sound with high probability
    assert np.all(radius[:3] >= mu[:3].abs().numpy() - 0.06)  # and tight at n = 20,000
    assert pred[3] == ABSTAIN and radius[3] == 0.0  # p = 0.504: cannot certify
    assert sm.predict(x[3:], 200, 0.05, make_generator(0, "pred")).tolist() == [ABSTAIN]


def test_rank_verification():
    counts = torch.tensor([[60, 40, 0], [70, 30, 0], [5, 5, 90], [50, 50, 0]])
    pred, p = rank_verification(counts, alpha_rv=0.05)
    assert p[0] == binomtest(60, 100, 0.5).pvalue and p[1] == binomtest(70, 100, 0.5).pvalue
    assert pred.tolist() == [ABSTAIN, 0, 2, ABSTAIN]


def test_accuracy_metrics():
    preds = torch.tensor([1, 2, ABSTAIN, 0])
    labels = torch.tensor([1, 1, 0, 0])
    assert approximate_certified_accuracy(preds, labels) == 0.5
    acc = certified_accuracy(preds, [0.5, 1.0, 0.0, 0.2], labels, [0.0, 0.3, 0.6])
    assert acc.tolist() == [0.5, 0.25, 0.0]


# --- ASR-vs-distortion search ------------------------------------------------------------------

def test_search_recovers_known_thresholds_and_stops_early():
    # The "attack" marks the budget into the image; success iff budget >= the image's threshold.
    thr = torch.tensor([0.0, 0.013, 0.2, 0.75, 5.0, 0.05])
    x = torch.zeros(6, 1, 1, 1)
    # Labels carry the image index, so the judge can look up each image's threshold.
    ids = torch.arange(6)

    def attack2(xs, ys, eps):
        return xs + eps.view(-1, 1, 1, 1)

    def judge2(xa, ys):
        return xa.flatten(1)[:, 0] >= thr[ys]

    res = asr_distortion_search(attack2, judge2, x, ids, eps_init=0.01, search_steps=8,
                                binary_steps=12)
    t = res.table
    assert t.loc[0, "min_eps"] == 0.0 and t.loc[0, "attack_calls"] == 0
    assert not t.loc[4, "success"] and t.loc[4, "attack_calls"] == 8  # 0.01 * 2^7 < 5
    for i in (1, 2, 3, 5):
        hi, lo = t.loc[i, "min_eps"], t.loc[i, "lo"]
        assert lo - 1e-6 < float(thr[i]) <= hi + 1e-6  # float32 images, float64 budgets
        assert hi - lo <= 0.01 * 2 ** 7 / 2 ** 12 + 1e-12
    # Early stop by relative tolerance uses fewer calls.
    loose = asr_distortion_search(attack2, judge2, x, ids, eps_init=0.01, search_steps=8,
                                  binary_steps=12, rtol=0.05)
    assert loose.table["attack_calls"].sum() < t["attack_calls"].sum()
    # Curve = empirical CDF of min_eps.
    c = res.curve
    assert c["asr"].is_monotonic_increasing
    assert c.loc[c["distortion"] == 0.0, "asr"].item() == pytest.approx(1 / 6)
    assert c["asr"].iloc[-1] == pytest.approx(5 / 6)
    grid = asr_curve(t, [0.0, 0.1, 1.0])
    assert grid["asr"].tolist() == pytest.approx([1 / 6, 3 / 6, 5 / 6])


def test_search_with_real_attack_is_exact_for_a_deterministic_judge(tmp_path):
    model = trained_cnn()
    x, y = correct_test_batch(model, 16, offset=6000)

    def judge(xa, ys):
        with torch.no_grad():
            return model(xa).argmax(1) != ys

    attack = lambda xs, ys, eps: bim(model, xs, ys, eps=eps, steps=5)
    res = asr_distortion_search(attack, judge, x, y, eps_init=0.02, search_steps=5,
                                binary_steps=6, batch_size=5)
    t = res.table
    assert len(t) == 16 and t["attack_calls"].max() <= 5 + 6
    found = t[t["success"]]
    assert len(found) >= 12
    # BIM is deterministic and per-image: the attack succeeds at min_eps and fails at lo.
    idx = torch.tensor(found["index"].to_numpy())
    at = lambda col: torch.tensor(found[col].to_numpy(), dtype=torch.float32)
    assert judge(attack(x[idx], y[idx], at("min_eps")), y[idx]).all()
    assert not judge(attack(x[idx], y[idx], at("lo")), y[idx]).any()
    path = write_csv_atomic(res.curve, tmp_path / "plots" / "asr.csv")
    assert np.allclose(pd.read_csv(path).to_numpy(), res.curve.to_numpy())


def test_search_with_monte_carlo_judge_on_a_smoothed_model():
    model = trained_cnn(0, 0.25)
    defense = GaussianSmoothing(model, 0.25)
    x, y = correct_test_batch(model, 10, offset=7000)
    g = make_generator(0, "judge")

    def judge(xa, ys):
        return sem_attack_success(monte_carlo_counts(defense, xa, 20, g), ys, alpha=0.3)

    res = asr_distortion_search(lambda xs, ys, eps: bim(model, xs, ys, eps=eps, steps=5), judge,
                                x, y, eps_init=0.02, search_steps=5, binary_steps=3)
    assert res.table["success"].mean() >= 0.5
    assert res.curve["asr"].is_monotonic_increasing
    assert (res.table["judge_calls"] == res.table["attack_calls"] + 1).all()


# --- MRA and saliency --------------------------------------------------------------------------

def test_mra_closed_form():
    def const(c):
        m = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
        with torch.no_grad():
            m[1].weight.zero_()
            m[1].bias.copy_(torch.nn.functional.one_hot(torch.tensor(c), 3).float())
        return m
    x = torch.rand(10, 1, 2, 2)
    y = torch.tensor([0] * 7 + [1] * 3)
    value, per = mra([const(0), const(1), const(2)], x, y)
    assert per.tolist() == [0.7, 0.3, 0.0] and value == pytest.approx(1 / 3)


def test_saliency_and_cosine_similarity():
    lin = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    neg = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    with torch.no_grad():
        neg[1].weight.copy_(-lin[1].weight)
    x = torch.rand(5, 1, 2, 2)
    y = torch.tensor([0, 1, 2, 0, 1])
    s = saliency_map(lin, x, y)
    assert torch.allclose(s.flatten(1), lin[1].weight[y], atol=1e-6)  # eq. 8 for a linear model
    pairs, sims = pairwise_cosine_similarity([s, saliency_map(lin, x, y), saliency_map(neg, x, y)])
    assert pairs == [(0, 1), (0, 2), (1, 2)]
    assert torch.allclose(sims[0], torch.ones(5)) and torch.allclose(sims[1], -torch.ones(5))
    p = saliency_map(lin, x, y, output="probs")
    assert p.shape == x.shape and not torch.allclose(p, s)
