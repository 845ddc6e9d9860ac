"""Stochastic defenses: exact equality under a fixed generator, distribution checks across many
draws (chi-square / Kolmogorov-Smirnov), frozen realizations, and the SEM Algorithm 1 sum."""

from __future__ import annotations

import pytest
import torch
from scipy.stats import chisquare, kstest
from torch import nn

from paperlib.defenses import (EnsembleVote, FrozenDraw, GaussianSmoothing, Member, NoisyLogit,
                               RandomSubmodel, SEMDistribution, SmoothedEnsemble, StochasticEnsemble)
from paperlib.seeding import make_generator

torch.set_num_threads(2)


class Flat(nn.Module):
    """Returns the (noisy) input itself as 'logits': makes the injected noise observable."""

    def forward(self, x):
        return x.flatten(1)


def linear_members(n_archs=4, sigmas=(0.0, 0.25)):
    g = make_generator(0, "init", "linear-members")
    members = []
    for a in range(n_archs):
        for s in sigmas:
            lin = nn.Linear(6, 5)
            with torch.no_grad():
                lin.weight.copy_(torch.randn(lin.weight.shape, generator=g))
                lin.bias.copy_(torch.randn(lin.bias.shape, generator=g))
            members.append(Member(f"arch{a}-s{s}", f"arch{a}", s, nn.Sequential(nn.Flatten(), lin)))
    return members


X = torch.rand(8, 1, 2, 3, generator=make_generator(0, "x"))


def test_same_generator_same_draw_other_seed_other_draw():
    sem = StochasticEnsemble(linear_members())
    a = sem(X, generator=make_generator(1, "defense-noise"))
    b = sem(X, generator=make_generator(1, "defense-noise"))
    c = sem(X, generator=make_generator(2, "defense-noise"))
    assert torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ValueError, match="Generator"):
        sem(X)


def test_rows_are_independent_draws():
    d = GaussianSmoothing(Flat(), 0.5)
    same = X[:1].repeat(4, 1, 1, 1)
    out = d(same, generator=make_generator(0, "n"))
    assert not torch.equal(out[0], out[1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gaussian_noise_has_the_stated_distribution(seed):
    d = GaussianSmoothing(Flat(), 0.3)
    x = torch.full((500, 1, 2, 3), 0.5)
    noise = (d(x, generator=make_generator(seed, "n")) - 0.5).flatten().numpy()
    assert kstest(noise / 0.3, "norm").pvalue > 1e-3


def test_noisy_logit_sites():
    base = Flat()
    x = torch.full((400, 1, 2, 3), 0.5)
    on_logits = NoisyLogit(base, 0.2, site="logits")(x, generator=make_generator(0, "n"))
    assert kstest(((on_logits - 0.5) / 0.2).flatten().numpy(), "norm").pvalue > 1e-3
    on_input = NoisyLogit(base, 0.2)(x, generator=make_generator(0, "n"))
    # site="input": Flat's logits are the noisy input, the same distribution.
    assert kstest(((on_input - 0.5) / 0.2).flatten().numpy(), "norm").pvalue > 1e-3
    with pytest.raises(ValueError, match="site"):
        NoisyLogit(base, 0.2, site="weights")
    with pytest.raises(ValueError, match="sigma"):
        GaussianSmoothing(base, -1.0)


def test_frozen_draw_is_deterministic_and_differentiable():
    sem = StochasticEnsemble(linear_members(), generator=make_generator(0, "own"))
    real = sem.draw(make_generator(5, "draw"))
    assert isinstance(real, FrozenDraw)
    x = X.clone().requires_grad_(True)
    out = real(x)
    assert torch.equal(out, real(X))
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    other = sem.draw(make_generator(6, "draw"))
    assert not torch.equal(other(X), real(X))


def test_sem_membership_follows_algorithm_1_distribution():
    members = linear_members(n_archs=4, sigmas=(0.0, 0.25, 0.5))
    sem = StochasticEnsemble(members, SEMDistribution(quantities=(1, 2, 3, 4)))
    n = 6000
    mask = sem.membership(n, make_generator(0, "m"))
    arch_of = torch.tensor([int(m.arch[-1]) for m in members])
    per_arch = torch.stack([mask[:, arch_of == a].sum(1) for a in range(4)], 1)
    assert per_arch.max() <= 1  # one sigma per chosen architecture (distinct architectures)
    k = per_arch.sum(1)
    assert chisquare(torch.bincount(k, minlength=5)[1:].numpy()).pvalue > 1e-3  # K uniform
    # Given its architecture is chosen, each of the 3 sigmas equally likely.
    for a in range(4):
        cols = mask[:, arch_of == a]
        assert chisquare(cols.sum(0).numpy()).pvalue > 1e-3
    # P(architecture chosen) = E[K] / 4 = 2.5 / 4.
    assert abs(per_arch.float().mean() - 2.5 / 4) < 0.02


def test_sem_forward_is_sum_of_chosen_members_logits():
    members = linear_members(n_archs=3, sigmas=(0.0,))
    sem = StochasticEnsemble(members, SEMDistribution((1, 2, 3)))
    g = make_generator(0, "d")
    g_copy = torch.Generator()
    g_copy.set_state(g.get_state())
    out = sem(X, generator=g)
    mask = sem.membership(X.shape[0], g_copy)
    expected = torch.stack([sum(m.model(X[i:i + 1])[0] for m, used in zip(members, mask[i]) if used)
                            for i in range(X.shape[0])])
    assert torch.allclose(out, expected, atol=1e-6)
    assert torch.allclose(sem.probs(X, 1, make_generator(0, "d")), out.softmax(-1), atol=1e-6)


def test_sem_arch_weights_and_validation():
    members = linear_members(n_archs=3, sigmas=(0.0,))
    d = SEMDistribution((1, 2), arch_weights=(("arch0", 1.0), ("arch1", 1.0), ("arch2", 0.0)))
    mask = StochasticEnsemble(members, d).membership(2000, make_generator(0, "m"))
    assert not mask[:, 2].any() and mask[:, 0].any() and mask[:, 1].any()
    with pytest.raises(ValueError, match="quantities"):
        StochasticEnsemble(members, SEMDistribution((1, 4)))
    with pytest.raises(ValueError, match="quantities"):
        SEMDistribution((0, 1))
    with pytest.raises(ValueError, match="sigma"):
        Member("x", "a", -0.1, nn.Identity())


def test_sem_condition_fixes_attributes_not_noise():
    sem = StochasticEnsemble(linear_members(n_archs=4), SEMDistribution((2, 3)))
    cond = sem.condition(make_generator(0, "attr"))
    assert isinstance(cond, SmoothedEnsemble)
    archs = [m.arch for m in cond.members]
    assert len(archs) in (2, 3) and len(set(archs)) == len(archs)
    restricted = sem.restricted([m.name for m in sem.members if m.arch in ("arch0", "arch1")])
    assert set(m.arch for m in restricted.members) == {"arch0", "arch1"}
    assert restricted.distribution.quantities == (2,)


def test_random_submodel_uniform_and_exact():
    models = [nn.Sequential(nn.Flatten(), nn.Linear(6, 5)) for _ in range(4)]
    g = make_generator(0, "init")
    for m in models:
        with torch.no_grad():
            m[1].weight.copy_(torch.randn(m[1].weight.shape, generator=g))
    rs = RandomSubmodel(models)
    idx = rs.choose(4000, make_generator(0, "c"))
    assert chisquare(torch.bincount(idx, minlength=4).numpy()).pvalue > 1e-3
    g1 = make_generator(3, "q")
    g2 = torch.Generator()
    g2.set_state(g1.get_state())
    out = rs(X, generator=g1)
    chosen = rs.choose(X.shape[0], g2)
    expected = torch.stack([models[int(chosen[i])](X[i:i + 1])[0] for i in range(X.shape[0])])
    assert torch.allclose(out, expected, atol=1e-6)


def test_ensemble_vote_counts():
    models = [nn.Sequential(nn.Flatten(), nn.Linear(6, 5)) for _ in range(5)]
    ev = EnsembleVote(models)
    votes = ev(X, generator=make_generator(0, "v"))
    assert torch.all(votes.sum(1) == 5)
    expected = sum(torch.nn.functional.one_hot(m(X).argmax(1), 5) for m in models).float()
    assert torch.equal(votes, expected)
    noisy = EnsembleVote([NoisyLogit(m, 0.5) for m in models])
    assert torch.all(noisy(X, generator=make_generator(0, "v")).sum(1) == 5)
