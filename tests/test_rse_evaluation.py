"""RSE's attacks, measurements and verdicts (paperlib.rse.evaluation, paperlib.rse.verdicts), each
against something independent: paperlib's own C&W with a binary search of one round, torchattacks'
CW, the closed-form C&W solution of a linear classifier, per-draw gradients computed one draw at a
time, statsmodels' intervals, the analytic accuracy of a noisy linear model's ensembles, and
synthetic per-image results built so that every claim kind's verdict is known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import DescrStatsW
from torch import nn

from paperlib.attacks import carlini_wagner_l2
from paperlib.attacks.eot import ExpectationView
from paperlib.claims import load_claims, load_claims_file
from paperlib.defenses import RSEEnsemble, StochasticDefense
from paperlib.models.noise import GaussianNoise
from paperlib.rse import evaluation as ev
from paperlib.rse import verdicts as vd

CLAIMS = load_claims("rse")
TABLES = load_claims_file("rse")["tables"]
GRID = [0.01, 0.03, 0.06, 0.1, 0.2]


# ------------------------------------------------------------------------------------ toy models

def linear3(seed=1, bias=0.0):
    g = torch.Generator().manual_seed(seed)
    lin = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    with torch.no_grad():
        lin[1].weight.copy_(torch.randn(3, 16, generator=g))
        lin[1].bias.fill_(bias)
    return lin.eval()


def images(n=8, seed=1, shape=(1, 4, 4)):
    g = torch.Generator().manual_seed(seed)
    return 0.2 + 0.6 * torch.rand(n, *shape, generator=g)


class NoisyLinear(StochasticDefense):
    """Logits ``W (x + sigma * eps)``: one randn call per forward, so the draws can be replayed."""

    def __init__(self, weight, sigma):
        super().__init__()
        self.weight, self.sigma = weight, sigma

    def sample(self, x, generator):
        eps = torch.randn(x.shape, generator=generator, dtype=x.dtype)
        return torch.tanh((x + self.sigma * eps).flatten(1) @ self.weight.T) * 3


def tiny_rse(seed=0):
    """A small RSE-style network (noise before each convolution, batch norm) with seeded weights."""
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(GaussianNoise(0.2), nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                        GaussianNoise(0.1), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(144, 3))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return net.eval()


# ------------------------------------------------------------------------ C&W at a fixed c

@pytest.mark.parametrize("c", [0.05, 0.5, 5.0])
def test_fixed_c_equals_paperlibs_cw_with_one_round(c):
    lin, x = linear3(), images()
    y = lin(x).argmax(1)
    ours = ev.cw_fixed_c(lin, x, y, c, steps=150, lr=1e-2, chunk=3)   # blocks of 3 rows
    ref = carlini_wagner_l2(lin, x, y, c_init=c, binary_steps=1, steps=150, lr=1e-2, abort_early=False)
    assert torch.equal(ours.found, ref.success)
    s = ref.success
    torch.testing.assert_close(ours.x_adv[s], ref.x_adv[s], atol=1e-6, rtol=0)
    torch.testing.assert_close(ours.l2[s], ref.l2[s], atol=1e-6, rtol=0)
    if (~s).any():  # none found: the last iterate, not the clean image
        assert bool((ours.l2[~s] > 0).all())


def test_fixed_c_equals_torchattacks_cw():
    torchattacks = pytest.importorskip("torchattacks")
    lin, x = linear3(bias=50.0), images()   # positive logits: torchattacks' f takes the max over (1 - onehot) * Z
    y = lin(x).argmax(1)
    for c in (0.3, 1.0):
        ours = ev.cw_fixed_c(lin, x, y, c, steps=100, lr=1e-2, select="best")
        ref = torchattacks.CW(lin, c=c, kappa=0, steps=100, lr=1e-2)(x, y)
        ref_found = (ref - x).flatten(1).norm(dim=1) > 0
        assert torch.equal(ours.found, ref_found) and bool(ref_found.any())
        torch.testing.assert_close(ours.x_adv[ref_found], ref[ref_found], atol=1e-6, rtol=0)


class Margin2(nn.Module):
    """Two classes, ``Z_0 - Z_1 = a . x + b_i`` with a per-row offset (each row its own margin)."""

    def __init__(self, a, b):
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x):
        z0 = x.flatten(1) @ self.a + self.b
        return torch.stack([z0, torch.zeros_like(z0)], 1)


def test_fixed_c_last_iterate_is_the_closed_form_minimizer_of_a_linear_classifier():
    # min ||d||^2 + c max(m + a.d, 0): d = -t a/|a| with t = min(c |a| / 2, m / |a|) (interior pixels).
    g = torch.Generator().manual_seed(3)
    a = torch.randn(16, generator=g) * 0.5
    x = 0.4 + 0.2 * torch.rand(6, 1, 4, 4, generator=g)
    to_boundary = torch.tensor([0.05, 0.1, 0.15, 0.2, 0.25, 0.3])
    model = Margin2(a, to_boundary * a.norm() - x.flatten(1) @ a).eval()
    y = torch.zeros(6, dtype=torch.long)
    for c in (0.05, 0.3):
        run = ev.cw_fixed_c(model, x, y, c, steps=1500, lr=2e-3, select="last")
        expect = torch.minimum(torch.full((6,), c * float(a.norm()) / 2), to_boundary)
        torch.testing.assert_close(run.l2, expect, atol=3e-3, rtol=0)
        d = (run.x_adv - x).flatten(1)
        cosine = d @ -a / (d.norm(dim=1) * a.norm())
        assert bool((cosine > 0.999).all())


def test_larger_c_gives_lower_accuracy_and_larger_distortion():
    g = torch.Generator().manual_seed(5)
    model = nn.Sequential(nn.Flatten(), nn.Linear(27, 10)).eval()
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(10, 27, generator=g))
    x = torch.rand(60, 3, 3, 3, generator=g)
    y = model(x).argmax(1)
    y[:10] = (y[:10] + 1) % 10   # ten images misclassified clean
    res = ev.cw_sweep(model, x, y, [0, 0.003, 0.01, 0.03, 0.1, 1.0], steps=100, lr=1e-2)
    acc = [res.accuracy(c) for c in res.cs]
    dist = [np.nanmean(res.l2[i][res.clean_correct[0]]) for i in range(len(res.cs))]
    assert acc[0] == pytest.approx(50 / 60) and acc[-1] == 0.0
    assert all(a >= b for a, b in zip(acc, acc[1:])) and acc[1] > acc[-2]
    assert all(a < b for a, b in zip(dist, dist[1:]))
    assert not res.attacked[:10].any() and np.isnan(res.l2[1:, :10]).all()   # only clean-correct images attacked


# ------------------------------------------------------------------------- the ensemble objective

def test_ensemble_objective_gradient_is_the_mean_of_per_draw_gradients():
    g = torch.Generator().manual_seed(0)
    weight = torch.randn(3, 16, generator=g)
    defense = NoisyLinear(weight, 0.3)
    x, k = images(5), 7
    y = torch.tensor([0, 1, 2, 0, 1])
    w = ev._to_tanh_space(images(5, seed=2))
    const = torch.tensor([0.5, 1.0, 2.0, 4.0, 8.0])
    view = ExpectationView(defense, k, torch.Generator().manual_seed(11))
    grad, logits, *_ = ev._block_gradient(view, w, x, y, const, False, 0.0)
    assert logits.shape == (k, 5, 3)
    # Replay the same draws one at a time: the view stacks k copies and draws eps in one call.
    eps = torch.randn((k * 5, 1, 4, 4), generator=torch.Generator().manual_seed(11)).view(k, 5, 1, 4, 4)
    per_draw = []
    for d in range(k):
        wd = w.clone().requires_grad_(True)
        xa = ev._from_tanh_space(wd)
        z = torch.tanh((xa + 0.3 * eps[d]).flatten(1) @ weight.T) * 3
        loss = ((xa - x).flatten(1).pow(2).sum(1) + const * ev._f(z, y, False, 0.0)).sum()
        per_draw.append(torch.autograd.grad(loss, wd)[0])
    per_draw = torch.stack(per_draw)
    torch.testing.assert_close(grad, per_draw.mean(0), atol=1e-5, rtol=1e-5)
    assert (per_draw - per_draw.mean(0)).abs().max() > 1e-3   # the draws do differ


def test_rse_sweep_is_reproducible_batched_and_judged_by_the_ensemble():
    net = tiny_rse()
    defense = RSEEnsemble([net])
    x = torch.rand(6, 1, 6, 6, generator=torch.Generator().manual_seed(1))
    y = defense.probs(x, 30, generator=torch.Generator().manual_seed(2)).argmax(1)
    y[0] = (y[0] + 1) % 3
    kw = dict(steps=4, lr=1e-2, attack_draws=3, predict_draws=(1, 5), chunk=8, keep_images=True)
    a = ev.cw_sweep(defense, x, y, [0, 0.1, 10.0], generator=torch.Generator().manual_seed(7), **kw)
    b = ev.cw_sweep(defense, x, y, [0, 0.1, 10.0], generator=torch.Generator().manual_seed(7), **kw)
    assert np.array_equal(a.adv_correct, b.adv_correct) and np.array_equal(a.l2, b.l2, equal_nan=True)
    assert a.ns == (1, 5) and a.adv_correct.shape == (3, 2, 6) and a.settings["select"] == "last"
    assert np.array_equal(a.adv_correct[0], a.clean_correct) and np.all(a.l2[0] == 0)   # c = 0: no attack
    assert float(a.x_adv.min()) >= 0 and float(a.x_adv.max()) <= 1
    assert all(net_m.training is False for net_m in net.modules() if isinstance(net_m, nn.BatchNorm2d))
    table = a.table("toy", "rse")
    assert len(table) == 3 * 2 * 6 and set(vd.CW_COLUMNS) <= set(table.columns)
    with pytest.raises(ValueError, match="eval mode"):
        ev.cw_sweep(RSEEnsemble([tiny_rse().train()]), x, y, [0.1], generator=torch.Generator())
    with pytest.raises(ValueError, match="noise layers"):
        ev.cw_sweep(tiny_rse(), x, y, [0.1])


def test_judge_is_rse_ensemble_argmax_and_nested():
    defense = RSEEnsemble([tiny_rse()])
    x = torch.rand(4, 1, 6, 6, generator=torch.Generator().manual_seed(3))
    y = torch.tensor([0, 1, 2, 0])
    for n in (1, 9):
        got = ev.judge(defense, x, y, (n,), generator=torch.Generator().manual_seed(5), chunk=64)
        ref = defense.probs(x, n, generator=torch.Generator().manual_seed(5)).argmax(1) == y
        assert torch.equal(got[0], ref)
    both = ev.judge(defense, x, y, (1, 9), generator=torch.Generator().manual_seed(5), chunk=64)
    one = ev.judge(defense, x, y, (1,), generator=torch.Generator().manual_seed(5), chunk=64)
    assert torch.equal(both[0], one[0])   # the 1-ensemble is the first draw of the 9


def test_accuracy_counts_only_images_correct_clean():
    # A defense that guesses: clean and adversarial judgements are independent coin flips, so
    # "adversarial correct" alone overstates the accuracy the claims define.
    defense = NoisyLinear(torch.zeros(2, 16), 0.0)
    defense.sample = lambda x, g: torch.randn(x.shape[0], 2, generator=g).requires_grad_()
    x = images(400)
    y = torch.zeros(400, dtype=torch.long)
    res = ev.cw_sweep(defense, x, y, [0.01], steps=2, attack_draws=1, predict_draws=1,
                      generator=torch.Generator().manual_seed(0), only_clean_correct=False)
    clean, adv = res.clean_correct[0], res.adv_correct[0, 0]
    assert res.accuracy(0.01) == pytest.approx(np.mean(clean & adv))
    assert 0.15 < res.accuracy(0.01) < 0.35 and 0.4 < adv.mean() < 0.6   # ~1/4 and ~1/2
    s = ev.summarize(res)
    assert s.loc[0, "accuracy"] == pytest.approx(np.mean(clean & adv))


def test_summary_intervals_agree_with_statsmodels():
    lin = linear3()
    x = images(40, seed=4)
    y = lin(x).argmax(1)
    y[::5] = (y[::5] + 1) % 3
    res = ev.cw_sweep(lin, x, y, [0.2, 1.0], steps=60, lr=1e-2)
    s = ev.summarize(res)
    for i, c in enumerate(res.cs):
        corr = res.correct(c)
        lo, hi = proportion_confint(corr.sum(), corr.size, alpha=0.05, method="beta")
        assert s.loc[i, "acc_low"] == pytest.approx(lo) and s.loc[i, "acc_high"] == pytest.approx(hi)
        d = res.l2[i][res.clean_correct[0]]
        tlo, thi = DescrStatsW(d).tconfint_mean(0.05)
        assert s.loc[i, "mean_l2"] == pytest.approx(d.mean())
        assert s.loc[i, "l2_low"] == pytest.approx(tlo) and s.loc[i, "l2_high"] == pytest.approx(thi)
    diff = ev.compare(res, res)
    assert (diff["difference"] == 0).all()
    other = ev.cw_sweep(lin, x, y, [0.2, 1.0], steps=5, lr=1e-2)   # a weaker attack, same images
    d = other.correct(1.0).astype(float) - res.correct(1.0).astype(float)
    est, lo, hi = ev.paired_difference(other.correct(1.0), res.correct(1.0))
    tlo, thi = DescrStatsW(d).tconfint_mean(0.05)
    assert est == pytest.approx(d.mean()) and lo == pytest.approx(tlo) and hi == pytest.approx(thi)


# ----------------------------------------------------------------------------- Figure 4 right

def test_ensemble_curve_converges_to_the_expected_accuracy():
    # Two classes, logit gap m_i + N(0, s^2) with s = sigma |a|: one draw is right with
    # probability Phi(m_i / s); the infinite ensemble (mean softmax, symmetric noise) iff m_i > 0.
    sigma, n_img = 1.0, 600
    a = torch.zeros(16)
    a[:4] = 1.0
    s = sigma * float(a.norm())
    rng = np.random.default_rng(0)
    z = rng.uniform(0.5, 2.0, n_img) * rng.choice([-1, 1], n_img, p=[0.2, 0.8])   # m / s, away from 0
    x = torch.tensor(z * s, dtype=torch.float32)[:, None] * (a / a.norm() ** 2)
    net = nn.Sequential(GaussianNoise(sigma), nn.Flatten(), nn.Linear(16, 2)).eval()
    with torch.no_grad():
        net[2].weight.copy_(torch.stack([a, torch.zeros(16)]))
        net[2].bias.zero_()
    y = torch.zeros(n_img, dtype=torch.long)
    curve = ev.ensemble_curve(net, x.view(n_img, 1, 4, 4), y, [1, 5, 101], generator=torch.Generator().manual_seed(0))
    acc = curve.summary().set_index("n")["accuracy"]
    p1 = stats.norm.cdf(z)
    sd1 = math.sqrt((p1 * (1 - p1)).sum()) / n_img
    assert abs(acc[1] - p1.mean()) < 4 * sd1
    assert abs(acc[101] - (z > 0).mean()) <= 0.01
    assert acc[1] < acc[5] < acc[101]


# ------------------------------------------------------------------------ Table 3 and beyond

def test_targeted_attack_covers_every_other_class_and_matches_untargeted_for_two_classes():
    lin = linear3()
    x = images(2)
    y = lin(x).argmax(1)
    res = ev.targeted_distortions(lin, x, y, c=1.0, num_classes=3, steps=80, lr=1e-2)
    assert len(res.l2) == 4 and all(t != s for t, s in zip(res.target, res.source))
    table = res.table("toy", "no_defense", class_names=("a", "b", "c"))
    assert np.allclose(table["l2_squared"], table["l2"] ** 2)
    # two classes: the targeted objective to the other class is the untargeted one
    g = torch.Generator().manual_seed(3)
    model = Margin2(torch.randn(16, generator=g), torch.zeros(4)).eval()
    x2 = images(4, seed=6)
    y2 = model(x2).argmax(1)
    tg = ev.targeted_distortions(model, x2, y2, c=1.0, num_classes=2, steps=80, lr=1e-2)
    un = ev.cw_fixed_c(model, x2, y2, 1.0, steps=80, lr=1e-2)
    torch.testing.assert_close(torch.from_numpy(tg.l2).float(), un.l2, atol=1e-6, rtol=0)
    assert tg.success.tolist() == un.found.tolist()


def test_eot_pgd_and_autoattack_rand_are_scored_by_the_ensemble():
    net = tiny_rse(0)
    defense = RSEEnsemble([net])
    x = torch.rand(12, 1, 6, 6, generator=torch.Generator().manual_seed(4))
    y = defense.probs(x, 20, generator=torch.Generator().manual_seed(1)).argmax(1)
    weak = ev.eot_pgd(defense, x, y, eps=1e-4, steps=3, step_size=1e-4, attack_draws=2, predict_draws=(1, 7),
                      generator=torch.Generator().manual_seed(0))
    strong = ev.eot_pgd(defense, x, y, eps=0.5, steps=5, step_size=0.1, attack_draws=4, predict_draws=(1, 7),
                        generator=torch.Generator().manual_seed(0))
    assert np.array_equal(weak.clean_correct, strong.clean_correct)   # the judge's stream does not shift
    assert strong.accuracy() < weak.accuracy() <= weak.clean_correct[-1].mean()
    aa = ev.autoattack_rand_robust(defense, x, y, eps=0.5, steps=3, eot_iter=2, predict_draws=7,
                                   generator=torch.Generator().manual_seed(0))
    assert aa.adv_correct.shape == (1, 12) and aa.accuracy() <= aa.clean_correct.mean()
    assert all(not m.training for m in net.modules())   # torchattacks left the network in eval mode


def test_training_time_ratio_reads_histories_and_timing_files():
    rng = np.random.default_rng(0)
    madry = {"wall_s": list(100 + rng.normal(0, 2, 10)), "total_wall_s": 1003.0}
    rse = {"wall_s": list(10 + rng.normal(0, 0.2, 10)), "total_wall_s": 101.0}
    r = ev.training_time_ratio({"madry_pgd": madry, "rse": rse}, "madry_pgd", "rse")
    assert r["ratio"] == pytest.approx(1003 / 101)
    assert r["ci_low"] < r["ratio"] < r["ci_high"] and r["ci_high"] - r["ci_low"] < 1.0
    # the timing-file form: {network: {run tag: seconds}}, a chain of runs counts as one network
    r = ev.training_time_ratio({"madry_pgd": {"plain": 50.0, "pgd": 450.0}, "rse": 50.0}, "madry_pgd", "rse")
    assert r["ratio"] == 10.0 and r["ci_low"] == r["ci_high"] == 10.0
    with pytest.raises(ValueError, match="loaded from disk"):
        ev.training_time_ratio({"madry_pgd": 0.0, "rse": 3.0}, "madry_pgd", "rse")
    # the zoo's records (paperlib.rse.zoo.train_rse_zoo): per network, or per training image seen
    zoo = {"madry_pgd": {"network": "madry", "train_seconds": 600.0, "images_seen": 2000,
                         "runs": {"train": {"images": 200, "epochs": 10, "seconds": 600.0}}},
           "rse": {"network": "rse", "train_seconds": 100.0, "images_seen": 4000,
                   "runs": {"train": {"images": 200, "epochs": 20, "seconds": 100.0}}}}
    assert ev.training_time_ratio(zoo, "madry_pgd", "rse")["ratio"] == 6.0
    assert ev.training_time_ratio(zoo, "madry_pgd", "rse", per="image")["ratio"] == pytest.approx(12.0)


# --------------------------------------------------------------------- synthetic per-image results

def cw_table(setting, model, *, n, acc, clean=None, l2=None, cs=GRID, ns=(1,)):
    """Per-image results with exact rates: the first ``acc(c) * n`` images are correct under attack,
    the first ``clean * n`` clean; l2 over clean-correct images spreads 0.5..1.5 times ``l2(c)``."""
    rows = []
    for nn_ in ns:
        clean_rate = clean(nn_) if callable(clean) else (clean if clean is not None else 1.0)
        kc = round(clean_rate * n)
        for c in cs:
            rate = acc(c, nn_) if callable(acc) else acc
            k = round(rate * n)
            assert k <= kc
            mean_l2 = l2(c) if callable(l2) else (l2 if l2 is not None else 0.1 + c)
            dist = np.full(n, np.nan)
            dist[:kc] = mean_l2 * (0.5 + np.linspace(0, 1, kc)) if kc > 1 else mean_l2
            rows.append(pd.DataFrame({"setting": setting, "model": model, "c": float(c), "n": nn_,
                                      "image": np.arange(n),
                                      "clean_correct": np.arange(n) < kc, "adv_correct": np.arange(n) < k, "l2": dist}))
    return pd.concat(rows, ignore_index=True)


def judge_claim(claim_id, **tables):
    rows, not_run = vd.evaluate(claims={claim_id: CLAIMS[claim_id]}, cells=False, profile="test",
                                replicates=400, **tables)
    claim_rows = [r for r in rows if r["level"] == "claim"]
    if not_run:
        assert not claim_rows
        return "not run", not_run[0]["reason"], rows
    assert len(claim_rows) == 1
    return claim_rows[0]["verdict"], claim_rows[0], rows


def table2(rse=0.88, brelu=0.45, others=0.1, n=2000, cs=GRID, **kw):
    rates = {"rse": rse, "robust_opt_brelu": brelu, "adv_retraining": others, "distill": others, "no_defense": others}
    return pd.concat([cw_table("cifar10_vgg16", m, n=n, acc=r, clean=0.92, cs=cs, **kw) for m, r in rates.items()])


@pytest.mark.parametrize("claim_id, tables, verdict", [
    # cell: RSE at c = 0.03, equivalent to 0.8606 within 5 points
    ("abstract_rse_86_at_c003", dict(cw=table2(rse=0.86)), "holds"),
    ("abstract_rse_86_at_c003", dict(cw=table2(rse=0.60)), "does not hold"),
    ("abstract_rse_86_at_c003", dict(cw=table2(rse=0.85, n=20)), "inconclusive"),
    # cell with several rows: every other defense at most 31% at c = 0.06
    ("table2_others_below_30_at_c006", dict(cw=table2(brelu=0.2)), "holds"),
    ("table2_others_below_30_at_c006", dict(cw=table2(brelu=0.6)), "does not hold"),
    ("table2_others_below_30_at_c006", dict(cw=table2(brelu=0.25, others=0.25, n=30)), "inconclusive"),
    # best_of: the best previous defense near 47.93%
    ("abstract_best_previous_48_at_c003", dict(cw=table2(brelu=0.48)), "holds"),
    ("abstract_best_previous_48_at_c003", dict(cw=table2(brelu=0.8)), "does not hold"),
    ("abstract_best_previous_48_at_c003", dict(cw=table2(brelu=0.5, n=20)), "inconclusive"),
    # difference: RSE above every other defense at every c
    ("table2_rse_most_robust", dict(cw=table2()), "holds"),
    ("table2_rse_most_robust", dict(cw=table2(rse=0.3, brelu=0.6)), "does not hold"),
    ("table2_rse_most_robust", dict(cw=table2(rse=0.55, brelu=0.5, others=0.5, n=20)), "inconclusive"),
])
def test_table2_claim_kinds(claim_id, tables, verdict):
    assert judge_claim(claim_id, **tables)[0] == verdict


def test_best_of_names_the_best_row_and_its_bootstrap_interval_covers_it():
    v, row, _ = judge_claim("abstract_best_previous_48_at_c003", cw=table2(brelu=0.48))
    assert row["ours"] == pytest.approx(0.48) and "robust_opt_brelu" in row["deviations"]
    assert row["ci_low"] < 0.48 < row["ci_high"] and row["ci_high"] - row["ci_low"] < 0.06


def clean_models(setting, rates, n):
    return pd.concat([cw_table(setting, m, n=n, acc=0.0, clean=r, cs=[0.1]) for m, r in rates.items()])


@pytest.mark.parametrize("claim_id, rates, n, verdict", [
    ("no_defense_clean_92", {"no_defense": 0.92}, 5000, "holds"),
    ("no_defense_clean_92", {"no_defense": 0.70}, 5000, "does not hold"),
    ("no_defense_clean_92", {"no_defense": 0.92}, 50, "inconclusive"),
    ("fig2_training_noise_needed", {"rse": 0.9, "test_noise_only": 0.2}, 200, "holds"),
    ("fig2_training_noise_needed", {"rse": 0.2, "test_noise_only": 0.9}, 200, "does not hold"),
    ("fig2_training_noise_needed", {"rse": 0.55, "test_noise_only": 0.5}, 20, "inconclusive"),
    ("rse_clean_cost_small", {"rse": 0.91, "no_defense": 0.92}, 5000, "holds"),
    ("rse_clean_cost_small", {"rse": 0.80, "no_defense": 0.92}, 5000, "does not hold"),
])
def test_clean_accuracy_and_clean_difference(claim_id, rates, n, verdict):
    assert judge_claim(claim_id, cw=clean_models("cifar10_vgg16", rates, n))[0] == verdict


def test_figure_difference_mean_each_noise_curves_and_aliases():
    def fig5(brelu, none, n=500):
        return pd.concat([cw_table("cifar10_resnext", "robust_opt_brelu", n=n, acc=brelu, clean=0.9),
                          cw_table("cifar10_resnext", "no_defense", n=n, acc=none, clean=0.9)])

    assert judge_claim("fig5_brelu_helps_resnext", cw=fig5(0.6, 0.2))[0] == "holds"
    assert judge_claim("fig5_brelu_helps_resnext", cw=fig5(0.2, 0.6))[0] == "does not hold"
    assert judge_claim("fig5_brelu_helps_resnext", cw=fig5(0.5, 0.5, n=20))[0] == "inconclusive"
    # statistic each, c = 0 (clean) and 0.01, curves named by noise level; RSE stored as "rse"
    noisy = cw_table("cifar10_vgg16", "rse", n=1000, acc=0.80, clean=0.85, cs=[0.01])
    plain = cw_table("cifar10_vgg16", "noise_0_0", n=1000, acc=0.88, clean=0.93, cs=[0.01])
    v, row, rows = judge_claim("fig3_noise_costs_weak_attack_accuracy", cw=pd.concat([noisy, plain]),
                               aliases={"noise_0.2_0.1": "rse"})
    assert v == "holds" and len(rows) == 3
    assert {r["claim_id"] for r in rows if r["level"] == "row"} == {
        "fig3_noise_costs_weak_attack_accuracy@noise_0.2_0.1-noise_0_0@c=0",
        "fig3_noise_costs_weak_attack_accuracy@noise_0.2_0.1-noise_0_0@c=0.01"}
    assert row["ours"] == pytest.approx(-0.08)
    v, reason, _ = judge_claim("fig3_noise_costs_weak_attack_accuracy", cw=pd.concat([noisy, plain]))
    assert v == "not run" and "noise_0.2_0.1" in reason


def test_a_claim_on_unrun_settings_is_not_run_or_decided_only_by_what_was_measured():
    v, reason, _ = judge_claim("fig5_brelu_worse_than_no_defense_stl10", cw=table2())
    assert v == "not run" and "stl10_model_a" in reason

    def resnext(rse):
        return pd.concat([cw_table("cifar10_resnext", m, n=500, acc=rse if m == "rse" else 0.3, clean=0.9)
                          for m in ("rse", "adv_retraining", "robust_opt_brelu", "distill", "no_defense")])

    v, reason, rows = judge_claim("fig5_rse_most_robust_resnext_stl10", cw=resnext(0.8))
    assert v == "not run" and reason.startswith("partly measured (4 of 8 rows)")
    assert len(rows) == 4 and all(r["verdict"] == "holds" for r in rows)
    v, row, _ = judge_claim("fig5_rse_most_robust_resnext_stl10", cw=resnext(0.1))
    assert v == "does not hold" and "4 of 8 rows not run" in row["deviations"]


def fig4(gain, n=1000, clean_gain=0.0, cs=GRID):
    return cw_table("cifar10_vgg16", "rse", n=n, ns=(1, 50), cs=cs,
                    clean=lambda k: 0.84 + (clean_gain if k == 50 else 0),
                    acc=lambda c, k: 0.70 + (gain if k == 50 else 0.0))


@pytest.mark.parametrize("claim_id, data, verdict", [
    ("fig4_ensemble_gain_8", fig4(0.08), "holds"),
    ("fig4_ensemble_gain_8", fig4(0.0, clean_gain=0.0), "inconclusive"),   # zero-width: every difference 0
    ("fig4_ensemble_gain_8", fig4(-0.05), "does not hold"),
    ("fig4_ensemble_beats_single", fig4(0.05), "holds"),
    ("fig4_ensemble_beats_single", fig4(-0.05), "does not hold"),
    ("fig4_ensemble_worse_strong_attack", fig4(-0.05, cs=[2.0, 5.0]), "holds"),
    ("fig4_ensemble_worse_strong_attack", fig4(0.05, cs=[2.0, 5.0]), "does not hold"),
])
def test_ensemble_gain(claim_id, data, verdict):
    assert judge_claim(claim_id, cw=data)[0] == verdict


def test_ensemble_sizes_the_profile_did_not_run_are_mapped_or_not_run():
    data = fig4(0.08)
    data["n"] = data["n"].replace({50: 20})
    v, reason, _ = judge_claim("fig4_ensemble_gain_8", cw=data)
    assert v == "not run" and "no 50-ensemble" in reason
    v, row, _ = judge_claim("fig4_ensemble_gain_8", cw=data, n_map={50: 20})
    assert v == "holds" and "50-ensemble judged with 20 draws" in row["deviations"]


def curve(setting, model, n_img, rates):
    return pd.concat([pd.DataFrame({"setting": setting, "model": model, "n": n, "image": np.arange(n_img),
                                    "correct": np.arange(n_img) < round(r * n_img)}) for n, r in rates.items()])


@pytest.mark.parametrize("claim_id, clean, verdict", [
    ("fig4_saturation_n10", curve("cifar10_vgg16", "rse", 5000, {1: 0.8, 10: 0.880, 50: 0.882}), "holds"),
    ("fig4_saturation_n10", curve("cifar10_vgg16", "rse", 5000, {1: 0.8, 10: 0.83, 50: 0.88}), "does not hold"),
    ("fig4_saturation_n10", curve("cifar10_vgg16", "rse", 50, {1: 0.8, 10: 0.88, 50: 0.88}), "inconclusive"),
    ("fig4_gain_up_to_n10", curve("cifar10_vgg16", "rse", 2000, {1: 0.8, 10: 0.88, 50: 0.88}), "holds"),
    ("fig4_gain_up_to_n10", curve("cifar10_vgg16", "rse", 2000, {1: 0.88, 10: 0.8, 50: 0.8}), "does not hold"),
    ("fig4_smaller_noise_weaker_ensemble_gain",
     pd.concat([curve("cifar10_vgg16", "noise_0.1_0.05", 2000, {1: 0.90, 50: 0.91}),
                curve("cifar10_vgg16", "noise_0.2_0.1", 2000, {1: 0.80, 50: 0.88})]), "holds"),
    ("fig4_smaller_noise_weaker_ensemble_gain",
     pd.concat([curve("cifar10_vgg16", "noise_0.1_0.05", 2000, {1: 0.80, 50: 0.90}),
                curve("cifar10_vgg16", "noise_0.2_0.1", 2000, {1: 0.85, 50: 0.86})]), "does not hold"),
])
def test_saturation_kinds(claim_id, clean, verdict):
    assert judge_claim(claim_id, clean=clean)[0] == verdict


@pytest.mark.parametrize("mean_l2, n, verdict", [(0.93, 500, "holds"), (2.0, 500, "does not hold"),
                                                 (0.93, 3, "inconclusive")])
def test_distortion(mean_l2, n, verdict):
    data = cw_table("cifar10_vgg16", "rse", n=n, ns=(1, 50), acc=0.0, clean=1.0, cs=[1.0], l2=mean_l2)
    v, row, _ = judge_claim("fig4_distortion_093_at_c1", cw=data)
    assert v == verdict and row["ours"] == pytest.approx(mean_l2)


def test_distortion_difference_over_settings():
    settings = ["cifar10_vgg16", "cifar10_resnext", "stl10_model_a"]
    models = ("rse", "adv_retraining", "robust_opt_brelu", "distill", "no_defense")

    def data(rse_l2, where=settings):
        return pd.concat([cw_table(s, m, n=300, acc=0.0, clean=0.9, cs=[2.0, 5.0], l2=rse_l2 if m == "rse" else 1.0)
                          for s in where for m in models])

    assert judge_claim("rse_largest_distortion_strong_attack", cw=data(1.5))[0] == "holds"
    assert judge_claim("rse_largest_distortion_strong_attack", cw=data(0.5))[0] == "does not hold"
    assert judge_claim("rse_largest_distortion_strong_attack", cw=data(1.5, settings[:1]))[0] == "not run"
    # the paired difference is over images correct clean for both models
    a = cw_table("cifar10_vgg16", "rse", n=100, acc=0.0, clean=0.9, cs=[2.0], l2=1.5)
    b = cw_table("cifar10_vgg16", "no_defense", n=100, acc=0.0, clean=0.5, cs=[2.0], l2=1.0)
    m = vd.Measurements(pd.concat([a, b]))
    da, db = m.distortion("cifar10_vgg16", "rse", 2.0), m.distortion("cifar10_vgg16", "no_defense", 2.0)
    assert len(da) == 90 and len(db) == 50


def success_data(model, n, success, dists=(0.05, 0.1, 0.15, 0.2, 0.22, 0.3)):
    cs = [0.01, 0.03, 0.06, 0.1, 0.2, 0.4]
    rate = dict(zip(cs, success)) if isinstance(success, (list, tuple)) else {c: success for c in cs}
    l2 = dict(zip(cs, dists))
    return cw_table("cifar10_vgg16", model, n=n, clean=0.9, cs=cs, acc=lambda c, k: 0.9 * (1 - rate[c]),
                    l2=lambda c: l2[c])


def test_success_at_distortion_interpolates_in_log_c():
    # mean distortion 0.2 at c = 0.1 and 0.22 at c = 0.2: 0.21 is reached at c = sqrt(0.02);
    # success there, linear in log c, is halfway between the two grid values.
    data = success_data("rse", 1000, [0.0, 0.0, 0.1, 0.15, 0.25, 0.6])
    v, row, _ = judge_claim("sec43_rse_success_20_at_021", cw=data)
    assert row["ours"] == pytest.approx(0.20, abs=2e-3) and v == "holds"
    assert judge_claim("sec43_rse_success_20_at_021", cw=success_data("rse", 1000, 0.5))[0] == "does not hold"
    assert judge_claim("sec43_rse_success_20_at_021", cw=success_data("rse", 20, 0.2))[0] == "inconclusive"
    above_99 = "sec43_no_defense_success_above_99_at_021"
    assert judge_claim(above_99, cw=success_data("no_defense", 1000, 0.998))[0] == "holds"   # 2 of 900 survive
    assert judge_claim(above_99, cw=success_data("no_defense", 1000, 0.5))[0] == "does not hold"
    v, reason, _ = judge_claim("sec43_rse_success_20_at_021",
                               cw=success_data("rse", 1000, 0.2, dists=(0.01, 0.02, 0.03, 0.04, 0.05, 0.06)))
    assert v == "not run" and "outside the swept curve" in reason


def targeted(ratio_rse, spread, images=1):
    """Table 3's layout: RSE's distortion per target is the others' times ``ratio_rse`` times a
    pattern of mean exactly 1 and relative spread ``spread`` (so the ratio of means is ``ratio_rse``)."""
    base = np.random.default_rng(0).uniform(0.5, 3.0, (images, 9))
    pattern = 1 + spread * np.array([-1, 1, -1, 1, -1, 1, -1, 1, 0])
    pattern = pattern / (base * pattern).mean() * base.mean()
    frames = []
    for m in ("rse", "no_defense", "distill", "adv_retraining", "robust_opt_brelu"):
        l2 = base * (ratio_rse * pattern if m == "rse" else 1.0)
        frames.append(pd.DataFrame({"setting": "cifar10_vgg16", "model": m, "image": np.repeat(np.arange(images), 9),
                                    "target": np.tile([0, 1, 2, 3, 4, 5, 6, 7, 9], images), "l2": l2.ravel()}))
    return pd.concat(frames)


@pytest.mark.parametrize("ratio, spread, verdict", [(3.0, 0.1, "holds"), (0.3, 0.1, "does not hold"),
                                                    (1.05, 0.3, "inconclusive")])
def test_targeted_distortion_ratio(ratio, spread, verdict):
    v, row, _ = judge_claim("table3_rse_most_distorted", targeted=targeted(ratio, spread))
    assert v == verdict and row["ours"] == pytest.approx(ratio)


def test_training_time_ratio_verdicts():
    rng = np.random.default_rng(1)

    def hist(per_epoch):
        e = list(per_epoch * (1 + 0.02 * rng.standard_normal(20)))
        return {"wall_s": e, "total_wall_s": sum(e)}

    ok = {"cifar10_vgg16": {"madry_pgd": hist(100.0), "rse": hist(10.0)}}
    far = {"cifar10_vgg16": {"madry_pgd": hist(300.0), "rse": hist(10.0)}}
    totals = {"cifar10_vgg16": {"madry_pgd": 1000.0, "rse": 100.0}}
    assert judge_claim("madry_training_10x_longer", training=ok)[0] == "holds"
    assert judge_claim("madry_training_10x_longer", training=far)[0] == "does not hold"
    assert judge_claim("madry_training_10x_longer", training=totals)[0] == "inconclusive"   # no sampling information
    assert judge_claim("madry_training_10x_longer")[0] == "not run"


def test_every_table2_cell_is_a_claim_and_missing_cells_are_not_run():
    values = TABLES["table2"]["values"]
    frames = [cw_table("cifar10_vgg16", m, n=5000, clean=0.95, acc=lambda c, k, m=m: values[m][GRID.index(c)])
              for m in values if m != "no_defense"]
    rows, not_run = vd.evaluate(cw=pd.concat(frames), claims={}, profile="test", replicates=200)
    cells = {r["claim_id"]: r for r in rows}
    assert len(cells) == 20 and all(r["verdict"] == "holds" for r in cells.values())
    assert cells["table2:rse:0.03"]["paper_value"] == 0.8606 and cells["table2:rse:0.03"]["tolerance"] == 0.05
    assert sorted(r["claim_id"] for r in not_run) == [f"table2:no_defense:{c:g}" for c in GRID]
    shifted = [cw_table("cifar10_vgg16", "rse", n=5000, clean=0.95,
                        acc=lambda c, k: values["rse"][GRID.index(c)] - 0.2)]
    rows, _ = vd.evaluate(cw=pd.concat(shifted), claims={}, profile="test")
    assert {r["verdict"] for r in rows} == {"does not hold"}


def test_every_claim_kind_is_handled_and_nothing_measured_means_not_run():
    assert {c.test["kind"] for c in CLAIMS.values()} <= set(vd.KINDS)
    rows, not_run = vd.evaluate(profile="test")
    assert rows == [] and len(not_run) == len(CLAIMS) + 25
    assert all(r["reason"].startswith("not run") for r in not_run)
    assert vd.curve_name([0.2, 0.1]) == "noise_0.2_0.1" and vd.curve_name([0, 0]) == "noise_0_0"


def test_n_map_never_replaces_an_ensemble_size_that_was_judged():
    """The profile's n_map stands in for sizes it did not judge (50 -> 10 for the deployed ensemble);
    a curve that does hold n = 50 is read at 50, else the saturation claim would compare the
    10-ensemble with itself (a gain of exactly 0)."""
    clean = curve("cifar10_vgg16", "rse", 5000, {1: 0.8, 10: 0.83, 50: 0.88})
    v, row, _ = judge_claim("fig4_saturation_n10", clean=clean, n_map={50: 10})
    assert v == "does not hold" and abs(row["ours"] - 0.05) < 1e-9
