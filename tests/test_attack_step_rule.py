"""BIM / MIM step-size rules: ``eps/steps`` (default, torchattacks-equal) and Dong et al. 2020's
``1.5 * eps / iterations`` (the benchmark behind SEM's ASR-vs-distortion protocol)."""

from __future__ import annotations

import pytest
import torch
import torchattacks

from paperlib.attacks import bim, mim
from paperlib.attacks.gradient import STEP_RULES, iterative_step_size

from _tiny_models import correct_test_batch, trained_cnn

torch.set_num_threads(2)

EPS, STEPS = 0.15, 10


@pytest.fixture(scope="module")
def model():
    return trained_cnn()


@pytest.fixture(scope="module")
def batch(model):
    return correct_test_batch(model, 32)


def test_iterative_step_size_rules():
    assert STEP_RULES == ("eps/steps", "1.5eps/steps")
    assert iterative_step_size(0.3, 10, "eps/steps") == 0.3 / 10
    assert iterative_step_size(0.3, 10) == 0.3 / 10
    assert iterative_step_size(0.3, 10, "1.5eps/steps") == 1.5 * 0.3 / 10
    eps = torch.tensor([0.1, 0.2, 0.4])
    assert torch.equal(iterative_step_size(eps, 20, "1.5eps/steps"), 1.5 * eps / 20)
    assert torch.equal(iterative_step_size(eps, 20, "eps/steps"), eps / 20)


@pytest.mark.parametrize("attack", [bim, mim])
def test_rule_equals_explicit_step_size_and_differs_from_default(model, batch, attack):
    x, y = batch
    ruled = attack(model, x, y, eps=EPS, steps=STEPS, step_rule="1.5eps/steps")
    explicit = attack(model, x, y, eps=EPS, steps=STEPS, step_size=1.5 * EPS / STEPS)
    assert torch.equal(ruled, explicit)
    default = attack(model, x, y, eps=EPS, steps=STEPS)
    assert torch.equal(default, attack(model, x, y, eps=EPS, steps=STEPS, step_size=EPS / STEPS))
    assert torch.equal(default, attack(model, x, y, eps=EPS, steps=STEPS, step_rule="eps/steps"))
    assert not torch.equal(ruled, default)
    # Both stay in the budget; the larger step reaches the ball's boundary on more pixels.
    assert (ruled - x).abs().max() <= EPS + 1e-6
    at_edge = lambda xa: ((xa - x).abs() >= EPS - 1e-6).float().mean()
    assert at_edge(ruled) > at_edge(default)


@pytest.mark.parametrize("attack", [bim, mim])
def test_explicit_step_size_wins_over_the_rule(model, batch, attack):
    x, y = batch
    a = attack(model, x, y, eps=EPS, steps=STEPS, step_size=0.02, step_rule="1.5eps/steps")
    b = attack(model, x, y, eps=EPS, steps=STEPS, step_size=0.02)
    assert torch.equal(a, b)


def test_per_image_budgets_follow_the_rule(model, batch):
    x, y = batch
    eps = torch.linspace(0.05, 0.2, len(y))
    ruled = bim(model, x, y, eps=eps, steps=STEPS, step_rule="1.5eps/steps")
    assert torch.equal(ruled, bim(model, x, y, eps=eps, steps=STEPS, step_size=1.5 * eps / STEPS))
    assert ((ruled - x).abs().flatten(1).amax(1) <= eps + 1e-6).all()


def test_bim_with_dong_step_matches_torchattacks(model, batch):
    x, y = batch
    ours = bim(model, x, y, eps=EPS, steps=STEPS, step_rule="1.5eps/steps")
    theirs = torchattacks.BIM(model, eps=EPS, alpha=1.5 * EPS / STEPS, steps=STEPS)(x, y)
    # torchattacks' BIM clips with a different (equivalent) formula; equal up to float rounding.
    assert torch.allclose(ours, theirs, atol=1e-6)
    # ... and not the torchattacks run at the default step.
    default = torchattacks.BIM(model, eps=EPS, alpha=EPS / STEPS, steps=STEPS)(x, y)
    assert not torch.allclose(ours, default, atol=1e-3)


def test_mim_with_dong_step_matches_torchattacks(model, batch):
    x, y = batch
    ours = mim(model, x, y, eps=EPS, steps=STEPS, step_rule="1.5eps/steps")
    theirs = torchattacks.MIFGSM(model, eps=EPS, alpha=1.5 * EPS / STEPS, steps=STEPS, decay=1.0)(x, y)
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("attack", [bim, mim])
@pytest.mark.parametrize("rule", ["1.5*eps/steps", "eps", "", None])
def test_bad_rule_names_step_rule(model, batch, attack, rule):
    x, y = batch
    with pytest.raises(ValueError, match="step_rule"):
        attack(model, x[:2], y[:2], eps=EPS, steps=STEPS, step_rule=rule)
    with pytest.raises(ValueError, match="step_rule"):  # checked even when step_size is given
        attack(model, x[:2], y[:2], eps=EPS, steps=STEPS, step_size=0.01, step_rule=rule)
    with pytest.raises(ValueError, match="step_rule"):
        iterative_step_size(EPS, STEPS, rule)
