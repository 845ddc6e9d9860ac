"""NES / SPSA against a stochastic target (SEM issue item 7): the N-draw stop rule, repeated
queries per perturbed point, exact query counts, and the unchanged single-query defaults.

The targets here have known class probabilities, so every rate has a closed form:
``CoinTarget`` answers each row with a one-hot of class ``hit`` with probability ``p`` (a fresh
draw from its own generator) and of class ``miss`` otherwise.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from scipy.stats import binom, chisquare

from paperlib.attacks import nes, spsa
from paperlib.attacks import score
from paperlib.attacks._core import per_image, project, steepest_step
from paperlib.seeding import make_generator
from paperlib.zoo.attacks import ATTACKS, AttackSettings, run_attack

K = 3


class CoinTarget:
    """``probs_fn``: each row is one-hot ``hit`` with probability ``p`` else one-hot ``miss``;
    ``p`` may be a function of the row (then the attack can move it). Counts the rows it sees."""

    def __init__(self, p, hit: int = 1, miss: int = 0, seed: int = 0):
        self.p, self.hit, self.miss = p, hit, miss
        self.g = torch.Generator().manual_seed(seed)
        self.rows = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        self.rows += n
        p = self.p(x) if callable(self.p) else torch.full((n,), float(self.p))
        hit = torch.rand(n, generator=self.g) < p
        return F.one_hot(torch.where(hit, self.hit, self.miss), K).float()


class Recorder:
    """Wraps a ``probs_fn`` and keeps a copy of every batch it is called with."""

    def __init__(self, fn):
        self.fn, self.calls = fn, []

    def __call__(self, x):
        self.calls.append(x.clone())
        return self.fn(x)

    @property
    def rows(self) -> int:
        return sum(c.shape[0] for c in self.calls)


def _images(b: int, value: float = 0.5, shape=(1, 2, 2)) -> torch.Tensor:
    return torch.full((b,) + shape, value)


def _stop_probability(p: float, draws: int, alpha: float | None) -> float:
    """Closed form of one success check on ``CoinTarget`` (hit = success class, miss = class 0,
    the other side of every tie): ``k ~ Binomial(draws, p)`` hits among the draws.

    * ``alpha=None``: argmax of the mean one-hot vector, success iff ``k > draws - k``;
    * alpha (SEM eq. 6): success iff the top class is ``hit`` (``k > draws - k``) or the share
      ``k / draws >= alpha`` (the same float comparison as :func:`sem_attack_success`)."""
    ks = range(draws + 1)
    if alpha is None:
        ok = [k > draws - k for k in ks]
    else:
        ok = [k > draws - k or k / draws >= alpha for k in ks]
    return float(sum(binom.pmf(k, draws, p) for k in ks if ok[k]))


# ------------------------------------------------------------------ (a) the stop rule


STOP_CASES = [  # (p, stop_draws, stop_alpha, targeted)
    (0.10, 1, None, False),    # today's rule: one lucky draw stops 10% of the images
    (0.10, 20, 0.3, False),    # SEM's judge (N = 20, alpha = 0.3): about 1%
    (0.10, 20, 0.3, True),
    (0.45, 9, None, False),    # argmax of the mean of 9 draws: a majority of hits
    (0.45, 10, 0.7, False),    # alpha > 1/2: the top-class clause decides
]


@pytest.mark.parametrize("attack", [nes, spsa])
@pytest.mark.parametrize("p, draws, alpha, targeted", STOP_CASES)
def test_stop_rate_follows_the_binomial_closed_form_of_the_stop_rule(attack, p, draws, alpha, targeted):
    b, checks, samples = 4000, 4, 2
    per_iteration = samples + draws
    max_queries = draws + (checks - 1) * per_iteration
    target = CoinTarget(p, seed=1)
    y = torch.full((b,), 1 if targeted else 0)  # targeted: the target is the hit class
    res = attack(target, _images(b), y, eps=0.1, max_queries=max_queries, samples=samples,
                 sigma=1e-2, stop_draws=draws, stop_alpha=alpha, targeted=targeted,
                 generator=make_generator(0, "stop"))
    q = _stop_probability(p, draws, alpha)
    assert target.rows == int(res.queries.sum())
    # Which check stopped each image: queries = draws + (j - 1) * per_iteration.
    j = (res.queries - draws) // per_iteration + 1
    assert torch.equal(res.queries, draws + (j - 1) * per_iteration)
    assert bool(res.success[j < checks].all())  # an image stops early only on a success
    # The first check alone: a Bernoulli(q) per image.
    first = float((j == 1).float().mean())
    assert abs(first - q) <= 4 * math.sqrt(q * (1 - q) / b) + 1e-9, (first, q)
    # The whole stopping time: truncated geometric over ``checks`` independent checks.
    observed = [int(((j == c) & res.success).sum()) for c in range(1, checks + 1)]
    observed.append(int((~res.success).sum()))
    expected = [b * (1 - q) ** (c - 1) * q for c in range(1, checks + 1)] + [b * (1 - q) ** checks]
    assert sum(observed) == b
    assert chisquare(observed, expected).pvalue > 1e-3, (observed, expected)


def test_one_draw_stops_on_luck_where_the_judges_rule_does_not():
    """The issue's case: a target that answers the wrong class 10% of the time. One query
    "succeeds" on 10% of the images; SEM's 20-draw alpha = 0.3 rule on 1%, as the judge would."""
    b = 4000
    kw = dict(eps=0.1, max_queries=100, samples=2, sigma=1e-2, generator=make_generator(0, "luck"))
    one = nes(CoinTarget(0.1, seed=2), _images(b), torch.zeros(b, dtype=torch.long), **kw)
    twenty = nes(CoinTarget(0.1, seed=2), _images(b), torch.zeros(b, dtype=torch.long),
                 stop_draws=20, stop_alpha=0.3, **kw)
    stopped_one = float((one.queries == 1).float().mean())  # stopped at the clean image's check
    stopped_twenty = float((twenty.queries == 20).float().mean())
    assert stopped_one == pytest.approx(0.1, abs=0.02)
    assert stopped_twenty == pytest.approx(binom.sf(5, 20, 0.1), abs=0.01)
    assert stopped_twenty < stopped_one / 3


@pytest.mark.parametrize("attack", [nes, spsa])
def test_without_early_stop_every_image_spends_its_budget_and_success_is_the_last_check(attack):
    b, draws, samples, repeats = 3000, 10, 4, 2
    per_iteration = samples * repeats + draws
    max_queries = draws + 2 * per_iteration + per_iteration - 1  # two iterations fit, not three
    target = CoinTarget(0.2, seed=3)
    res = attack(target, _images(b), torch.zeros(b, dtype=torch.long), eps=0.1,
                 max_queries=max_queries, samples=samples, sigma=1e-2, query_repeats=repeats,
                 stop_draws=draws, stop_alpha=0.3, early_stop=False,
                 generator=make_generator(0, "nostop"))
    assert bool((res.queries == draws + 2 * per_iteration).all())
    assert target.rows == int(res.queries.sum())
    q = _stop_probability(0.2, draws, 0.3)
    rate = float(res.success.float().mean())
    assert abs(rate - q) <= 4 * math.sqrt(q * (1 - q) / b), (rate, q)


def test_an_x_dependent_target_is_attacked_and_the_final_verdict_uses_the_rule():
    """p(hit) grows with the mean pixel: averaged repeats give NES a usable gradient of
    -log p(miss); images stop only when the 20-draw alpha rule says so."""
    b = 64

    def p(x):
        return (x.flatten(1).mean(1) - 0.3).clamp(0, 1) * 2  # 0.4 at x = 0.5, 1 at x >= 0.8

    target = CoinTarget(p, seed=4)
    x = _images(b, 0.4)
    res = nes(target, x, torch.zeros(b, dtype=torch.long), eps=0.3, max_queries=2000, samples=10,
              sigma=0.05, step_size=0.03, query_repeats=8, stop_draws=20, stop_alpha=0.5,
              generator=make_generator(0, "move"))
    assert target.rows == int(res.queries.sum())
    assert float((res.x_adv - x).mean()) > 0.05  # moved up, towards the hit class
    assert float(res.success.float().mean()) > 0.9


# ------------------------------------------------------------------ (b) exact query counts


def _constant_probs(x):
    """Deterministic, always class 0 (never a success for y = 0)."""
    return torch.tensor([0.7, 0.2, 0.1]).expand(x.shape[0], K).clone()


@pytest.mark.parametrize("attack", [nes, spsa])
@pytest.mark.parametrize("max_queries, samples, repeats, draws", [
    (50, 4, 1, 1), (100, 4, 3, 5), (37, 6, 2, 3), (12, 2, 5, 12), (11, 2, 1, 11), (200, 10, 4, 7)])
def test_query_count_is_the_closed_form(attack, max_queries, samples, repeats, draws):
    b = 5
    rec = Recorder(_constant_probs)
    res = attack(rec, _images(b), torch.zeros(b, dtype=torch.long), eps=0.1, max_queries=max_queries,
                 samples=samples, sigma=1e-2, query_repeats=repeats, stop_draws=draws, stop_alpha=0.3,
                 chunk=10_000, generator=make_generator(0, "count"))
    per_iteration = samples * repeats + draws
    iterations = (max_queries - draws) // per_iteration
    assert torch.equal(res.queries, torch.full((b,), draws + iterations * per_iteration))
    assert rec.rows == int(res.queries.sum())
    # Batched: one call per phase (a check, then an estimate and a check per iteration).
    assert [c.shape[0] for c in rec.calls] == [b * draws] + [b * samples * repeats, b * draws] * iterations
    assert not bool(res.success.any())


@pytest.mark.parametrize("attack", [nes, spsa])
def test_images_that_succeed_at_once_spend_one_check_and_chunks_are_respected(attack):
    b, draws, samples, repeats, chunk = 6, 4, 4, 3, 7
    x = torch.cat([_images(3, 0.9), _images(3, 0.1)])

    def probs(z):  # deterministic: bright images are class 1, dark ones class 0
        bright = z.flatten(1).mean(1) > 0.5
        return F.one_hot(bright.long(), K).float() * 0.8 + 0.2 / K

    rec = Recorder(probs)
    res = attack(rec, x, torch.zeros(b, dtype=torch.long), eps=0.05, max_queries=60,
                 samples=samples, sigma=1e-3, query_repeats=repeats, stop_draws=draws,
                 chunk=chunk, generator=make_generator(0, "mixed"))
    per_iteration = samples * repeats + draws
    iterations = (60 - draws) // per_iteration
    assert torch.equal(res.queries[:3], torch.full((3,), draws))
    assert torch.equal(res.queries[3:], torch.full((3,), draws + iterations * per_iteration))
    assert rec.rows == int(res.queries.sum())
    assert max(c.shape[0] for c in rec.calls) <= chunk
    phase_rows = [b * draws] + [3 * samples * repeats, 3 * draws] * iterations
    assert len(rec.calls) == sum(math.ceil(r / chunk) for r in phase_rows)
    assert res.success.tolist() == [True] * 3 + [False] * 3


@pytest.mark.parametrize("attack", [nes, spsa])
def test_every_perturbed_point_is_queried_repeats_times_and_every_check_draws_times(attack):
    b, samples, repeats, draws = 4, 6, 3, 5
    gen = torch.Generator().manual_seed(5)

    def noisy(z):
        return (torch.tensor([2.0, 0.0, 0.0]) + torch.randn(z.shape[0], K, generator=gen)).softmax(1)

    rec = Recorder(noisy)
    res = attack(rec, torch.rand(b, 1, 3, 3, generator=torch.Generator().manual_seed(6)),
                 torch.zeros(b, dtype=torch.long), eps=0.1, max_queries=draws + 2 * (samples * repeats + draws),
                 samples=samples, sigma=1e-2, query_repeats=repeats, stop_draws=draws, early_stop=False,
                 chunk=10_000, generator=make_generator(0, "rep"))
    assert rec.rows == int(res.queries.sum()) == b * (draws + 2 * (samples * repeats + draws))
    for i, call in enumerate(rec.calls):
        uniq, counts = torch.unique(call.flatten(1), dim=0, return_counts=True)
        want = repeats if i % 2 else draws  # check, estimate, check, estimate, check
        assert torch.equal(counts, torch.full_like(counts, want)), (i, counts)
        assert uniq.shape[0] == call.shape[0] // want


# ------------------------------------------------------------------ (c) variance of the estimate


@pytest.mark.parametrize("objective, dist, dloss", [
    (score._ce_objective, "gauss", lambda m: -1 / m),                       # NES: -log p_y
    (score._margin_objective, "rademacher", lambda m: -1 / (1 - m) - 1 / m),  # SPSA, K = 2
])
def test_repeats_divide_the_noise_variance_of_the_gradient_estimate(objective, dist, dloss):
    """Noisy linear target ``p_y(x) = a + w.x + s * xi`` (``xi ~ N(0, 1)``, fresh per query).
    With the same search directions, the estimate's noise ``d = g_noisy - g_clean`` has, to first
    order in ``s`` (delta method; ``sigma * w.u`` is negligible next to ``p_y``), variance per
    coordinate ``s^2 L'(p)^2 / (repeats * samples * sigma^2)`` (``E[u^2] = 1``), where ``L`` is the
    objective as a function of the averaged ``p_y``. Tested on :func:`score._estimate`, the only
    place the estimate exists (the attacks return no gradient)."""
    b, shape, samples, sigma, s, p0 = 1000, (1, 2, 4), 10, 1e-2, 5e-3, 0.6
    w = torch.randn(shape, generator=torch.Generator().manual_seed(7)).flatten() * 0.1
    x = torch.full((b,) + shape, 0.5)
    a = p0 - float(w @ x[0].flatten())

    def target(noise_seed):
        gen = torch.Generator().manual_seed(noise_seed) if noise_seed is not None else None

        def probs(z):
            py = a + z.flatten(1) @ w
            if gen is not None:
                py = py + s * torch.randn(z.shape[0], generator=gen)
            return torch.stack([py, 1 - py], 1)
        return probs

    y = torch.zeros(b, dtype=torch.long)

    def estimate(fn, repeats):
        return score._estimate(fn, x, y, False, sigma, samples, 4096, make_generator(0, "u"),
                               objective, dist, repeats)

    clean = estimate(target(None), 1)
    # No noise: repeats change nothing (up to the rounding of the mean of equal numbers).
    assert torch.allclose(clean, estimate(target(None), 5), rtol=0, atol=1e-3 * float(clean.abs().max()))
    var = {}
    for repeats in (1, 4, 16):
        d = estimate(target(repeats), repeats) - clean
        var[repeats] = float(d.var())
        closed = s ** 2 * dloss(p0) ** 2 / (repeats * samples * sigma ** 2)
        assert var[repeats] == pytest.approx(closed, rel=0.1), (repeats, var[repeats], closed)
    assert var[4] / var[1] == pytest.approx(1 / 4, rel=0.15)
    assert var[16] / var[1] == pytest.approx(1 / 16, rel=0.15)


@pytest.mark.parametrize("objective", [score._ce_objective, score._margin_objective])
def test_the_estimate_averages_probabilities_before_the_objective(objective):
    """Recompute the estimate by hand from what the target answered: repeats of a point are
    averaged as probability vectors, then the objective is taken (not the mean of objectives).
    Rows go repeat-major (module docstring): repeat r of stacked point j is row r * M + j."""
    b, shape, samples, repeats, sigma = 3, (1, 2, 2), 4, 3, 0.05
    gen = torch.Generator().manual_seed(11)
    seen, answers = [], []

    def probs(z):
        out = torch.rand(z.shape[0], K, generator=gen).softmax(1)
        seen.append(z.clone())
        answers.append(out)
        return out

    x = torch.full((b,) + shape, 0.5)
    y = torch.tensor([0, 1, 2])
    g = score._estimate(probs, x, y, False, sigma, samples, 5, make_generator(0, "avg"), objective,
                        "gauss", repeats)
    z, p = torch.cat(seen), torch.cat(answers)
    m = samples * b
    assert z.shape[0] == repeats * m and torch.equal(z, z[:m].repeat(repeats, 1, 1, 1))
    pbar = p.view(repeats, m, K).mean(0)
    obj = objective(pbar, y.repeat(samples), False).view(2, samples // 2, b)
    u = ((z[:m] - x.repeat(samples, 1, 1, 1)) / sigma).view(2, samples // 2, b, *shape)
    assert torch.allclose(u[0], -u[1], atol=1e-4)
    want = ((obj[0] - obj[1]).view(samples // 2, b, 1, 1, 1) * u[0]).sum(0) / (samples * sigma)
    assert torch.allclose(g, want, rtol=1e-4, atol=1e-4)
    mean_of_objectives = objective(p, y.repeat(samples * repeats), False).view(repeats, m).mean(0)
    other = mean_of_objectives.view(2, samples // 2, b)
    other = ((other[0] - other[1]).view(samples // 2, b, 1, 1, 1) * u[0]).sum(0) / (samples * sigma)
    assert not torch.allclose(g, other, rtol=1e-2, atol=1e-2)


# ------------------------------------------------------------------ (d) defaults = old behaviour


def _old_objective(kind, p, y, targeted):
    lp = p.clamp_min(1e-12).log()
    real = lp.gather(1, y[:, None]).squeeze(1)
    if kind == "ce":
        return real if targeted else -real
    other = lp.masked_fill(F.one_hot(y, lp.shape[1]).bool(), float("-inf")).amax(1)
    return real - other if targeted else other - real


def _old_attack(probs_fn, x, y, *, eps, norm, targeted, max_queries, samples, sigma, step_size,
                chunk, generator, early_stop, kind):
    """The score attacks as they were before the stochastic options (one query per point, one
    query per success check), kept here as the reference."""

    def query(z):
        with torch.no_grad():
            return torch.cat([probs_fn(c).float() for c in z.split(chunk)])

    def succeeded(p, yy):
        return p.argmax(1) == yy if targeted else p.argmax(1) != yy

    e = per_image(eps, x, "eps")
    a = per_image(step_size if step_size is not None else eps / 10, x, "step_size")
    b = x.shape[0]
    x_adv = x.clone()
    queries = torch.zeros(b, dtype=torch.long)
    success = succeeded(query(x_adv), y)
    queries += 1
    m, v, t = torch.zeros_like(x), torch.zeros_like(x), torch.zeros(b)
    while True:
        active = queries + samples + 1 <= max_queries
        if early_stop:
            active &= ~success
        idx = active.nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        xa, ya = x_adv[idx], y[idx]
        half, n = samples // 2, idx.numel()
        shape = (half, n) + tuple(x.shape[1:])
        if kind == "ce":
            u = torch.randn(shape, generator=generator)
        else:
            u = torch.randint(0, 2, shape, generator=generator).float() * 2 - 1
        q = torch.cat([xa[None] + sigma * u, xa[None] - sigma * u]).clamp(0, 1)
        p = query(q.reshape((2 * half * n,) + tuple(x.shape[1:])))
        obj = _old_objective(kind, p, ya.repeat(2 * half), targeted).view(2, half, n)
        g = ((obj[0] - obj[1]).view(half, n, 1, 1, 1) * u).sum(0) / (2 * half * sigma)
        if kind == "margin":
            b1, b2 = 0.9, 0.999
            t[idx] += 1
            m[idx] = b1 * m[idx] + (1 - b1) * g
            v[idx] = b2 * v[idx] + (1 - b2) * g * g
            tt = t[idx].view(-1, 1, 1, 1)
            direction = (m[idx] / (1 - b1 ** tt)) / ((v[idx] / (1 - b2 ** tt)).sqrt() + 1e-8)
            if norm == "l2":
                direction = steepest_step(direction, norm)
        else:
            direction = steepest_step(g, norm)
        x_new = project(xa + a[idx] * direction, x[idx], e[idx], norm)
        x_adv[idx] = x_new
        success[idx] = succeeded(query(x_new), ya)
        queries[idx] += samples + 1
    return x_adv, queries, success


class LinearTarget:
    """softmax(W x) with optional logit noise from its own generator (reseeded per run)."""

    def __init__(self, noise: float, seed: int = 8):
        self.w = torch.randn(K, 12, generator=torch.Generator().manual_seed(seed)) * 4
        self.noise, self.seed = noise, seed
        self.reset()

    def reset(self):
        self.g = torch.Generator().manual_seed(self.seed + 1)

    def __call__(self, z):
        logits = z.flatten(1) @ self.w.T
        if self.noise:
            logits = logits + self.noise * torch.randn(logits.shape, generator=self.g)
        return logits.softmax(1)


@pytest.mark.parametrize("noise", [0.0, 1.0])
@pytest.mark.parametrize("attack, kind, norm, targeted, early_stop", [
    (nes, "ce", "linf", False, True), (nes, "ce", "l2", True, True), (nes, "ce", "linf", False, False),
    (spsa, "margin", "linf", False, True), (spsa, "margin", "l2", True, False)])
def test_defaults_reproduce_the_single_query_attack_exactly(noise, attack, kind, norm, targeted, early_stop):
    target = LinearTarget(noise)
    x = torch.rand(8, 3, 2, 2, generator=torch.Generator().manual_seed(9))
    y = (torch.arange(8) % K) if targeted else target(x).argmax(1)
    common = dict(eps=0.3 if norm == "l2" else 0.08, norm=norm, targeted=targeted, max_queries=150,
                  samples=10, sigma=1e-2, chunk=16, early_stop=early_stop)
    step = 0.02 if kind == "margin" else None
    target.reset()
    want = _old_attack(target, x, y, step_size=step, generator=make_generator(0, "old"), kind=kind, **common)
    target.reset()
    got = attack(target, x, y, step_size=step, generator=make_generator(0, "old"), **common)
    target.reset()
    explicit = attack(target, x, y, step_size=step, generator=make_generator(0, "old"),
                      query_repeats=1, stop_draws=1, stop_alpha=None, **common)
    for res in (got, explicit):
        assert torch.equal(res.x_adv, want[0])
        assert torch.equal(res.queries, want[1])
        assert torch.equal(res.success, want[2])
    assert not torch.equal(want[0], x)  # the reference did attack


# ------------------------------------------------------------------ (e) bad values


@pytest.mark.parametrize("attack", [nes, spsa])
@pytest.mark.parametrize("kwargs, name", [
    ({"query_repeats": 0}, "query_repeats"), ({"query_repeats": 1.5}, "query_repeats"),
    ({"query_repeats": True}, "query_repeats"), ({"stop_draws": 0}, "stop_draws"),
    ({"stop_draws": 2.0}, "stop_draws"), ({"stop_draws": 101}, "stop_draws"),
    ({"stop_alpha": 0}, "stop_alpha"), ({"stop_alpha": 1.5}, "stop_alpha"),
    ({"stop_alpha": -0.3}, "stop_alpha"), ({"stop_alpha": float("nan")}, "stop_alpha"),
    ({"stop_alpha": True}, "stop_alpha"), ({"stop_alpha": "0.3"}, "stop_alpha")])
def test_bad_values_raise_naming_the_argument(attack, kwargs, name):
    target = CoinTarget(0.5)
    with pytest.raises(ValueError, match=name):
        attack(target, _images(2), torch.zeros(2, dtype=torch.long), eps=0.1, max_queries=100,
               generator=make_generator(0, "bad"), **kwargs)
    assert target.rows == 0  # refused before any query


def test_stop_alpha_one_and_stop_draws_equal_to_the_budget_are_accepted():
    target = CoinTarget(0.0)
    res = nes(target, _images(2), torch.zeros(2, dtype=torch.long), eps=0.1, max_queries=7,
              samples=2, stop_draws=7, stop_alpha=1, generator=make_generator(0, "edge"))
    assert res.queries.tolist() == [7, 7] and not bool(res.success.any())


# ------------------------------------------------------------------ the registry


def test_attack_settings_carry_the_stochastic_fields_and_old_settings_still_work():
    s = AttackSettings()
    assert (s.query_repeats, s.query_stop_draws, s.query_stop_alpha) == (1, 1, None)
    kw = ATTACKS["nes"].kwargs(AttackSettings(query_repeats=3, query_stop_draws=20, query_stop_alpha=0.3), None)
    assert (kw["query_repeats"], kw["stop_draws"], kw["stop_alpha"]) == (3, 20, 0.3)
    old = SimpleNamespace(iterations=20, norm="linf", max_queries=5000, query_samples=50,
                          query_sigma=1e-3, chunk=256)  # a settings object from before the fields
    kw = ATTACKS["spsa"].kwargs(old, None)
    assert (kw["query_repeats"], kw["stop_draws"], kw["stop_alpha"]) == (1, 1, None)


@pytest.mark.parametrize("name, fn", [("nes", nes), ("spsa", spsa)])
def test_run_attack_passes_the_stochastic_settings_through(name, fn):
    b = 200
    s = AttackSettings(max_queries=30, query_samples=2, query_sigma=1e-2, chunk=64,
                       query_repeats=2, query_stop_draws=6, query_stop_alpha=0.3)
    t1, t2 = CoinTarget(0.15, seed=10), CoinTarget(0.15, seed=10)
    x, y = _images(b), torch.zeros(b, dtype=torch.long)
    ours = run_attack(name, t1, x, y, eps=0.1, generator=make_generator(0, "z"), settings=s)
    direct = fn(t2, x, y, eps=0.1, max_queries=30, samples=2, sigma=1e-2, chunk=64, query_repeats=2,
                stop_draws=6, stop_alpha=0.3, generator=make_generator(0, "z"))
    assert torch.equal(ours, direct.x_adv)
    assert t1.rows == t2.rows == int(direct.queries.sum())
    assert set(direct.queries.tolist()) <= {6, 6 + 10, 6 + 20}  # 6 + k * (2 * 2 + 6)
