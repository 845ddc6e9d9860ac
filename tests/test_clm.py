"""CLM (Jasser & Garibay): counter-linking (eq. 4-5), the epoch-interleaved population training of
Algorithm 1, the random-submodel protocol and MRA (eq. 6), the claims on tables, the figure
statistics, and the params checks. Each against something independent: hand-computed values,
the engine trained member by member, the existing ``paperlib.metrics.mra``, scipy."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from paperlib.clm.counter_linking import CounterLinking, link_mask, monitored_index, prse_update, weight_layer
from paperlib.clm.evaluation import (PopulationView, attack_population, correctness,
                                     mra_interval, paired_difference)
from paperlib.clm.figures import monitor_spread, pair_correlation, welch_interval
from paperlib.clm.verdicts import cell_claims, evaluate_headlines, table_spec
from paperlib.config import load_raw
from paperlib.config.clm import ClmParams, DatasetParams
from paperlib.config.schema import ParamsError, from_mapping
from paperlib.metrics import mra
from paperlib.scenarios.clm import clm_random_submodel_attack
from paperlib.train import TrainConfig, train
from paperlib.train.callbacks import TrainState
from paperlib.train.population import train_population
from tests.conftest import REPO


class Tiny(nn.Module):
    def __init__(self, seed, dropout=False):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.fc = nn.Linear(2 * 4 * 4, 3)
        self.drop = nn.Dropout(0.5) if dropout else nn.Identity()
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)

    def forward(self, x):
        return self.fc(self.drop(torch.relu(self.conv(x)).flatten(1)))


def toy_data(n=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 1, 4, 4), generator=g, dtype=torch.uint8)
    y = (x.float().mean((1, 2, 3)) > 127).long() + (x[:, 0, 0, 0] > 200).long()
    return x, y


CFG = TrainConfig(epochs=3, batch_size=8, lr=0.05, schedule="constant", augment=False, checkpoint_every=0)


# ----------------------------------------------------------------- eq. 4-5 and the PRSE callback

def test_prse_update_by_hand():
    w_i = torch.tensor([[0.00, 0.50], [0.20, -0.10]])
    w_j = torch.tensor([[0.05, 0.10], [0.60, -0.12]])
    mask = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    # |diff| < 0.1 at (0,0) and (1,1); (1,1)'s mask is 1, (0,0)'s is 1; (0,1) too far; (1,0) unmasked
    odd = prse_update(w_i, w_j, mask, alpha=0.3, delta=0.1, number=1)    # (-1)^1: pushed down
    assert torch.allclose(odd, torch.tensor([[-0.30, 0.50], [0.20, -0.40]]))
    even = prse_update(w_i, w_j, mask, alpha=0.3, delta=0.1, number=2)
    assert torch.allclose(even, torch.tensor([[0.30, 0.50], [0.20, 0.20]]))


def test_mask_shape_is_one_filter_and_about_half_linked():
    g = torch.Generator().manual_seed(0)
    mask = link_mask((64, 3, 3, 3), g)
    assert mask.shape == (3, 3, 3) and set(mask.unique().tolist()) <= {0.0, 1.0}
    big = link_mask((1, 40, 50, 50), g)
    assert stats.binomtest(int(big.sum()), big.numel(), 0.5).pvalue > 1e-3
    assert monitored_index(torch.tensor([[[0.0, 0.0], [1.0, 0.0]]])) == (0, 0, 1, 0)


def test_weight_layer_refuses_a_layer_the_network_lacks():
    m = Tiny(0)
    assert weight_layer(m, 1) is m.conv and weight_layer(m, 2) is m.fc
    with pytest.raises(ValueError, match=r"clm\.datasets\.mnist\.link\.layer.*1\.\.2.*got 3"):
        weight_layer(m, 3, "clm.datasets.mnist.link.layer")


def test_counter_linking_every_n_steps_with_uniform_partners():
    models = [Tiny(s) for s in range(4)]
    for m in models[1:]:  # partners equal to member 0: every masked weight is within delta
        m.load_state_dict(models[0].state_dict())
    mask = torch.ones(1, 3, 3)
    cb = CounterLinking(models, 0, mask, alpha=0.01, delta=10.0, every=10, generator=torch.Generator().manual_seed(1))
    before = models[0].conv.weight.detach().clone()
    st = TrainState(models=models, optimizer=None, config=None, seed=0, steps_per_epoch=25)
    for step in range(25):
        st.step = step
        cb.on_step_end(st)
    assert cb.updates == 2  # steps 10 and 20 of the epoch
    assert torch.allclose(models[0].conv.weight, before - 0.02)  # member 1 (odd): down, twice
    partners = [cb.partner() for _ in range(3000)]
    assert 0 not in partners
    counts = np.bincount(partners, minlength=4)[1:]
    assert stats.chisquare(counts).pvalue > 1e-3


# ----------------------------------------------------------------- Algorithm 1's order

class Order:
    def __init__(self, log, i):
        self.log, self.i = log, i

    def on_epoch_end(self, state):
        self.log.append((self.i, state.epoch))


def test_population_trains_epoch_by_epoch_in_turn():
    x, y = toy_data()
    log = []
    models = [Tiny(s) for s in range(3)]
    train_population(models, x, y, CFG, seeds=[1, 2, 3], callbacks_for=lambda i: [Order(log, i)], progress=False)
    assert log == [(i, e) for e in range(3) for i in range(3)]


@pytest.mark.parametrize("dropout", [False, True])
def test_population_without_links_equals_members_trained_alone(dropout):
    x, y = toy_data()
    together = [Tiny(s, dropout=dropout) for s in range(3)]
    before = torch.random.get_rng_state()
    train_population(together, x, y, CFG, seeds=[7, 8, 9], progress=False)
    assert torch.equal(torch.random.get_rng_state(), before)  # the caller's global RNG is untouched
    for s, m in zip(range(3), together):
        alone = Tiny(s, dropout=dropout)
        train(alone, x, y, CFG, seed=7 + s, progress=False)
        for a, b in zip(alone.state_dict().values(), m.state_dict().values()):
            assert torch.equal(a, b)


def test_counter_linked_population_is_deterministic_and_diverges():
    x, y = toy_data()

    def run():
        models = [Tiny(0) for _ in range(4)]  # identical start: only counter-linking separates them
        mask = torch.ones(1, 3, 3)
        links = [CounterLinking(models, i, mask, alpha=0.05, delta=0.05, every=2,
                                generator=torch.Generator().manual_seed(i)) for i in range(4)]
        train_population(models, x, y, CFG, seeds=[5] * 4, callbacks_for=lambda i: [links[i]], progress=False)
        return models

    a, b = run(), run()
    for ma, mb in zip(a, b):
        assert torch.equal(ma.conv.weight, mb.conv.weight)
    w = torch.stack([m.conv.weight.detach() for m in a])
    assert float(w.std(0).mean()) > 0.01  # identical members trained on identical batches moved apart


def test_a_failing_member_stops_the_population_without_hanging():
    x, y = toy_data()

    class Boom:
        def on_epoch_end(self, state):
            if state.epoch == 1:
                raise RuntimeError("boom in member 1")

    with pytest.raises(RuntimeError, match="boom in member 1"):
        train_population([Tiny(s) for s in range(3)], x, y, CFG, seeds=[1, 2, 3],
                         callbacks_for=lambda i: [Boom()] if i == 1 else [], progress=False)


def test_population_refuses_bad_seeds():
    x, y = toy_data()
    with pytest.raises(ValueError, match="one per member"):
        train_population([Tiny(0), Tiny(1)], x, y, CFG, seeds=[1], progress=False)


# ----------------------------------------------------------------- protocol and MRA

def test_per_batch_crafting_draws_one_submodel_per_batch():
    models = [Tiny(s) for s in range(5)]
    x = torch.rand(23, 1, 4, 4)
    y = torch.zeros(23, dtype=torch.long)
    ident = lambda m, xs, ys: xs  # noqa: E731
    _, src = clm_random_submodel_attack(ident, models, x, y, generator=torch.Generator().manual_seed(0), per_batch=10)
    assert [len(set(src[i:i + 10].tolist())) for i in (0, 10, 20)] == [1, 1, 1]
    _, src = clm_random_submodel_attack(ident, models, x, y, generator=torch.Generator().manual_seed(0))
    assert len(set(src.tolist())) > 1


def test_mra_interval_matches_the_metric_and_a_t_interval():
    models = [Tiny(s).eval() for s in range(4)]
    x = torch.rand(40, 1, 4, 4)
    y = torch.randint(0, 3, (40,), generator=torch.Generator().manual_seed(1))
    c = correctness(models, x, y)
    est, lo, hi = mra_interval(c)
    ref, per_model = mra(models, x, y)
    assert est == pytest.approx(ref) and torch.allclose(c.double().mean(1), per_model)
    scores = c.double().mean(0).numpy()
    t = stats.t.interval(0.95, len(scores) - 1, loc=scores.mean(), scale=stats.sem(scores))
    assert (lo, hi) == pytest.approx(t)
    d, dlo, dhi = paired_difference(c, c)
    assert d == dlo == dhi == 0.0  # identical cells: a point, which the claims call inconclusive


def test_population_view_follows_the_mean_gradient_over_submodels():
    models = [Tiny(s).eval() for s in range(3)]
    x = torch.rand(5, 1, 4, 4, requires_grad=True)
    y = torch.tensor([0, 1, 2, 0, 1])
    from paperlib.attacks._core import ce_loss

    (g_view,) = torch.autograd.grad(ce_loss(PopulationView(models)(x), y, False).sum(), x)
    g_mean = sum(torch.autograd.grad(nn.functional.cross_entropy(m(x), y, reduction="sum"), x)[0] for m in models) / 3
    assert torch.allclose(g_view, g_mean, atol=1e-6)


def test_attack_cell_is_reproducible_and_stronger_attacks_lower_mra():
    from paperlib.config.clm import AttackParams

    models = [Tiny(s).eval().requires_grad_(False) for s in range(3)]
    x = torch.rand(30, 1, 4, 4)
    y = torch.stack([m(x) for m in models]).mean(0).argmax(1)  # the population's own labels: MRA starts high
    a = AttackParams(pgd_steps=10, pgd_step=0.05, adaptive_steps=10)
    clean = attack_population("FGSM", models, x, y, eps=0, settings=a, seed=0, tag="t")["correct"].double().mean()
    one = attack_population("PGD", models, x, y, eps=0.3, settings=a, seed=0, tag="t")["correct"]
    again = attack_population("PGD", models, x, y, eps=0.3, settings=a, seed=0, tag="t")["correct"]
    eot_all = attack_population("EOT-all", models, x, y, eps=0.3, settings=a, seed=0, tag="t")["correct"]
    assert torch.equal(one, again)
    assert one.double().mean() < clean and eot_all.double().mean() < clean
    with pytest.raises(ValueError, match="unknown CLM attack"):
        attack_population("CW", models, x, y, eps=0.3, settings=a, seed=0, tag="t")


# ----------------------------------------------------------------- claims on the tables

def test_every_printed_number_is_a_cell_claim():
    n = sum(len(cell_claims(t, table_spec(t))) for t in ("table1", "table2", "table3", "table4", "table5"))
    assert n == 68
    assert cell_claims("table4", table_spec("table4"))[("PGD", "ULM-Adv")].paper_value == pytest.approx(0.3954)


def _cells(gain, n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    ulm = torch.rand(10, n, generator=g) < 0.3
    clm = torch.rand(10, n, generator=g) < 0.3 + gain
    spec = table_spec("table2")
    cells = {}
    for r in spec["rows"]:
        cells[(r, "ULM")], cells[(r, "CLM")] = ulm, clm
    return spec, cells


def test_headline_gain_holds_when_large_and_is_refuted_when_absent():
    spec, cells = _cells(0.45)
    rows = evaluate_headlines("table2", spec, cells, profile="smoke", deviations="", source="")
    verdict = {r["claim_id"]: r["verdict"] for r in rows if r["level"] == "claim"}
    assert verdict["mnist_clm_gain_20"] == "holds" and verdict["mnist_clm_better_all"] == "holds"
    spec, cells = _cells(-0.2, seed=1)
    rows = evaluate_headlines("table2", spec, cells, profile="smoke", deviations="", source="")
    verdict = {r["claim_id"]: r["verdict"] for r in rows if r["level"] == "claim"}
    assert verdict["mnist_clm_gain_20"] == "does not hold" and verdict["mnist_clm_better_all"] == "does not hold"


# ----------------------------------------------------------------- figure statistics

def test_welch_interval_matches_scipy():
    a, b = np.array([0.21, 0.25, 0.19, 0.3, 0.24]), np.array([0.18, 0.17, 0.2, 0.16])
    est, lo, hi = welch_interval(a, b)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert est == pytest.approx(a.mean() - b.mean()) and (lo, hi) == pytest.approx((ci.low, ci.high))


def test_monitor_spread_reads_only_linked_positions():
    before = np.zeros((3, 1, 1, 2, 1))
    after = before.copy()
    after[:, 0, 0, 0, 0] = [-1.0, 0.0, 1.0]   # linked position spreads
    after[:, 0, 0, 1, 0] = [-5.0, 0.0, 5.0]   # unlinked position: ignored
    rec = {"link": {"layer_before": before.tolist(), "layer_after": after.tolist(), "mask": [[[1.0], [0.0]]]}}
    est, lo, hi, n = monitor_spread(rec)
    assert n == 1 and est == pytest.approx(np.std([-1.0, 0.0, 1.0])) and lo == hi == est


def test_pair_correlation_point_estimate_is_spearman():
    rng = np.random.default_rng(0)
    pairs = [(0, 1), (0, 2), (1, 2)]
    sims = rng.normal(size=(3, 30))
    cross = rng.random((3, 3, 30)) < 0.5
    est, lo, hi = pair_correlation(pairs, sims, cross, draws=50, seed=0)
    med = np.median(np.concatenate([sims, sims]), axis=1)
    rob = [cross[0, 1].mean(), cross[0, 2].mean(), cross[1, 2].mean(), cross[1, 0].mean(), cross[2, 0].mean(), cross[2, 1].mean()]
    assert est == pytest.approx(stats.spearmanr(med, rob).statistic)
    assert lo <= hi


# ----------------------------------------------------------------- bad input names the params key

def _clm_params(profile="smoke"):
    return copy.deepcopy(load_raw(REPO / "profiles" / f"{profile}.yaml")["clm"])


@pytest.mark.parametrize("path, value, key", [
    (("datasets", "mnist", "members"), 1, "clm.datasets.mnist.members"),
    (("datasets", "mnist", "link", "alpha"), 0.0, "clm.datasets.mnist.link.alpha"),
    (("datasets", "cifar10", "link_adv", "delta"), 1.5, "clm.datasets.cifar10.link_adv.delta"),
    (("datasets", "mnist", "link", "layer"), 0, "clm.datasets.mnist.link.layer"),
    (("linked", "mnist_clm", "base"), "cifar10_ulm", "clm.linked.mnist_clm.base"),
    (("tables", "table2", "populations"), ["mnist_nothing"], "clm.tables.table2.populations[0]"),
    (("attacks", "mnist", "pgd_steps"), 0, "clm.attacks.mnist.pgd_steps"),
])
def test_bad_values_are_refused_naming_the_key(path, value, key):
    raw = _clm_params()
    node = raw
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    with pytest.raises(ParamsError, match=key.replace(".", r"\.").replace("[", r"\[").replace("]", r"\]")):
        from_mapping(ClmParams, raw, "clm")


def test_attack_settings_are_needed_for_every_dataset():
    raw = _clm_params()
    raw["attacks"].pop("cifar10")
    with pytest.raises(ParamsError, match=r"clm\.attacks: needs one entry per dataset"):
        from_mapping(ClmParams, raw, "clm")


def test_every_profile_builds_and_keeps_the_papers_population_size():
    for profile in ("smoke", "default", "paper"):
        p = from_mapping(ClmParams, _clm_params(profile), "clm")
        assert set(p.datasets) == {"mnist", "cifar10"}
    paper = from_mapping(ClmParams, _clm_params("paper"), "clm")
    assert all(d.members == 10 for d in paper.datasets.values())
    assert isinstance(paper.datasets["mnist"], DatasetParams)


def test_adversarial_population_trains_in_worker_processes(tmp_path):
    """Independent populations train in spawned workers: an adversarial config (its attack is a
    closure) must be rebuilt there, not pickled."""
    from paperlib.clm.populations import load_population, read_population_record, train_population_item
    from paperlib.config.clm import PopulationItem

    raw = _clm_params()["datasets"]["mnist"]
    raw.update(members=2, train_images=40, adv_images=40, width=0.5)
    ds = from_mapping(DatasetParams, raw, "clm.datasets.mnist")
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (80, 1, 28, 28), generator=g, dtype=torch.uint8)
    y = torch.arange(80) % 10
    train_population_item("mnist_ulm_adv", PopulationItem("mnist", "ulm_adv"), ds, x, y, seed=0, out_dir=tmp_path,
                          num_classes=10, in_channels=1, workers=2)
    rec = read_population_record(tmp_path)
    assert rec["kind"] == "ulm_adv" and rec["config"]["adversarial"]["attack"].startswith("pgd_linf_training_attack")
    assert len(load_population(tmp_path, ds, 10, 1)) == 2


def test_a_dataset_the_data_stage_does_not_prepare_is_refused(tmp_path):
    import yaml

    from paperlib.config import load_params

    raw = load_raw(REPO / "profiles" / "smoke.yaml")
    raw["data"]["datasets"] = ["cifar10"]
    # every other section on CIFAR-10 only, so that the refusal is CLM's own
    raw["sem"]["dataset"] = "cifar10"
    raw["liang"]["ensembles"].pop("mnist")
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError, match=r"clm\.datasets\.mnist: 'mnist' is not prepared by data\.datasets"):
        load_params(path)


def test_paper_attacks_equal_torchattacks():
    """MI-FGSM and PGD-EOT as the paper's code ran them (torchattacks 2.14.2 defaults), checked
    against the installed torchattacks with those settings: MIFGSM(steps 5, alpha eps/5) and
    EOTPGD(40 steps of 2/255, no random start) on a deterministic submodel."""
    import torchattacks

    from paperlib.clm.evaluation import craft
    from paperlib.config.clm import AttackParams

    torch.manual_seed(0)
    model = Tiny(3).eval().requires_grad_(False)
    x = torch.rand(16, 1, 4, 4)
    y = model(x).argmax(1)
    a = AttackParams(pgd_steps=10, pgd_step=0.01)
    g = torch.Generator().manual_seed(0)
    ours = craft("MI-FGSM", model, x, y, eps=0.3, settings=a, generator=g, seed=0)
    ref = torchattacks.MIFGSM(model, eps=0.3, alpha=0.3 / 5, steps=5, decay=1.0)(x, y)
    assert torch.allclose(ours, ref, atol=1e-6)
    ours = craft("PGD-EOT", model, x, y, eps=0.3, settings=a, generator=g, seed=0)
    ref = torchattacks.EOTPGD(model, eps=0.3, alpha=2 / 255, steps=40, eot_iter=10, random_start=False)(x, y)
    assert torch.allclose(ours, ref, atol=1e-6)
