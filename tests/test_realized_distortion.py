"""The ``realized`` column of the ASR-vs-distortion search: ``||x_adv - x||`` (L-inf or L2) of the
adversarial example the attack returned at the budget that became ``min_eps``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from paperlib.attacks import bim
from paperlib.metrics import asr_curve, asr_distortion_search

torch.set_num_threads(2)

COLUMNS = ["index", "label", "clean_success", "min_eps", "lo", "success", "attack_calls", "judge_calls",
           "realized"]

# Labels carry the image index, so the judge can look up each image's threshold on the budget.
THR = torch.tensor([0.0, 0.013, 0.2, 0.75, 5.0, 0.05, 0.0, 0.31])
SIGN = torch.tensor([1.0, -1.0, -1.0, 1.0, 1.0, 1.0]).view(1, 1, 2, 3)  # 6 pixels, none zero


def _half_sign_attack(xs, ys, eps):
    """Returns ``x + 0.5 * eps * sign(pattern)``: realizes half the budget (L-inf)."""
    return xs + 0.5 * eps.view(-1, 1, 1, 1) * SIGN


def _budget_judge(xa, ys):
    """Success iff the budget the toy attack used (2 * its L-inf perturbation) >= the threshold."""
    return 2 * xa.flatten(1).abs().amax(1) >= THR[ys]


@pytest.mark.parametrize("norm, factor", [("linf", 0.5), ("l2", 0.5 * math.sqrt(6))])
@pytest.mark.parametrize("batch_size", [None, 3])
def test_realized_is_half_the_final_budget_for_a_half_sign_attack(norm, factor, batch_size):
    x = torch.zeros(len(THR), 1, 2, 3)
    ids = torch.arange(len(THR))
    res = asr_distortion_search(_half_sign_attack, _budget_judge, x, ids, eps_init=0.01, search_steps=8,
                                binary_steps=12, batch_size=batch_size, norm=norm)
    t = res.table
    assert list(t.columns) == COLUMNS
    broken = t["success"] & ~t["clean_success"]
    assert broken.sum() == 5  # images 1, 2, 3, 5, 7
    # The attack ran in float32: the budget it saw is float32(min_eps).
    eps32 = t.loc[broken, "min_eps"].to_numpy().astype(np.float32).astype(np.float64)
    assert np.allclose(t.loc[broken, "realized"], factor * eps32, rtol=1e-6, atol=0)
    assert np.allclose(t.loc[broken, "realized"], factor * t.loc[broken, "min_eps"], rtol=1e-6, atol=0)
    # The binary search lowered the budget after the first success: the realized value follows it.
    first_success = 0.01 * 2.0 ** np.ceil(np.log2(THR.numpy()[broken.to_numpy()] / 0.01))
    assert (t.loc[broken, "min_eps"].to_numpy() < first_success).all()
    # Never broken (threshold 5 > 0.01 * 2^7): NaN. Misclassified clean: budget 0, realized 0.
    assert not t.loc[4, "success"] and np.isnan(t.loc[4, "realized"]) and t.loc[4, "min_eps"] == math.inf
    for i in (0, 6):
        assert t.loc[i, "clean_success"] and t.loc[i, "min_eps"] == 0.0 and t.loc[i, "realized"] == 0.0


def test_realized_comes_from_the_returned_image_at_the_final_budget():
    """An attack whose realized fraction of the budget changes from call to call: the column holds
    exactly the norm of the output that was judged a success at ``min_eps``."""
    x = torch.zeros(len(THR), 1, 2, 3)
    ids = torch.arange(len(THR))
    g = torch.Generator().manual_seed(0)
    log = []  # (image id, budget, L2 norm returned) of every attacked image

    def attack(xs, ys, eps):
        frac = 0.3 + 0.6 * torch.rand(len(ys), generator=g)
        x_adv = xs + (frac * eps).view(-1, 1, 1, 1) * SIGN
        norms = (x_adv.double() - xs.double()).flatten(1).norm(dim=1)
        for i, e, d in zip(ys.tolist(), eps.tolist(), norms.tolist()):
            log.append((i, e, d))
        return x_adv

    def judge(xa, ys):  # the budget is no longer readable from the image: success by frac * eps
        return xa.flatten(1).abs().amax(1) >= 0.3 * THR[ys]

    t = asr_distortion_search(attack, judge, x, ids, eps_init=0.01, search_steps=8, binary_steps=10,
                              batch_size=4, norm="l2").table
    checked = 0
    for r in t[t["success"] & ~t["clean_success"]].itertuples():
        e32 = float(np.float32(r.min_eps))
        # every budget an image is attacked at is new (doubling, then bisection midpoints): the one
        # call at min_eps is the success that set it
        hits = [d for i, e, d in log if i == r.index and e == e32]
        assert len(hits) == 1, r.index
        assert r.realized == hits[0]
        checked += 1
    assert checked == 5
    # ... and it is not a fixed fraction of the budget
    ratios = t["realized"] / t["min_eps"]
    assert ratios[t["success"] & ~t["clean_success"]].std() > 0.01


def _linear_model():
    g = torch.Generator().manual_seed(1)
    m = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).double()
    with torch.no_grad():
        m[1].weight.copy_(torch.randn(3, 16, generator=g, dtype=torch.float64))
        m[1].bias.zero_()
    m.eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


@pytest.mark.parametrize("norm, eps_init", [("linf", 0.01), ("l2", 0.05)])
def test_projected_attack_never_realizes_more_than_its_budget(norm, eps_init):
    model = _linear_model()
    g = torch.Generator().manual_seed(2)
    x = torch.rand(24, 1, 4, 4, generator=g, dtype=torch.float64)
    with torch.no_grad():
        y = model(x).argmax(1)
    y[:3] = (y[:3] + 1) % 3  # three images misclassified clean

    def judge(xa, ys):
        with torch.no_grad():
            return model(xa).argmax(1) != ys

    attack = lambda xs, ys, eps: bim(model, xs, ys, eps=eps, steps=5, norm=norm)
    t = asr_distortion_search(attack, judge, x, y, eps_init=eps_init, search_steps=10, binary_steps=8,
                              norm=norm, batch_size=7).table
    assert (t.loc[:2, "realized"] == 0).all() and (t.loc[:2, "min_eps"] == 0).all()
    broken = t["success"] & ~t["clean_success"]
    assert broken.sum() >= 15
    real, budget = t.loc[broken, "realized"].to_numpy(), t.loc[broken, "min_eps"].to_numpy()
    assert np.all(real <= budget * (1 + 1e-6))
    assert np.all(real > 0)
    assert np.isnan(t.loc[~t["success"], "realized"]).all()
    # BIM's sign steps on a linear model walk straight to the L-inf corner: the budget is used up.
    if norm == "linf":
        assert np.allclose(real, budget, rtol=1e-6)
    # Recomputing the attack at min_eps gives the same norm (the attack is deterministic).
    idx = torch.tensor(t.index[broken].to_numpy())
    x_adv = attack(x[idx], y[idx], torch.tensor(budget))
    d = x_adv - x[idx]
    again = d.flatten(1).abs().amax(1) if norm == "linf" else d.flatten(1).norm(dim=1)
    assert np.allclose(real, again.numpy(), rtol=1e-12)


def test_curve_over_realized_and_bad_norm():
    x = torch.zeros(len(THR), 1, 2, 3)
    ids = torch.arange(len(THR))
    res = asr_distortion_search(_half_sign_attack, _budget_judge, x, ids, eps_init=0.01, search_steps=8,
                                binary_steps=12)
    by_budget = asr_curve(res.table)
    assert by_budget.equals(res.curve)
    by_realized = asr_curve(res.table, column="realized")
    # Half the distortion: the realized curve is the budget curve compressed by 2 along d.
    assert np.allclose(by_realized["distortion"] * 2, by_budget["distortion"], rtol=1e-6)
    assert np.allclose(by_realized["asr"], by_budget["asr"])
    assert by_realized["asr"].iloc[-1] == pytest.approx(7 / 8)
    with pytest.raises(ValueError, match="column"):
        asr_curve(res.table, column="lo")
    with pytest.raises(ValueError, match="norm"):
        asr_distortion_search(_half_sign_attack, _budget_judge, x, ids, eps_init=0.01, norm="l1")
