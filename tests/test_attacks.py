"""Attacks against torchattacks 3.3.0 (an independent implementation) and sanity properties,
on a real tiny MNIST CNN (tests/_tiny_models.py)."""

from __future__ import annotations

import copy

import pytest
import torch
import torchattacks

from paperlib.attacks import (Bf16ChannelsLast, autoattack, bim, carlini_wagner_l2, eot, fgsm,
                              mim, nes, pgd, spsa)
from paperlib.defenses import GaussianSmoothing
from paperlib.seeding import make_generator

from _tiny_models import correct_test_batch, trained_cnn

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def model():
    return trained_cnn()


@pytest.fixture(scope="module")
def batch(model):
    return correct_test_batch(model, 64)


def success_rate(model, x_adv, y, targeted=False):
    with torch.no_grad():
        pred = model(x_adv).argmax(1)
    return float((pred == y).float().mean() if targeted else (pred != y).float().mean())


def targets_for(y):
    return (y + 1) % 10


def ta_targeted(atk, t):
    atk.set_mode_targeted_by_function(lambda images, labels: t)
    return atk


# --- identical outputs where both implementations are deterministic ---------------------------

@pytest.mark.parametrize("targeted", [False, True])
def test_fgsm_matches_torchattacks(model, batch, targeted):
    x, y = batch
    t = targets_for(y)
    ours = fgsm(model, x, t if targeted else y, eps=0.1, targeted=targeted)
    atk = torchattacks.FGSM(model, eps=0.1)
    if targeted:
        ta_targeted(atk, t)
    theirs = atk(x, y)
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("targeted", [False, True])
def test_pgd_without_random_start_matches_torchattacks(model, batch, targeted):
    x, y = batch
    t = targets_for(y)
    ours = pgd(model, x, t if targeted else y, eps=0.15, steps=10, step_size=0.02,
               random_start=False, targeted=targeted)
    atk = torchattacks.PGD(model, eps=0.15, alpha=0.02, steps=10, random_start=False)
    if targeted:
        ta_targeted(atk, t)
    assert torch.equal(ours, atk(x, y))


def test_pgd_l2_matches_torchattacks(model, batch):
    x, y = batch
    ours = pgd(model, x, y, eps=1.5, steps=10, step_size=0.3, norm="l2", random_start=False)
    theirs = torchattacks.PGDL2(model, eps=1.5, alpha=0.3, steps=10, random_start=False)(x, y)
    # Gradient normalization by ||g|| (sum vs mean loss reduction) differs in the last ulp.
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert (ours - x).flatten(1).norm(dim=1).max() <= 1.5 + 1e-4


def test_bim_matches_torchattacks(model, batch):
    x, y = batch
    ours = bim(model, x, y, eps=0.15, steps=10, step_size=0.02)
    theirs = torchattacks.BIM(model, eps=0.15, alpha=0.02, steps=10)(x, y)
    # torchattacks' BIM clips with a different (equivalent) formula; equal up to float rounding.
    assert torch.allclose(ours, theirs, atol=1e-6)


@pytest.mark.parametrize("targeted", [False, True])
def test_mim_matches_torchattacks(model, batch, targeted):
    x, y = batch
    t = targets_for(y)
    ours = mim(model, x, t if targeted else y, eps=0.15, steps=10, step_size=0.02, decay=1.0,
               targeted=targeted)
    atk = torchattacks.MIFGSM(model, eps=0.15, alpha=0.02, steps=10, decay=1.0)
    if targeted:
        ta_targeted(atk, t)
    assert torch.equal(ours, atk(x, y))


class _ShiftedLogits(torch.nn.Module):
    """Adds a constant to every logit: argmax and every C&W logit difference are unchanged, but
    all logits are positive, where torchattacks' masked ``max((1 - onehot) * z)`` is exact."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x) + 40.0


def test_cw_fixed_c_matches_torchattacks(model, batch):
    x, y = batch
    x = 0.02 + 0.96 * x[:32]  # interior pixels: both tanh-space inits are finite and equal
    y = y[:32]
    shifted = _ShiftedLogits(model)
    res = carlini_wagner_l2(shifted, x, y, c_init=1.0, binary_steps=1, steps=30, lr=0.05,
                            kappa=0.0, abort_early=False)
    theirs = torchattacks.CW(shifted, c=1.0, kappa=0.0, steps=30, lr=0.05)(x, y)
    assert torch.allclose(res.x_adv, theirs, atol=1e-5)
    assert res.success.any()
    # Reported distortion is the L2 norm of the returned example; c is the constant used.
    l2 = (res.x_adv - x).flatten(1).norm(dim=1)
    assert torch.allclose(res.l2[res.success], l2[res.success], atol=1e-5)
    assert torch.all(res.c[res.success] == 1.0) and torch.isinf(res.l2[~res.success]).all()


def test_cw_binary_search_finds_smaller_distortion_than_fixed_c(model, batch):
    x, y = batch
    x, y = x[:24], y[:24]
    fixed = carlini_wagner_l2(model, x, y, c_init=10.0, binary_steps=1, steps=100, lr=0.05)
    searched = carlini_wagner_l2(model, x, y, c_init=10.0, binary_steps=5, steps=100, lr=0.05)
    both = fixed.success & searched.success
    assert searched.success.sum() >= fixed.success.sum()
    assert both.sum() >= 12
    assert searched.l2[both].mean() < fixed.l2[both].mean()
    # Returned examples really are adversarial and within [0, 1].
    with torch.no_grad():
        assert (model(searched.x_adv[searched.success]).argmax(1) != y[searched.success]).all()
    assert searched.x_adv.min() >= 0 and searched.x_adv.max() <= 1


def test_cw_targeted_with_confidence_reaches_target_with_margin(model, batch):
    x, y = batch
    x, y = x[:16], y[:16]
    t = targets_for(y)
    res = carlini_wagner_l2(model, x, t, targeted=True, c_init=1.0, binary_steps=4, steps=100,
                            lr=0.05, kappa=2.0)
    assert res.success.float().mean() >= 0.8
    with torch.no_grad():
        z = model(res.x_adv[res.success])
    tt = t[res.success]
    zt = z.gather(1, tt[:, None]).squeeze(1)
    other = z.scatter(1, tt[:, None], float("-inf")).amax(1)
    assert (zt - other >= 2.0 - 1e-3).all()


# --- randomized attacks: exact under a fixed generator, statistical across seeds ---------------

def test_pgd_random_start_reproducible_and_seed_dependent(model, batch):
    x, y = batch
    a1 = pgd(model, x, y, eps=0.1, steps=5, generator=make_generator(1, "attack"))
    a2 = pgd(model, x, y, eps=0.1, steps=5, generator=make_generator(1, "attack"))
    a3 = pgd(model, x, y, eps=0.1, steps=5, generator=make_generator(2, "attack"))
    assert torch.equal(a1, a2)
    assert not torch.equal(a1, a3)
    with pytest.raises(ValueError, match="Generator"):
        pgd(model, x, y, eps=0.1, steps=5)


def test_pgd_random_start_success_agrees_with_torchattacks(model):
    x, y = correct_test_batch(model, 300, offset=1000)
    ours = success_rate(model, pgd(model, x, y, eps=0.08, steps=10, step_size=0.02,
                                   generator=make_generator(0, "attack")), y)
    with torch.random.fork_rng():
        torch.manual_seed(0)  # torchattacks draws its start from the global RNG
        theirs = success_rate(model, torchattacks.PGD(model, eps=0.08, alpha=0.02, steps=10,
                                                      random_start=True)(x, y), y)
    # Stated tolerance: 0.08 absolute (about 3.5 binomial standard errors at n = 300).
    assert abs(ours - theirs) <= 0.08, (ours, theirs)


# --- sanity properties -------------------------------------------------------------------------

def test_large_epsilon_gives_full_success(model, batch):
    x, y = batch
    adv = pgd(model, x, y, eps=0.5, steps=40, step_size=0.05, generator=make_generator(0, "a"))
    assert success_rate(model, adv, y) == 1.0


def test_success_never_decreases_with_epsilon_and_iterations(model):
    x, y = correct_test_batch(model, 200, offset=2000)
    by_eps = [success_rate(model, bim(model, x, y, eps=e, steps=10), y)
              for e in (0.0, 0.03, 0.06, 0.1, 0.15, 0.25)]
    assert by_eps[0] == 0.0
    assert all(b >= a for a, b in zip(by_eps, by_eps[1:])), by_eps
    by_steps = [success_rate(model, bim(model, x, y, eps=0.1, steps=s, step_size=0.1 / 4), y)
                for s in (1, 2, 4, 8, 16)]
    assert all(b >= a for a, b in zip(by_steps, by_steps[1:])), by_steps
    assert by_eps[-1] > 0.9


def test_random_noise_of_same_norm_is_far_weaker(model):
    x, y = correct_test_batch(model, 200, offset=3000)
    g = make_generator(0, "noise")
    noise = (torch.randint(0, 2, x.shape, generator=g).float() * 2 - 1) * 0.12
    random = success_rate(model, (x + noise).clamp(0, 1), y)
    attack = success_rate(model, bim(model, x, y, eps=0.12, steps=10), y)
    assert attack >= random + 0.5, (random, attack)


def test_per_image_budgets_equal_separate_runs(model, batch):
    x, y = batch
    x, y = x[:8], y[:8]
    eps = torch.tensor([0.02, 0.05, 0.1, 0.2] * 2)
    together = mim(model, x, y, eps=eps, steps=5)
    apart = torch.cat([mim(model, x[i:i + 1], y[i:i + 1], eps=float(eps[i]), steps=5)
                       for i in range(8)])
    assert torch.allclose(together, apart, atol=1e-6)
    assert ((together - x).abs().flatten(1).amax(1) <= eps + 1e-6).all()


def test_invalid_arguments_name_the_field(model, batch):
    x, y = batch
    with pytest.raises(ValueError, match="norm"):
        fgsm(model, x, y, eps=0.1, norm="l1")
    with pytest.raises(ValueError, match="eps"):
        bim(model, x, y, eps=torch.ones(3), steps=2)
    with pytest.raises(ValueError, match="steps"):
        bim(model, x, y, eps=0.1, steps=0)


# --- EOT ---------------------------------------------------------------------------------------

def test_eot_gradient_is_mean_of_per_draw_gradients(model, batch):
    x, y = batch
    x, y = x[:8], y[:8]
    k, sigma = 4, 0.2
    defense = GaussianSmoothing(model, sigma)
    ours = eot(fgsm, defense, k, generator=make_generator(0, "eot"))(x, y, eps=0.1)
    # Independent computation: the same k noise draws (draw-major rows), per-draw loop.
    g = make_generator(0, "eot")
    noise = torch.randn((k * 8,) + tuple(x.shape[1:]), generator=g).view(k, 8, *x.shape[1:])
    grad = torch.zeros_like(x)
    for d in range(k):
        xi = x.clone().requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(model(xi + sigma * noise[d]), y, reduction="sum")
        grad += torch.autograd.grad(loss, xi)[0] / k
    expected = (x + 0.1 * grad.sign()).clamp(0, 1)
    assert torch.allclose(ours, expected, atol=1e-6)


def test_eot_of_noiseless_defense_equals_plain_attack(model, batch):
    x, y = batch
    plain = pgd(model, x, y, eps=0.1, steps=5, generator=make_generator(3, "attack"))
    wrapped = eot(pgd, GaussianSmoothing(model, 0.0), 3, generator=make_generator(0, "d"),
                  chunk=50)(x, y, eps=0.1, steps=5, generator=make_generator(3, "attack"))
    assert torch.allclose(plain, wrapped, atol=1e-6)


def test_eot_beats_single_draw_against_noisy_model():
    model = trained_cnn(0, 0.25)
    x, y = correct_test_batch(model, 100, offset=4000)
    defense = GaussianSmoothing(model, 0.25)
    from paperlib.metrics import monte_carlo_counts
    def mc_success(adv):
        c = monte_carlo_counts(defense, adv, 32, make_generator(9, "eval"))
        return float((c.argmax(1) != y).float().mean())
    one = eot(bim, defense, 1, generator=make_generator(0, "d"))(x, y, eps=0.12, steps=10)
    ten = eot(bim, defense, 10, generator=make_generator(0, "d"), chunk=500)(x, y, eps=0.12, steps=10)
    assert mc_success(ten) >= mc_success(one) - 0.02


# --- score-based attacks -----------------------------------------------------------------------

@pytest.mark.parametrize("attack", [nes, spsa])
def test_score_attacks_use_probabilities_within_budget(model, attack):
    x, y = correct_test_batch(model, 40, offset=5000)
    calls = []

    def probs_fn(z):
        calls.append(z.shape[0])
        with torch.no_grad():
            return model(z).softmax(-1)

    kw = dict(eps=0.2, max_queries=2000, generator=make_generator(0, "score"))
    if attack is spsa:
        kw.update(step_size=0.02, sigma=0.05)
    res = attack(probs_fn, x, y, **kw)
    assert (res.queries <= 2000).all()
    assert sum(calls) == int(res.queries.sum())
    ok = success_rate(model, res.x_adv, y)
    assert ok == pytest.approx(float(res.success.float().mean()))
    assert ok >= 0.5, ok
    assert ((res.x_adv - x).abs().flatten(1).amax(1) <= 0.2 + 1e-6).all()
    again = attack(probs_fn, x, y, **{**kw, "generator": make_generator(0, "score")})
    assert torch.equal(res.x_adv, again.x_adv)
    g = make_generator(1, "noise")
    noise = (torch.randint(0, 2, x.shape, generator=g).float() * 2 - 1) * 0.2
    assert ok >= success_rate(model, (x + noise).clamp(0, 1), y) + 0.3


# --- AutoAttack --------------------------------------------------------------------------------

def test_autoattack_standard_breaks_undefended_model_and_keeps_global_rng(model, batch):
    x, y = batch
    x, y = x[:12], y[:12]
    before = torch.random.get_rng_state()
    adv = autoattack(model, x, y, eps=0.3, version="standard", seed=0)
    assert torch.equal(before, torch.random.get_rng_state())
    assert success_rate(model, adv, y) == 1.0
    assert (adv - x).abs().max() <= 0.3 + 1e-5


def test_autoattack_rand_version_runs_on_stochastic_defense(model, batch):
    x, y = batch
    x, y = x[:8], y[:8]
    defense = GaussianSmoothing(model, 0.1, generator=make_generator(0, "defense-noise"))
    adv = autoattack(defense, x, y, eps=0.3, version="rand", seed=0)
    assert (adv - x).abs().max() <= 0.3 + 1e-5
    assert success_rate(model, adv, y) >= 0.75
    with pytest.raises(ValueError, match="version"):
        autoattack(model, x, y, eps=0.3, version="fast")


def test_bf16_channels_last_wrapper_is_close_to_fp32(model, batch):
    x, y = batch
    fast = Bf16ChannelsLast(copy.deepcopy(model))  # the wrapper converts weights in place
    with torch.no_grad():
        z32, z16 = model(x), fast(x)
    assert z16.dtype == torch.float32
    assert (z32.argmax(1) == z16.argmax(1)).float().mean() >= 0.95
    assert torch.allclose(z32, z16, atol=0.5)


@pytest.mark.parametrize("which", ["rand", "standard-rand"])
def test_autoattacks_leave_frozen_batch_norm_frozen_inside_a_training_mode_wrapper(which):
    """torchattacks calls ``model.train()`` after an attack that found ``model`` in training mode; a
    defense built fresh around frozen networks starts there. Our wrappers must give every module its
    own mode back, so the frozen network's batch norm keeps its running statistics."""
    from torch import nn

    from paperlib.attacks.autoattack_rand import autoattack_rand

    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        net[1].running_mean.copy_(torch.randn(4, generator=g))
    net.eval().requires_grad_(False)

    class Wrapper(nn.Module):  # a defense as built: training mode, the frozen network inside
        def __init__(self):
            super().__init__()
            self.inner = net

        def forward(self, x):
            return self.inner(x)

    wrapper = Wrapper()
    assert wrapper.training and not net.training
    stats = net[1].running_mean.clone()
    x = torch.rand(6, 1, 6, 6, generator=g)
    y = torch.randint(0, 3, (6,), generator=g)
    if which == "rand":
        autoattack_rand(wrapper, x, y, eps=0.1, steps=3, eot_iter=2, seed=0)
    else:
        autoattack(wrapper, x, y, eps=0.1, version="rand", seed=0)
    assert wrapper.training and not net.training and not net[1].training
    wrapper(x)  # a forward after the attack must not touch the frozen statistics
    assert torch.equal(net[1].running_mean, stats)
