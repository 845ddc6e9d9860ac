"""Attacker-knowledge models: SEM Table 2 as data, the views of attackers A-E and contrasts F-M,
CLM's random-submodel protocol with MRA, and Liang & Samavi's superimposition."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from scipy.stats import chisquare

from paperlib.attacks import bim, carlini_wagner_l2, nes
from paperlib.attacks.eot import ExpectationView
from paperlib.defenses import (GaussianSmoothing, Member, SEMDistribution, SmoothedEnsemble,
                               StochasticEnsemble)
from paperlib.metrics import monte_carlo_counts, mra, sem_attack_success
from paperlib.scenarios import (PeriodicView, clm_random_submodel_attack, contrast,
                                craft_per_network, greedy_superimposition, known_half,
                                perturbation_ratio, sem_attacker, superimpose, table2_rows)
from paperlib.seeding import make_generator

from _tiny_models import correct_test_batch, trained_cnn

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def sem():
    members = [Member("a-0", "a", 0.0, trained_cnn(0)), Member("a-25", "a", 0.25, trained_cnn(0, 0.25)),
               Member("b-0", "b", 0.0, trained_cnn(1)), Member("c-0", "c", 0.0, trained_cnn(2))]
    return StochasticEnsemble(members, SEMDistribution((1, 2)),
                              generator=make_generator(0, "defense-noise"))


@pytest.fixture(scope="module")
def batch():
    return correct_test_batch(trained_cnn(0), 24, offset=8000)


def test_table2_rows_as_data():
    df = pd.DataFrame(table2_rows())
    assert df["tag"].tolist() == list("ABCDEFGHIJKLM")
    assert (df["role"] == "attacker").sum() == 5 and (df["role"] == "contrast").sum() == 8
    assert df.set_index("tag").loc["E", "attack_type"] == "query-based black-box"
    assert "half of the models" in df.set_index("tag").loc["C", "definition"]
    with pytest.raises(ValueError, match="unknown SEM scenario"):
        sem_attacker("Z", None, generator=make_generator(0, "a"))


def test_periodic_view_redraws_attributes_every_period(sem, batch):
    x, y = batch
    for period, draws in ((1, 10), (5, 2), (3, 4)):
        view = PeriodicView(sem, period=period, k=2, generator=make_generator(0, "atk"))
        bim(view, x, y, eps=0.1, steps=10)
        assert view.calls == 10 and view.attribute_draws == draws
    # Within a period the attributes (members) stay fixed: with noiseless members the output is
    # then identical between calls.
    noiseless = StochasticEnsemble([m for m in sem.members if m.sigma == 0], SEMDistribution((1, 2)))
    view = PeriodicView(noiseless, period=3, k=1, generator=make_generator(1, "atk"))
    outs = [view(x) for _ in range(3)]
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[1], outs[2])


def test_sem_attackers_build_and_run(sem, batch):
    x, y = batch
    g = make_generator(0, "attacker")
    known = known_half(sem.members, make_generator(0, "known"))
    assert set(m.arch for m in sem.members if m.name in known) < {"a", "b", "c"}
    for tag in "ABCD":
        k = sem_attacker(tag, sem, generator=g, k=2, period=5, known=("a-0", "a-25", "b-0"))
        assert k.model is not None and k.probs_fn is None
        adv = bim(k.model, x, y, eps=0.15, steps=5)
        assert (adv - x).abs().max() <= 0.15 + 1e-6
    c = sem_attacker("C", sem, generator=g, k=2, known=("a-0", "b-0"))
    assert isinstance(c.model, ExpectationView)
    assert {m.name for m in c.model.defense.members} == {"a-0", "b-0"}
    # D: the plain (noiseless) ensemble of the known models, deterministic.
    d = sem_attacker("D", sem, generator=g, known=("a-25", "b-0"))
    expected = trained_cnn(0, 0.25)(x) + trained_cnn(1)(x)
    assert torch.allclose(d.model(x), expected, atol=1e-5)
    e = sem_attacker("E", sem, generator=g)
    assert e.model is None
    p = e.probs_fn(x)
    assert torch.allclose(p.sum(1), torch.ones(len(x)), atol=1e-5)
    res = nes(e.probs_fn, x[:4], y[:4], eps=0.2, max_queries=200, generator=make_generator(0, "nes"))
    assert (res.queries <= 200).all()


def test_attacker_a_with_eot_is_stronger_than_transfer_from_one_model(sem, batch):
    x, y = batch
    g_eval = make_generator(0, "eval")

    def asr(adv):
        return float(sem_attack_success(monte_carlo_counts(sem, adv, 20, g_eval), y, 0.3).float().mean())

    a = sem_attacker("A", sem, generator=make_generator(0, "atk"), k=4)
    strong = asr(bim(a.model, x, y, eps=0.15, steps=10))
    # A deliberately weak transfer: crafted on the member absent from the known pool.
    weak = asr(bim(trained_cnn(2), x, y, eps=0.03, steps=10))
    assert strong >= weak


def test_contrasts(sem, batch):
    x, y = batch
    g = make_generator(0, "c")
    smoothed = GaussianSmoothing(trained_cnn(0, 0.25), 0.25)
    f = contrast("G", smoothed, generator=g, k=3)
    assert f.model(x).shape == (3, len(x), 10)  # EOT view: 3 draws
    i = contrast("I", trained_cnn(0), generator=g)
    assert i.model is trained_cnn(0)  # a deterministic model is attacked directly
    m = contrast("M", trained_cnn(0), generator=g)
    assert m.model is None and torch.allclose(m.probs_fn(x), trained_cnn(0)(x).softmax(-1))
    with pytest.raises(ValueError, match="contrast"):
        sem_attacker("F", sem, generator=g)


def test_clm_random_submodel_protocol_and_mra(batch):
    x, y = batch
    models = [trained_cnn(0), trained_cnn(1), trained_cnn(2)]
    adv, source = clm_random_submodel_attack(bim, models, x, y, generator=make_generator(0, "clm"),
                                             eps=0.2, steps=10)
    # Each image is exactly the attack on its own source submodel.
    for i in range(3):
        rows = source == i
        if rows.any():
            assert torch.allclose(adv[rows], bim(models[i], x[rows], y[rows], eps=0.2, steps=10))
    big = torch.randint(0, 3, (3000,), generator=make_generator(0, "clm"))
    assert chisquare(torch.bincount(big, minlength=3).numpy()).pvalue > 1e-3
    value, per_model = mra(models, adv, y)
    assert 0 <= value <= 1 and per_model.shape == (3,)
    # A submodel is least robust on the images crafted on itself.
    with torch.no_grad():
        own = torch.stack([(models[int(s)](adv[j:j + 1]).argmax(1) == y[j]) for j, s in enumerate(source)])
    assert own.float().mean() <= value


def test_superimposition_closed_form():
    x = torch.full((2, 1, 2, 2), 0.5)
    advs = torch.stack([x + 0.1, x - 0.2, x + 0.05, x + 0.3])  # ratios 0.2, 0.4, 0.1, 0.6
    assert torch.allclose(perturbation_ratio(advs, x[None])[:, 0], torch.tensor([0.2, 0.4, 0.1, 0.6]))
    success = torch.tensor([[True, True], [True, False], [False, True], [True, True]])
    sup, chosen = greedy_superimposition(x, advs, success, m=2)
    # image 0: smallest successful ratios are networks 0 (0.2) and 1 (0.4) -> 0.5 + 0.1 - 0.2
    # image 1: networks 2 (0.1) and 0 (0.2) -> 0.5 + 0.05 + 0.1
    assert chosen[:, 0].tolist() == [0, 1] and chosen[:, 1].tolist() == [2, 0]
    assert torch.allclose(sup[0], torch.full((1, 2, 2), 0.4))
    assert torch.allclose(sup[1], torch.full((1, 2, 2), 0.65))
    assert torch.equal(superimpose(x, advs[:3]), torch.clamp(x + 0.1 - 0.2 + 0.05, 0, 1))


def test_liang_single_network_cw_attacks(batch):
    x, y = batch
    x, t = x[:6], (y[:6] + 1) % 10
    nets = [trained_cnn(0), trained_cnn(1)]
    advs = craft_per_network(carlini_wagner_l2, nets, x, t, targeted=True, c_init=1.0,
                             binary_steps=3, steps=50, lr=0.05)
    assert advs.shape == (2,) + tuple(x.shape)
    with torch.no_grad():
        hit = torch.stack([(n(a).argmax(1) == t) for n, a in zip(nets, advs)])
    assert hit.float().mean() >= 0.7
    sup, chosen = greedy_superimposition(x, advs, hit, m=2)
    assert sup.shape == x.shape and sup.min() >= 0 and sup.max() <= 1
