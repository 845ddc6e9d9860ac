"""Liang & Samavi's ensemble views, attack tests, tables and robustness measures
(paperlib/liang/{ensemble,attacks,tables,robustness}.py) against independent references: numpy
forward passes of tiny linear members, numpy bincounts and norms, hand-built superimpositions,
``scipy.stats.binomtest``, the closed-form Clopper-Pearson bound ``alpha ** (1 / n)`` for ``n``
successes out of ``n``, ``scipy.stats.norm.ppf``, and hand counts of the claims file."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import yaml
from scipy.stats import binomtest, norm
from torch import nn

from paperlib.claims import CLAIMS_DIR, load_claims_file
from paperlib.liang import robustness
from paperlib.liang.attacks import (SingleNetworkExamples, judge, single_network_tests,
                                    superimposition_tests, targets_of)
from paperlib.liang.attacks import TestSet as AttackTests  # (not collected by pytest)
from paperlib.liang.ensemble import PerNetwork, member_predictions, vote, vote_counts
from paperlib.liang.robustness import adaptive_attack, certify_inputs
from paperlib.liang.tables import Bootstrap, cell_claims, cells_of, interval
from paperlib.models.noise_space import add_gaussian_noise

K = 10


# --- tiny deterministic members ---------------------------------------------------------------


def _linear(w: np.ndarray, b: np.ndarray) -> nn.Module:
    """``Flatten -> Linear`` with the given weights (K_out, D) and bias, frozen."""
    lin = nn.Linear(w.shape[1], w.shape[0])
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(w, dtype=torch.float32))
        lin.bias.copy_(torch.as_tensor(b, dtype=torch.float32))
    return nn.Sequential(nn.Flatten(), lin).eval().requires_grad_(False)


def _members(L: int, d: int, k: int = K, seed: int = 0, spread: float = 1.0):
    """``L`` linear members sharing a base weight (so that they mostly agree) and their numpy
    weights ``[(W, b)]``."""
    rng = np.random.default_rng(seed)
    w0 = rng.normal(size=(k, d))
    wb = [(w0 + spread * rng.normal(size=(k, d)), 0.1 * rng.normal(size=k)) for _ in range(L)]
    return [_linear(w, b) for w, b in wb], wb


def _np_logits(wb, x: torch.Tensor) -> np.ndarray:
    w, b = wb
    return x.double().flatten(1).numpy() @ w.T + b


# --- PerNetwork -------------------------------------------------------------------------------


def test_per_network_block_l_goes_through_member_l():
    members, wb = _members(3, 4)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3 * 5, 1, 2, 2, generator=g)
    out = PerNetwork(members)(x)
    assert out.shape == (15, K)
    for l in range(3):
        ref = _np_logits(wb[l], x[5 * l:5 * (l + 1)])
        np.testing.assert_allclose(out[5 * l:5 * (l + 1)].double().numpy(), ref, atol=1e-5)
        # and not another member's output on that block
        other = _np_logits(wb[(l + 1) % 3], x[5 * l:5 * (l + 1)])
        assert not np.allclose(out[5 * l:5 * (l + 1)].double().numpy(), other, atol=1e-3)


def test_per_network_noise_is_reproduced_by_a_reseeded_generator_and_fresh_per_call():
    members, wb = _members(3, 4)
    x = torch.rand(6, 1, 2, 2, generator=torch.Generator().manual_seed(2))
    net = PerNetwork(members, sigma=0.3, generator=torch.Generator().manual_seed(5))
    first, second = net(x), net(x)
    g = torch.Generator().manual_seed(5)
    for out in (first, second):                    # the second call draws the generator's next noise
        noisy = add_gaussian_noise(x, 0.3, g)
        assert not torch.allclose(noisy, x)
        for l in range(3):
            ref = _np_logits(wb[l], noisy[2 * l:2 * (l + 1)])
            np.testing.assert_allclose(out[2 * l:2 * (l + 1)].double().numpy(), ref, atol=1e-5)
    assert not torch.allclose(first, second)
    assert not torch.allclose(first, PerNetwork(members)(x), atol=1e-3)


def test_per_network_refuses_a_batch_not_divisible_by_members_and_bad_sigma():
    members, _ = _members(3, 4)
    with pytest.raises(ValueError, match="equal blocks"):
        PerNetwork(members)(torch.rand(7, 1, 2, 2))
    with pytest.raises(ValueError):
        PerNetwork(members, sigma=0.1)                    # noise without a generator
    with pytest.raises(ValueError):
        PerNetwork(members, sigma=-0.1, generator=torch.Generator())
    with pytest.raises(ValueError):
        PerNetwork([])


# --- member_predictions, vote_counts, vote ----------------------------------------------------


def test_member_predictions_are_each_members_numpy_argmax_in_any_batch_size():
    members, wb = _members(4, 9)
    x = torch.rand(11, 1, 3, 3, generator=torch.Generator().manual_seed(3))
    ref = np.stack([_np_logits(w, x).argmax(1) for w in wb])
    for bs in (1000, 3):
        pred = member_predictions(members, x, batch_size=bs)
        assert pred.shape == (4, 11) and pred.dtype == torch.int64
        assert pred.numpy().tolist() == ref.tolist()


def test_member_predictions_with_noise_give_each_member_its_own_draw():
    members, wb = _members(3, 9, spread=0.0)               # identical members: only the noise differs
    x = torch.rand(40, 1, 3, 3, generator=torch.Generator().manual_seed(3))
    pred = member_predictions(members, x, sigma=0.5, generator=torch.Generator().manual_seed(9))
    g = torch.Generator().manual_seed(9)
    ref = np.stack([_np_logits(w, add_gaussian_noise(x, 0.5, g)).argmax(1) for w in wb])
    assert pred.numpy().tolist() == ref.tolist()
    assert (pred[0] != pred[1]).any()                      # independent draws, not one shared draw
    with pytest.raises(ValueError):
        member_predictions(members, x, sigma=0.5)


def test_vote_counts_equal_numpy_bincount_per_input():
    rng = np.random.default_rng(4)
    pred = rng.integers(0, K, size=(7, 30))
    counts = vote_counts(torch.as_tensor(pred), K)
    ref = np.stack([np.bincount(pred[:, n], minlength=K) for n in range(30)])
    assert counts.shape == (30, K) and counts.numpy().tolist() == ref.tolist()
    assert counts.sum(1).tolist() == [7] * 30


def test_vote_is_the_most_voted_class_with_ties_to_the_lowest():
    pred = torch.tensor([[2, 1, 0, 3, 4],
                         [2, 1, 0, 2, 4],
                         [1, 3, 1, 3, 0],
                         [1, 3, 1, 2, 1]])                  # 4 members, 5 inputs, 5 classes
    counts = vote_counts(pred, 5)
    assert counts.tolist() == [[0, 2, 2, 0, 0], [0, 2, 0, 2, 0], [2, 2, 0, 0, 0],
                               [0, 0, 2, 2, 0], [1, 1, 0, 0, 2]]
    assert vote(counts).tolist() == [1, 1, 0, 2, 4]


# --- targets_of -------------------------------------------------------------------------------


def test_nine_targets_are_every_other_class_exactly_once():
    y = torch.tensor([0, 3, 9, 3, 7])
    input_of, target = targets_of(y, 9, K)
    assert input_of.tolist() == [i for i in range(5) for _ in range(9)]
    for i in range(5):
        t = target[input_of == i].tolist()
        assert sorted(t) == sorted(set(range(K)) - {int(y[i])})


def test_fewer_targets_are_the_next_classes_mod_k_and_bad_counts_raise():
    _, target = targets_of(torch.tensor([8, 1]), 3, K)
    assert target.tolist() == [9, 0, 1, 2, 3, 4]
    for bad in (0, 10):
        with pytest.raises(ValueError):
            targets_of(torch.tensor([1]), bad, K)


# --- single-network and superimposition tests -------------------------------------------------


def _examples(L: int = 3, n: int = 4):
    """Hand-made single-network examples: ``n`` inputs of 3x3 pixels in [0.6, 0.95], 2 targets
    each, positive perturbations (so superimpositions exceed 1 and are clipped), and a success
    pattern with 3, 2, 1 and 0 successes per test."""
    rng = np.random.default_rng(6)
    x = torch.as_tensor(rng.uniform(0.6, 0.95, size=(n, 1, 3, 3)), dtype=torch.float32)
    y = torch.tensor([1, 5, 7, 2])[:n]
    input_of, target = targets_of(y, 2, K)
    E = len(input_of)
    delta = torch.as_tensor(rng.uniform(0.0, 0.25, size=(L, E, 1, 3, 3)), dtype=torch.float32)
    adv = x[input_of][None] + delta
    pattern = [[1, 1, 1], [1, 1, 0], [0, 1, 0], [0, 0, 0], [1, 0, 1], [0, 1, 1], [1, 0, 0], [1, 1, 1]]
    success = torch.tensor(pattern[:E], dtype=torch.bool).T.contiguous()      # (L, E)
    return SingleNetworkExamples(adv=adv, success=success, input_of=input_of, target=target), x, y


def test_single_network_tests_are_every_member_input_target_with_numpy_ratios():
    ex, x, y = _examples()
    L, k = 3, 3                                     # the first 3 of the 4 inputs: 6 (input, target) pairs
    tests, adv = single_network_tests(ex, x, y, k)
    keep = [e for e in range(len(ex.input_of)) if ex.input_of[e] < k]
    assert len(keep) == 6 and len(tests.p) == L * 6 == adv.shape[0]
    rows = [(l, e) for l in range(L) for e in keep]
    xn, an = x.double().numpy(), ex.adv.double().numpy()
    for j, (l, e) in enumerate(rows):
        s, a = xn[int(ex.input_of[e])], an[l, e]
        assert np.isclose(float(tests.p[j]), np.linalg.norm(a - s) / np.linalg.norm(s), rtol=1e-5)
        assert np.isclose(float(tests.l2[j]), np.linalg.norm(a - s), rtol=1e-5)
        assert torch.equal(adv[j], ex.adv[l, e])
        assert int(tests.source[j]) == l and int(tests.input_of[j]) == int(ex.input_of[e])
        assert int(tests.label[j]) == int(y[ex.input_of[e]]) and int(tests.target[j]) == int(ex.target[e])
        assert bool(tests.success[j]) == bool(ex.success[l, e])


def _superimposition_by_hand(ex, x, m, k):
    xn, an, sn = x.double().numpy(), ex.adv.double().numpy(), ex.success.numpy()
    sups, ok = [], []
    for e in range(len(ex.input_of)):
        if ex.input_of[e] >= k:
            continue
        s = xn[int(ex.input_of[e])]
        cands = [l for l in range(an.shape[0]) if sn[l, e]]
        ratios = {l: np.linalg.norm(an[l, e] - s) / np.linalg.norm(s) for l in cands}
        picked = sorted(cands, key=ratios.get)[:m]
        sups.append(np.clip(s + sum(an[l, e] - s for l in picked), 0.0, 1.0))
        ok.append(len(picked) == m)
    return np.stack(sups), np.array(ok)


@pytest.mark.parametrize("m", [2, 3])
def test_superimposition_of_the_m_smallest_successful_examples_equals_hand_superimposition(m):
    ex, x, y = _examples()
    tests, sup = superimposition_tests(ex, x, y, m, inputs=4)
    ref, ok = _superimposition_by_hand(ex, x, m, 4)
    np.testing.assert_allclose(sup.double().numpy(), ref, atol=1e-6)
    assert (ref == 1.0).any()                                # clipping is exercised
    assert tests.success.numpy().tolist() == ok.tolist()
    s = x[tests.input_of].double().numpy().reshape(len(ref), -1)
    d = ref.reshape(len(ref), -1) - s
    np.testing.assert_allclose(tests.p.double().numpy(), np.linalg.norm(d, axis=1) / np.linalg.norm(s, axis=1),
                               rtol=1e-5)
    np.testing.assert_allclose(tests.l2.double().numpy(), np.linalg.norm(d, axis=1), rtol=1e-5)
    assert tests.source.tolist() == [-1] * len(ref)
    # test 3 (no success) is the clean input itself
    assert np.allclose(ref[3], x[int(ex.input_of[3])].numpy()) and float(tests.p[3]) == 0.0


def test_si2_hand_case_picks_the_two_smallest_ratios():
    # one input, 3 members all successful; member 1 has the largest perturbation
    s = torch.full((1, 1, 1, 2), 0.5)
    adv = torch.tensor([[0.6, 0.5], [0.5, 0.9], [0.45, 0.55]]).view(3, 1, 1, 1, 2)
    ex = SingleNetworkExamples(adv=adv, success=torch.ones(3, 1, dtype=torch.bool),
                               input_of=torch.tensor([0]), target=torch.tensor([3]))
    tests, sup = superimposition_tests(ex, s, torch.tensor([1]), 2, 1)
    # ratios 0.1, 0.4, 0.0707 (/ ||s||): members 2 and 0: 0.5 + 0.1 - 0.05, 0.5 + 0 + 0.05
    assert np.allclose(sup.view(-1).numpy(), [0.55, 0.55])
    assert np.isclose(float(tests.p[0]), math.hypot(0.05, 0.05) / math.hypot(0.5, 0.5), rtol=1e-5)


# --- judge ------------------------------------------------------------------------------------


def test_judge_members_vote_and_rank_verification_match_numpy_and_scipy_binomtest():
    L = 9
    members, wb = _members(L, 9, spread=0.6, seed=11)
    rng = np.random.default_rng(12)
    n = 12
    x = torch.as_tensor(rng.uniform(0, 1, size=(n, 1, 3, 3)), dtype=torch.float32)
    y = torch.as_tensor(rng.integers(0, K, n))
    input_of, target = targets_of(y, 2, K)
    adv = (x[input_of][None] + torch.as_tensor(rng.normal(0, 0.3, size=(3, len(input_of), 1, 3, 3)),
                                                dtype=torch.float32)).clamp(0, 1)
    ex = SingleNetworkExamples(adv=adv, success=torch.ones(3, len(input_of), dtype=torch.bool),
                               input_of=input_of, target=target)
    tests, a = single_network_tests(ex, x, y, n)
    alpha = 0.05
    judged = judge(tests, a, x, members, num_classes=K, rv_alpha=alpha)
    pvals = []
    for which, inp in (("clean", x[tests.input_of]), ("adv", a)):
        pred = np.stack([_np_logits(w, inp).argmax(1) for w in wb])          # (L, E)
        assert getattr(judged, f"member_{which}").numpy().tolist() == pred.tolist()
        counts = np.stack([np.bincount(pred[:, e], minlength=K) for e in range(pred.shape[1])])
        assert getattr(judged, f"vote_{which}").numpy().tolist() == counts.argmax(1).tolist()
        top = -np.sort(-counts, axis=1)
        p = np.array([binomtest(int(na), int(na + nb), 0.5).pvalue for na, nb in top[:, :2]])
        np.testing.assert_allclose(getattr(judged, f"rv_p_{which}").numpy(), p, rtol=1e-9)
        rv = np.where(p < alpha, counts.argmax(1), -1)
        assert getattr(judged, f"rv_{which}").numpy().tolist() == rv.tolist()
        pvals.append(p)
    p = np.concatenate(pvals)
    assert (p < alpha).any() and (p >= alpha).any()        # both answers and abstentions are exercised


# --- tables: cells, bootstrap, intervals ------------------------------------------------------


def _testset(rng, k: int, per_input: int, L: int) -> AttackTests:
    E = k * per_input
    input_of = np.repeat(np.arange(k), per_input)
    label = rng.integers(0, K, k)[input_of]
    target = (label + rng.integers(1, K, E)) % K
    other = (label + target + 1 + rng.integers(0, 3, E)) % K
    other = np.where((other == label) | (other == target), (np.maximum(label, target) + 1) % K, other)
    other = np.where((other == label) | (other == target), (np.maximum(label, target) + 2) % K, other)

    def answers(p_correct, p_target):
        u = rng.uniform(size=E)
        return np.where(u < p_correct, label, np.where(u < p_correct + p_target, target, other))

    vote_adv, vote_clean = answers(0.6, 0.2), answers(0.9, 0.05)
    rv_adv = np.where(rng.uniform(size=E) < 0.3, -1, answers(0.7, 0.1))
    rv_clean = np.where(rng.uniform(size=E) < 0.1, -1, answers(0.95, 0.0))
    mem_acc = rng.uniform(0.3, 0.9, L)[:, None]                 # members of different accuracy
    member_adv = np.where(rng.uniform(size=(L, E)) < mem_acc, label, target)
    member_clean = np.where(rng.uniform(size=(L, E)) < 0.9, label, other)
    p = rng.uniform(0.02, 0.4, E)
    t = lambda a, dt=torch.int64: torch.as_tensor(np.asarray(a), dtype=dt)
    return AttackTests(input_of=t(input_of), label=t(label), target=t(target), source=t(np.full(E, -1)),
                   p=t(p, torch.float32), l2=t(p * 10, torch.float32), success=t(np.ones(E, bool), torch.bool),
                   member_clean=t(member_clean), member_adv=t(member_adv), vote_clean=t(vote_clean),
                   vote_adv=t(vote_adv), rv_clean=t(rv_clean), rv_adv=t(rv_adv),
                   rv_p_clean=t(rng.uniform(size=E), torch.float64), rv_p_adv=t(rng.uniform(size=E), torch.float64))


L_TAB = 5
INPUTS = {"sn": 8, "si2": 10, "si3": 6}


@pytest.fixture(scope="module")
def tables_data():
    rng = np.random.default_rng(21)
    tests = {("sn", "plain"): _testset(rng, INPUTS["sn"], 18, L_TAB), ("sn", "nl"): _testset(rng, INPUTS["sn"], 18, L_TAB),
             ("si2", "plain"): _testset(rng, INPUTS["si2"], 6, L_TAB), ("si2", "nl"): _testset(rng, INPUTS["si2"], 6, L_TAB)}
    return tests, cells_of(tests, "mnist", INPUTS)


def _np(t):
    return t.double().numpy() if t.dtype.is_floating_point else t.numpy()


def test_cell_point_estimates_equal_numpy_rates(tables_data):
    tests, cells = tables_data
    b = Bootstrap(members=L_TAB, reps=50, seed=0)
    est = {name: float(b.value(r)[0]) for name, r in cells.items()}
    sn, snl, si2, si2nl = (tests[k] for k in (("sn", "plain"), ("sn", "nl"), ("si2", "plain"), ("si2", "nl")))
    lab, va, tg = _np(sn.label), _np(sn.vote_adv), _np(sn.target)
    assert np.isclose(est["table2a:mnist_ensemble:attack"], np.mean(va == lab))
    assert np.isclose(est["table2a:mnist_ensemble:clean"], np.mean(_np(sn.vote_clean) == lab))
    assert np.isclose(est["table2a:mnist_ensemble_nl:attack"], np.mean(_np(snl.vote_adv) == _np(snl.label)))
    rv, lab_nl = _np(snl.rv_adv), _np(snl.label)
    assert np.isclose(est["table2a:mnist_ensemble_nl_rv:attack"], np.mean(rv[rv != -1] == lab_nl[rv != -1]))
    assert (rv == -1).any()                                        # abstentions leave the denominator
    assert not np.isclose(est["table2a:mnist_ensemble_nl_rv:attack"], np.mean(rv == lab_nl))
    target = (va == tg) & (va != lab)
    other = (va != tg) & (va != lab)
    assert np.isclose(est["table2b:mnist_ensemble:target"], np.mean(target))
    assert np.isclose(est["table2b:mnist_ensemble:correct"] + est["table2b:mnist_ensemble:target"]
                      + est["table2b:mnist_ensemble:other"], 1.0)
    assert np.isclose(est["table2c:mnist_ensemble:other"], _np(sn.p)[other].mean())
    assert np.isclose(est["table2c:mnist_ensemble:correct"], _np(sn.p)[va == lab].mean())
    # Table 4a: the mean over members of each member's accuracy (SI2 tests)
    ok = _np(si2.member_adv) == _np(si2.label)[None]
    assert np.isclose(est["table4a:mnist_single:attack"], ok.mean(1).mean())
    ok_nl = _np(si2nl.member_clean) == _np(si2nl.label)[None]
    assert np.isclose(est["table4a:mnist_single_nl:clean"], ok_nl.mean(1).mean())
    assert np.isclose(est["table4b:mnist_ensemble:attack"], np.mean(_np(si2.vote_adv) == _np(si2.label)))
    # no SI3 tests given: no Table 5 cell, no single-network cell for SN
    assert not any(n.startswith("table5") for n in cells) and "table2a:mnist_single:attack" not in cells


def test_cells_are_named_as_cells_of_the_claims_file(tables_data):
    _, cells = tables_data
    spec = load_claims_file("liang_samavi")
    printed = {f"{t}:{row}:{col}" for t, v in spec["tables"].items() for row in v["rows"] for col in v["columns"]}
    assert set(cells) <= printed
    # SN and SI2 under both conditions: every printed MNIST cell of Tables 2 and 4
    assert set(cells) == {c for c in printed if c.split(":")[0][:6] in ("table2", "table4") and ":mnist_" in c}


def _expand(t: AttackTests, w: np.ndarray) -> np.ndarray:
    """Indices of the tests with input ``i`` repeated ``w[i]`` times (a bootstrap replicate as
    data: each copy of an input brings all of its tests)."""
    io = _np(t.input_of)
    return np.concatenate([np.tile(np.flatnonzero(io == i), int(c)) for i, c in enumerate(w)]).astype(int)


def test_bootstrap_replicates_equal_rates_on_resampled_inputs_and_members(tables_data):
    tests, cells = tables_data
    b = Bootstrap(members=L_TAB, reps=20, seed=3)
    sn, si2 = tests[("sn", "plain")], tests[("si2", "plain")]
    reps = b.value(cells["table2a:mnist_ensemble:attack"])
    reps_single = b.value(cells["table4a:mnist_single:attack"])
    for j in (1, 7, 19):
        idx = _expand(sn, b.inputs(INPUTS["sn"])[j])
        assert np.isclose(reps[j], np.mean(_np(sn.vote_adv)[idx] == _np(sn.label)[idx]))
        idx = _expand(si2, b.inputs(INPUTS["si2"])[j])
        members = np.repeat(np.arange(L_TAB), b.net[j].astype(int))     # resampled members
        per_member = (_np(si2.member_adv)[:, idx] == _np(si2.label)[idx][None]).mean(1)
        assert np.isclose(reps_single[j], per_member[members].mean())
    assert b.inputs(INPUTS["sn"])[1:].sum(1).tolist() == [INPUTS["sn"]] * 20      # multinomial over inputs
    assert b.net[0].tolist() == [1.0] * L_TAB and b.net[1:].sum(1).tolist() == [L_TAB] * 20


def _duplicated(t: AttackTests, times: int, k: int) -> AttackTests:
    """``times`` copies of the tests as new inputs (input ``i`` of copy ``c`` is ``c * k + i``)."""
    cat = lambda f, dim=0: torch.cat([getattr(t, f)] * times, dim)
    return AttackTests(input_of=torch.cat([t.input_of + c * k for c in range(times)]), label=cat("label"),
                   target=cat("target"), source=cat("source"), p=cat("p"), l2=cat("l2"), success=cat("success"),
                   member_clean=cat("member_clean", 1), member_adv=cat("member_adv", 1), vote_clean=cat("vote_clean"),
                   vote_adv=cat("vote_adv"), rv_clean=cat("rv_clean"), rv_adv=cat("rv_adv"),
                   rv_p_clean=cat("rv_p_clean"), rv_p_adv=cat("rv_p_adv"))


@pytest.mark.parametrize("cell", ["table2a:mnist_ensemble:attack", "table2a:mnist_ensemble_nl_rv:attack",
                                  "table2c:mnist_ensemble:other", "table4b:mnist_ensemble:attack"])
def test_interval_contains_estimate_and_shrinks_with_four_times_the_inputs(tables_data, cell):
    tests, cells = tables_data
    est, lo, hi = interval(Bootstrap(members=L_TAB, reps=1000, seed=1).value(cells[cell]))
    assert lo <= est <= hi and hi - lo > 0
    big_inputs = {a: 4 * k for a, k in INPUTS.items()}
    big = {key: _duplicated(t, 4, INPUTS[key[0]]) for key, t in tests.items()}
    est4, lo4, hi4 = interval(Bootstrap(members=L_TAB, reps=1000, seed=1).value(cells_of(big, "mnist", big_inputs)[cell]))
    assert np.isclose(est4, est)                                   # same rate
    assert lo4 <= est4 <= hi4
    assert (hi4 - lo4) < 0.7 * (hi - lo)                           # ~1/2 expected (1/sqrt(4))


def test_single_network_interval_shrinks_with_inputs_and_reflects_member_spread(tables_data):
    tests, cells = tables_data
    cell = "table4a:mnist_single:attack"
    est, lo, hi = interval(Bootstrap(members=L_TAB, reps=1000, seed=1).value(cells[cell]))
    assert lo <= est <= hi
    big = {key: _duplicated(t, 4, INPUTS[key[0]]) for key, t in tests.items()}
    big_cells = cells_of(big, "mnist", {a: 4 * k for a, k in INPUTS.items()})
    est4, lo4, hi4 = interval(Bootstrap(members=L_TAB, reps=1000, seed=1).value(big_cells[cell]))
    assert np.isclose(est4, est) and lo4 <= est4 <= hi4 and hi4 - lo4 < hi - lo
    # more inputs leave the spread of the members' accuracies (5 members resampled): not ~1/2
    accs = (_np(tests[("si2", "plain")].member_adv) == _np(tests[("si2", "plain")].label)[None]).mean(1)
    assert accs.std() > 0.05 and hi4 - lo4 > 0.5 * accs.std() / math.sqrt(L_TAB)


def test_a_cell_with_the_same_value_for_every_input_has_a_zero_width_interval():
    L, k = 3, 6
    E = 2 * k
    label = torch.arange(E) % K
    wrong = (label + 1) % K
    # every input: one of its two adversarial tests voted correctly, one not -> 1/2 per input
    vote_adv = torch.where(torch.arange(E) % 2 == 0, label, wrong)
    member_adv = torch.stack([vote_adv] * L)                     # every member: 1/2 on every input
    t = AttackTests(input_of=torch.arange(E) // 2, label=label, target=wrong, source=torch.full((E,), -1),
                p=torch.full((E,), 0.1), l2=torch.ones(E), success=torch.ones(E, dtype=torch.bool),
                member_clean=torch.stack([label] * L), member_adv=member_adv, vote_clean=label, vote_adv=vote_adv,
                rv_clean=label, rv_adv=vote_adv, rv_p_clean=torch.zeros(E), rv_p_adv=torch.zeros(E))
    cells = cells_of({("si2", "plain"): t}, "mnist", {"sn": 1, "si2": k, "si3": 1})
    b = Bootstrap(members=L, reps=300, seed=0)
    for cell, value in (("table4b:mnist_ensemble:attack", 0.5), ("table4b:mnist_ensemble:clean", 1.0),
                        ("table4a:mnist_single:attack", 0.5), ("table4d:mnist_ensemble:correct", 0.1)):
        est, lo, hi = interval(b.value(cells[cell]))
        assert np.isclose(est, value) and np.isclose(lo, value) and np.isclose(hi, value), cell
    # no test falls in the 'other' group: its share is 0 in every replicate, its mean perturbation NaN
    assert interval(b.value(cells["table4c:mnist_ensemble:other"])) == (0.0, 0.0, 0.0)
    est, lo, hi = interval(b.value(cells["table4d:mnist_ensemble:other"]))
    assert math.isnan(est) and math.isnan(lo) and math.isnan(hi)


def test_interval_drops_nan_replicates_and_takes_numpy_percentiles():
    reps = np.array([0.5, np.nan, 0.2, 0.9, np.nan, 0.4, 0.6])
    est, lo, hi = interval(reps, 0.9)
    assert est == 0.5
    assert np.allclose([lo, hi], np.quantile([0.2, 0.9, 0.4, 0.6], [0.05, 0.95]))


# --- claims -----------------------------------------------------------------------------------


def test_cell_claims_is_one_claim_per_legible_cell_with_its_tables_tolerance():
    spec = load_claims_file("liang_samavi")
    claims = cell_claims(spec)
    raw = yaml.safe_load((CLAIMS_DIR / "liang_samavi.yaml").read_text())["tables"]
    expected = {}
    for table, t in raw.items():
        for row, values in t["values"].items():
            for col, v in zip(t["columns"], values):
                if v is not None:
                    expected[f"{table}:{row}:{col}"] = (v, t["tolerance"], t["rule"])
    assert len(claims) == len(expected) == 114
    assert set(claims) == set(expected)
    for cid, c in claims.items():
        v, tol, rule = expected[cid]
        assert (c.paper_value, c.tolerance, c.rule, c.claim_id) == (v, tol, rule, cid)
    assert claims["table2a:mnist_ensemble:attack"].paper_value == 0.90519
    assert "table2a:cifar10_ensemble_nl_rv:clean" not in claims       # garbled: null


# --- robustness -------------------------------------------------------------------------------


class _Const(nn.Module):
    """Always class ``c`` of ``k``, whatever the input."""

    def __init__(self, c: int, k: int = 3):
        super().__init__()
        self.c, self.k = c, k

    def forward(self, x):
        out = torch.zeros(x.shape[0], self.k, dtype=x.dtype)
        out[:, self.c] = 1.0
        return out


class _Bright(nn.Module):
    """Class 1 when the mean pixel exceeds 0.5, else 0: on an input of exactly 0.5 the answer is
    the sign of the noise's mean."""

    def forward(self, x):
        d = x.flatten(1).mean(1) - 0.5
        return torch.stack([-d, d], 1)


def test_certify_always_class_zero_gives_closed_form_clopper_pearson_and_radius():
    n, alpha, sigma, L = 400, 0.05, 0.5, 6
    x = torch.rand(3, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    cert = certify_inputs([_Const(0)] * L, x, num_classes=3, sigma=sigma, n0=20, n=n, alpha=alpha, rv_alpha=0.05,
                          generator=torch.Generator().manual_seed(1))
    p_a = alpha ** (1 / n)                          # Beta(n, 1) quantile: the bound for n successes of n
    np.testing.assert_allclose(cert.p_lower, [p_a] * 3, rtol=1e-10)
    np.testing.assert_allclose(cert.radius, [sigma * norm.ppf(p_a)] * 3, rtol=1e-8)
    assert cert.pred.tolist() == [0, 0, 0] and not cert.red.any()
    # Rank Verification on 6 unanimous votes: two-sided binomial p = 2 / 2^6
    np.testing.assert_allclose(cert.rv_p, [binomtest(L, L, 0.5).pvalue] * 3)
    assert np.isclose(cert.rv_p[0], 2 * 0.5 ** L) and not cert.yellow.any() and cert.certified.all()
    # with 3 members the unanimous p is 0.25 >= 0.05: certified but yellow
    cert3 = certify_inputs([_Const(0)] * 3, x, num_classes=3, sigma=sigma, n0=20, n=n, alpha=alpha, rv_alpha=0.05,
                           generator=torch.Generator().manual_seed(1))
    assert cert3.yellow.all() and not cert3.red.any() and not cert3.certified.any()


def test_certify_coin_flip_input_is_red_with_zero_radius_and_a_clear_input_is_certified():
    n, alpha, sigma = 400, 0.05, 0.1
    x = torch.full((4, 1, 2, 2), 0.5)
    x[3] = 0.9                                      # mean 0.9: 8 noise std above 0.5
    cert = certify_inputs([_Bright()] * 5, x, num_classes=2, sigma=sigma, n0=20, n=n, alpha=alpha, rv_alpha=0.05,
                          generator=torch.Generator().manual_seed(2))
    assert cert.red[:3].all() and (cert.p_lower[:3] <= 0.5).all() and (cert.p_lower[:3] > 0.3).all()
    assert (cert.radius[:3] == 0).all() and cert.pred[:3].tolist() == [-1, -1, -1]
    assert not cert.red[3] and cert.pred[3] == 1
    assert np.isclose(cert.p_lower[3], alpha ** (1 / n)) and np.isclose(cert.radius[3], sigma * norm.ppf(alpha ** (1 / n)))


def _threshold_members(L: int):
    """``L`` linear members on 4 pixels, class 1 iff the pixel sum exceeds 2 (L2 distance to the
    boundary: |sum - 2| / 2), at different logit scales."""
    out = []
    for l in range(L):
        a = 1.0 + 0.2 * l
        out.append(_linear(np.array([[-a] * 4, [a] * 4]), np.array([2 * a, -2 * a])))
    return out


def test_adaptive_attack_stays_in_each_l2_budget_and_the_pixel_box(monkeypatch):
    seen = []
    real_pgd = robustness.pgd

    def spy(*a, **kw):
        out = real_pgd(*a, **kw)
        seen.append(out.detach().clone())
        return out

    monkeypatch.setattr(robustness, "pgd", spy)
    x = torch.tensor([[0.3] * 4, [0.7] * 4, [0.95, 0.95, 0.05, 0.1], [0.2, 0.25, 0.3, 0.35]]).view(4, 1, 2, 2)
    y = torch.tensor([0, 1, 1, 0])
    members = _threshold_members(6)
    eps = (0.1, 1.0)
    res = adaptive_attack(members, x, y, eps=eps, steps=10, eot=2, sigma=0.05, num_classes=2, rv_alpha=0.05,
                          generator=torch.Generator().manual_seed(4))
    assert len(seen) == 2 and res.l2.shape == res.vote.shape == res.rv.shape == (2, 4)
    for b, e in enumerate(eps):
        x_adv = seen[b]
        assert x_adv.min() >= 0 and x_adv.max() <= 1
        l2 = (x_adv - x).flatten(1).norm(dim=1).numpy()
        np.testing.assert_allclose(res.l2[b], l2, atol=1e-6)
        assert (res.l2[b] <= e + 1e-5).all()
    # input 2 pushed down by 0.5 per pixel would leave [0, 1]: clipped
    assert (seen[1][2] == 0).any()
    # hand geometry: inputs 0, 1 lie 0.4 from the boundary; eps 0.1 cannot cross it, eps 1.0 does
    assert res.vote[0, :2].tolist() == [0, 1] and res.vote[1].tolist() == [1, 0, 0, 1]
    assert res.l2[1, :2].min() > 0.9                               # PGD walks to the budget's edge
    # six unanimous members: two-sided p = 1/32 < 0.05, so Rank Verification answers with the vote
    assert res.rv[0, :2].tolist() == [0, 1]


def test_claim_rows_give_a_partly_measured_claim_a_verdict_only_when_the_measured_rows_decide():
    from paperlib.claims import make_claim
    from paperlib.liang.tables import claim_rows

    claim = make_claim("liang_samavi", "c", {"statement": "s", "where": "w", "paper_value": 0.0, "rule": "above",
                                               "combine": "all"}, "claims/liang_samavi.yaml")
    rng = np.random.default_rng(0)
    positive = np.concatenate([[0.5], rng.normal(0.5, 0.01, 2000)])     # clearly above 0
    negative = np.concatenate([[-0.5], rng.normal(-0.5, 0.01, 2000)])   # clearly below
    nan = np.full(2001, np.nan)
    rows, why = claim_rows(claim, {"a": positive, "b": nan}, profile="default", deviations="", source="", expected=2)
    assert [r["level"] for r in rows] == ["row"] and why.startswith("partly measured (1 of 2")
    rows, why = claim_rows(claim, {"a": negative, "b": nan}, profile="default", deviations="", source="", expected=2)
    assert why == "" and rows[-1]["level"] == "claim" and rows[-1]["verdict"] == "does not hold"
    rows, why = claim_rows(claim, {"a": positive, "b": positive}, profile="default", deviations="", source="")
    assert why == "" and rows[-1]["verdict"] == "holds" and len(rows) == 3
    rows, why = claim_rows(claim, {"only": positive}, profile="default", deviations="", source="")
    assert len(rows) == 1 and rows[0]["level"] == "claim" and rows[0]["verdict"] == "holds"
