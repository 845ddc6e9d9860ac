"""SEM reproduction code: params checks, Table 1 transcription and exclusion rule, curve
comparison statistics (against statsmodels), the curve builder on tiny models, claim wiring."""

from __future__ import annotations

from dataclasses import replace


import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from statsmodels.stats.weightstats import DescrStatsW

from paperlib.claims import load_claims
from paperlib.config import ParamsError, load_params
from paperlib.config.sem import AttackParams, BaselineParams, StrategyParams, ZooParams
from paperlib.config.schema import from_mapping
from paperlib.defenses import Member
from paperlib.metrics import broken_share, mean_asr, paired_difference, paired_mean_interval, window_broken_share
from paperlib.sem.collection import mark_exclusions, member_name, sem_member_keys, sigma_tag
from paperlib.sem.curves import (CurveJob, SemCurves, attack_settings, longest_first, make_judge, run_curve, run_curve_jobs,
                                 target_labels)
from paperlib.sem.table1 import paper_table1, table1_claims
from paperlib.sem.verdicts import (claim_window, comparison_pairs, evaluate_curve_claims, figure_claims,
                                   largest_budget)
from tests.conftest import REPO
from tests.test_config import _drop_clm_mnist

PROFILES = ("smoke", "default", "paper")


def raw(profile="default") -> dict:
    return yaml.safe_load((REPO / "profiles" / f"{profile}.yaml").read_text())


def error_for(tmp_path, mutate) -> str:
    data = raw()
    mutate(data)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ParamsError) as info:
        load_params(path)
    return str(info.value)


# ---------------------------------------------------------------- params


@pytest.mark.parametrize("mutate, key", [
    (lambda d: d["sem"]["zoo"]["models"].__setitem__("lenet9", {"width": 1.0}), "sem.zoo.models.lenet9"),
    (lambda d: d["sem"]["zoo"]["models"]["wrn"].__setitem__("extra_sigmas", [-1.0]), "sem.zoo.models.wrn.extra_sigmas[0]"),
    (lambda d: d["sem"]["baselines"].__setitem__("blackbox_sigma", 0.6), "sem.baselines.blackbox_sigma"),
    (lambda d: d["sem"]["baselines"].__setitem__("single", "vgg11"), "sem.baselines.single"),
    (lambda d: d["sem"]["figures"]["fig4"].__setitem__("curves", ["A", "Z"]), "sem.figures.fig4.curves[1]"),
    (lambda d: d["sem"]["figures"]["fig4"].__setitem__("attacks", ["nes"]), "sem.figures.fig4.curves[0]"),
    (lambda d: d["sem"]["attack"].__setitem__("alpha", 1.5), "sem.attack.alpha"),
    (lambda d: d["sem"].__setitem__("workers", 0), "sem.workers"),
    (lambda d: d["sem"]["strategy"].__setitem__("single_architecture_sigmas", [0.3]), "sem.strategy.single_architecture_sigmas"),
    (lambda d: d["sem"]["table1"].__setitem__("exclude_fraction", 1.0), "sem.table1.exclude_fraction"),
    (lambda d: d["sem"]["table1"].__setitem__("aca_method", "guess"), "sem.table1.aca_method"),
    (lambda d: d["sem"]["table1"].__setitem__("certify_alpha", 0.0), "sem.table1.certify_alpha"),
    (lambda d: d["sem"]["strategy"].__setitem__("hierarchy", "depth"), "sem.strategy.hierarchy"),
    (lambda d: d["sem"]["attack"].__setitem__("step_rule", "2eps/steps"), "sem.attack.step_rule"),
    (lambda d: d["sem"]["attack"].__setitem__("screen", "all"), "sem.attack.screen"),
    (lambda d: d["sem"]["attack"].__setitem__("query_repeats", 0), "sem.attack.query_repeats"),
    (lambda d: d["sem"]["attack"].__setitem__("mc_draws", 500), "sem.attack.mc_draws"),
    (lambda d: d["sem"]["attack"].__setitem__("strongest_eot_draws", 0), "sem.attack.strongest_eot_draws"),
    (lambda d: d["sem"]["zoo"]["train"].__setitem__("input_noise_sigma", 0.5), "sem.zoo.train"),
    (lambda d: d["sem"].__setitem__("dataset", "mnist") or d["data"].__setitem__("datasets", ["cifar10"])
     or _drop_clm_mnist(d["clm"]) or d["liang"]["ensembles"].pop("mnist"), "sem.dataset"),
    # CLM's and Liang & Samavi's MNIST experiments would be refused first
])
def test_bad_sem_params_name_their_key(tmp_path, mutate, key):
    assert f"{key}:" in error_for(tmp_path, mutate)


def test_every_profile_trains_the_baselines_and_the_single_architecture():
    for profile in PROFILES:
        sem = load_params(REPO / "profiles" / f"{profile}.yaml").sem
        for arch in sem.baselines.archs:
            assert {0.25 if profile != "smoke" else sem.baselines.sigma, sem.baselines.blackbox_sigma} <= set(sem.zoo.sigmas_of(arch))
        assert sem.strategy.single_architecture in sem.zoo.models
    paper = load_params(REPO / "profiles" / "paper.yaml").sem
    assert sorted(paper.zoo.models) == sorted(paper_table1().arch.unique())
    assert paper.zoo.sigmas == [0.25, 0.75, 1.5]
    assert paper.zoo.sigmas_of("wrn") == [0.12, 0.15, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5]
    a = paper.attack
    assert (a.search_steps, a.binary_steps, a.iterations, a.alpha, a.max_queries) == (10, 20, 20, 0.3, 5000)


# ---------------------------------------------------------------- Table 1


def test_table1_transcription():
    t = paper_table1()
    assert len(t) == 17 * 4 and t.arch.nunique() == 17
    cell = t.set_index(["arch", "sigma"]).paper
    assert cell[("densenet100", 0.0)] == 0.955 and cell[("densenet100", 0.25)] == 0.9403
    assert cell[("inceptionv3", 1.5)] == 0.8038  # from the preprint's Table I
    assert cell[("vgg13", 0.75)] == 0.10 and cell[("resnext", 0.0)] == 0.962
    claims = table1_claims()
    assert len(claims) == 68 and claims[("wrn", 0.75)].paper_value == 0.9023


def test_exclusion_rule_on_the_papers_numbers_reproduces_its_narrative():
    """Applied to the printed Table 1, the rule drops the near-chance cells and VGG11's 20.88 and
    VGG13's 65.67, keeps VGG13's 61.18, and sends AlexNet and VGG16 into SEM unsmoothed ("simple
    models, such as AlexNet and shallow VGG ... unsmoothed models were used")."""
    marked = mark_exclusions(paper_table1().rename(columns={"paper": "accuracy"}), 0.75)
    excluded = {(r.arch, r.sigma) for r in marked.itertuples() if r.excluded}
    assert excluded == {("vgg11", 0.25), ("vgg11", 1.5), ("vgg13", 0.25), ("vgg13", 0.75), ("vgg16", 0.25),
                        ("vgg16", 0.75), ("vgg16", 1.5), ("alexnet", 0.25), ("alexnet", 0.75), ("alexnet", 1.5)}
    keys = sem_member_keys(marked, [0.25, 0.75, 1.5])
    assert ("alexnet", 0.0) in keys and ("vgg16", 0.0) in keys
    assert [s for a, s in keys if a == "vgg11"] == [0.75] and [s for a, s in keys if a == "vgg13"] == [1.5]
    assert [s for a, s in keys if a == "densenet100"] == [0.25, 0.75, 1.5]
    assert len({a for a, _ in keys}) == 17


def test_exclusion_drops_an_architecture_whose_plain_model_fails_too():
    t = pd.DataFrame({"arch": ["a", "a", "b", "b", "c", "c"], "sigma": [0.0, 0.5] * 3,
                      "accuracy": [0.9, 0.8, 0.1, 0.1, 0.9, 0.85]})
    keys = sem_member_keys(mark_exclusions(t, 0.5), [0.5])
    assert keys == [("a", 0.5), ("c", 0.5)]
    assert sigma_tag(0) == "sigma_0" and sigma_tag(0.25) == "sigma_0.25" and member_name("wrn", 1.0) == "wrn@1"


# ---------------------------------------------------------------- curve comparison


def test_broken_share_closed_form():
    m = np.array([0.0, 0.25, 0.5, 2.0, np.inf])
    assert broken_share(m, 1.0).tolist() == [1.0, 0.75, 0.5, 0.0, 0.0]
    assert mean_asr(m, 1.0) == pytest.approx(2.25 / 5)
    with pytest.raises(ValueError):
        broken_share([np.nan], 1.0)
    # A window [a, b]: the share of (a, b) above m, clipped (closed form by hand).
    assert window_broken_share(m, 0.5, 1.0).tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]
    assert window_broken_share([0.75], 0.5, 1.0).tolist() == [0.5]
    assert window_broken_share(m, 0.0, 1.0).tolist() == broken_share(m, 1.0).tolist()
    with pytest.raises(ValueError, match="window"):
        window_broken_share(m, 1.0, 0.5)


def test_paired_difference_matches_statsmodels():
    rng = np.random.default_rng(0)
    a = rng.exponential(0.03, 40)
    b = np.where(rng.random(40) < 0.2, np.inf, rng.exponential(0.05, 40))
    est, lo, hi = paired_difference(a, b, 0.0314)
    d = broken_share(a, 0.0314) - broken_share(b, 0.0314)
    ref_lo, ref_hi = DescrStatsW(d).tconfint_mean(alpha=0.05)
    assert est == pytest.approx(d.mean()) and lo == pytest.approx(ref_lo) and hi == pytest.approx(ref_hi)
    assert paired_difference(a, a, 0.1) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="same images"):
        paired_difference(a, b[:-1], 0.1)
    assert paired_mean_interval([1.0, 1.0, 1.0]) == (1.0, 1.0, 1.0)


def _synthetic(curves: dict, n: int = 30, attack: str = "pgd", targeted: bool = False, correct=None) -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"curve": c, "attack": attack, "targeted": targeted, "index": range(n),
                                    "min_eps": m, "clean_correct": True if correct is None else correct})
                      for c, m in curves.items()], ignore_index=True)


def test_curve_claims_give_verdicts_on_synthetic_curves():
    cfg = from_mapping(AttackParams, raw()["sem"]["attack"], "sem.attack")
    rng = np.random.default_rng(0)
    n = 30
    a_eps = rng.uniform(0.0005, 0.002, n)  # A breaks every image at tiny budgets, F none
    tables = _synthetic({"A": a_eps, "F": np.full(n, np.inf)}, n)
    claims = load_claims("sem")
    rows = evaluate_curve_claims([claims["conclusion_small_distortion_untargeted"], claims["fig4_attacker_b_weakest"]],
                                 tables, cfg, profile="smoke", deviations="", source="")
    assert [r["level"] for r in rows] == ["row", "claim"]  # B was not measured: skipped
    row, combined = rows
    assert row["claim_id"] == "conclusion_small_distortion_untargeted@A@pgd:untargeted-vs-F@pgd:untargeted"
    assert row["ours"] == pytest.approx(np.mean(1 - a_eps / (8 / 255)))  # window [0, 8/255] from the claims file
    assert row["verdict"] == "does not hold" and combined["verdict"] == "does not hold"
    assert combined["claim_id"] == "conclusion_small_distortion_untargeted" and "all of 1 rows" in combined["combine"]
    swapped = tables.assign(curve=tables.curve.map({"A": "F", "F": "A"}))
    rows = evaluate_curve_claims([claims["conclusion_small_distortion_untargeted"]], swapped, cfg,
                                 profile="smoke", deviations="", source="")
    assert rows[-1]["verdict"] == "holds"


def test_curve_claims_use_only_images_both_defenses_classify_correctly():
    """A clean error is not an attack success: images misclassified by either defense drop out."""
    cfg = from_mapping(AttackParams, raw()["sem"]["attack"], "sem.attack")
    n = 20
    correct = np.arange(n) >= 5
    a_eps = np.where(correct, 0.004, 0.0)  # five clean errors (budget 0) on A
    tables = pd.concat([_synthetic({"A": a_eps}, n, correct=correct),
                        _synthetic({"F": np.full(n, 0.01)}, n)], ignore_index=True)
    claim = load_claims("sem")["conclusion_small_distortion_untargeted"]
    row = evaluate_curve_claims([claim], tables, cfg, profile="smoke", deviations="", source="")[0]
    small = 8 / 255
    assert row["n"] == 15 and row["ours"] == pytest.approx((1 - 0.004 / small) - (1 - 0.01 / small))
    # Zero spread (every image the same difference) is a point interval: inconclusive, never "holds".
    assert row["ci_low"] == row["ci_high"] and row["verdict"] == "inconclusive"


def test_combined_verdict_all_rows_and_bonferroni_refutation():
    """'all': holds only when every attack holds; one attack refutes only at the adjusted level."""
    cfg = from_mapping(AttackParams, raw()["sem"]["attack"], "sem.attack")
    rng = np.random.default_rng(1)
    n = 40
    claim = load_claims("sem")["fig4_ensemble_worse_than_single"]  # H above I, every attack
    h_strong = rng.uniform(0.001, 0.01, n)
    tables = pd.concat([_synthetic({"H": h_strong, "I": np.full(n, np.inf)}, n, attack=a) for a in ("bim", "mim", "pgd")]
                       + [], ignore_index=True)
    rows = evaluate_curve_claims([claim], tables, cfg, profile="smoke", deviations="", source="")
    assert len(rows) == 4 and rows[-1]["verdict"] == "holds"
    # Make PGD's row refute: H never broken, I always.
    pgd = (tables.attack == "pgd")
    tables.loc[pgd & (tables.curve == "H"), "min_eps"] = np.inf
    tables.loc[pgd & (tables.curve == "I"), "min_eps"] = rng.uniform(0.001, 0.01, n)
    rows = evaluate_curve_claims([claim], tables, cfg, profile="smoke", deviations="", source="")
    assert rows[-1]["verdict"] == "does not hold" and "pgd" in rows[-1]["combine"]
    # The adjusted interval (3 rows: 98.33%) is wider than the 95% one.
    r = rows[0]
    assert r["adj_low"] < r["ci_low"] and r["adj_high"] > r["ci_high"]


def test_pinned_comparisons_and_window_beyond_the_search():
    cfg = from_mapping(AttackParams, raw()["sem"]["attack"], "sem.attack")
    n = 10
    tables = pd.concat([_synthetic({"D": np.full(n, 0.02), "C": np.full(n, 0.02)}, n, attack=a) for a in ("bim", "mim", "pgd")],
                       ignore_index=True)
    claim = load_claims("sem")["fig4_transfer_algorithms_help_d"]
    rows = evaluate_curve_claims([claim], tables, cfg, profile="smoke", deviations="", source="")
    assert [r["claim_id"].split("@", 1)[1] for r in rows[:-1]] == [
        "D@mim:untargeted-vs-D@bim:untargeted", "D@pgd:untargeted-vs-D@bim:untargeted"]
    short = replace(cfg, search_steps=2)  # 2/255 and 4/255 only: the 32/255 window is not measured
    with pytest.raises(ValueError, match="search_steps"):
        evaluate_curve_claims([claim], tables, short, profile="smoke", deviations="", source="")


def test_every_figure_claim_names_curves_its_figure_draws():
    claims = load_claims("sem")
    for profile in PROFILES:
        params = load_params(REPO / "profiles" / f"{profile}.yaml").sem
        figures = params.figures
        for claim in claims.values():
            if "figure" not in claim.test:
                continue
            fig = figures[claim.test["figure"]]
            for left, right in comparison_pairs(claim):
                assert {left.curve, right.curve} <= set(fig.curves), (profile, claim.claim_id)
                for ref in (left, right):
                    assert ref.attack is None or ref.attack in fig.attacks or profile == "smoke", (profile, claim.claim_id)
            targeted = claim.test.get("targeted", False)
            for t in (targeted if isinstance(targeted, list) else [targeted]):
                assert t in fig.targeted, (profile, claim.claim_id)
            low, high = claim_window(claim)
            assert high <= largest_budget(params.attack) * (1 + 1e-9), (profile, claim.claim_id)
    for name in ("fig3", "fig4", "fig5", "fig6", "fig7", "fig8"):
        assert figure_claims(claims, name), name


# ---------------------------------------------------------------- curves on tiny models


class Tiny(torch.nn.Module):
    """A 3-channel 8x8 linear classifier with fixed weights (fast, deterministic)."""

    def __init__(self, seed):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = torch.nn.Parameter(torch.randn(10, 3 * 8 * 8, generator=g) * 0.3, requires_grad=False)

    def forward(self, x):
        return x.flatten(1) @ self.w.T


def tiny_members():
    members = {}
    for i, arch in enumerate(["alexnet", "vgg11", "vgg13", "resnet18"]):
        for sigma in (0.0, 0.25, 1.0):
            members[(arch, sigma)] = Member(member_name(arch, sigma), arch, sigma, Tiny(10 * i + int(sigma * 4)))
    return members


def tiny_curves():
    d = raw("smoke")["sem"]
    strategy = from_mapping(StrategyParams, {**d["strategy"], "single_architecture": "alexnet", "single_architecture_sigmas": [0.25, 1.0], "quantities_high": [3, 4, 5]}, "s")
    baselines = from_mapping(BaselineParams, {**d["baselines"], "archs": ["densenet100", "resnet50"], "single": "densenet100",
                                              "sigma": 0.25, "blackbox_sigma": 1.0}, "b")
    attack = from_mapping(AttackParams, d["attack"], "a")
    members = tiny_members()
    members.update({("densenet100", s): Member(member_name("densenet100", s), "densenet100", s, members[("alexnet", s)].model)
                    for s in (0.0, 0.25, 1.0)})
    members.update({("resnet50", s): Member(member_name("resnet50", s), "resnet50", s, members[("vgg11", s)].model)
                    for s in (0.0, 0.25, 1.0)})
    sem_keys = [(a, 0.25) for a in ("alexnet", "vgg11", "vgg13", "resnet18")] + [("resnet18", 1.0)]
    return SemCurves(strategy, baselines, attack, members, sem_keys, seed=0), attack


def test_sem_curves_build_every_curve_and_note_reduced_quantities():
    curves, _ = tiny_curves()
    assert any("quantity_high" in n and "[3, 4]" in n for n in curves.notes)
    for name in ("A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "sem", "quantity_low",
                 "quantity_high", "single_architecture", "ensemble_smoothed"):
        setup = curves.setup(name)
        assert setup.query_based == (name in ("E", "J", "K", "L", "M"))
    known_archs = {m.arch for m in curves.sem.members if m.name in curves.known}
    assert len(known_archs) == 2  # attackers C and D know half of the four architectures
    with pytest.raises(ValueError, match="unavailable"):
        curves.setup("rse")


def test_strongest_attacker_is_eot_over_the_whole_distribution_with_per_image_draws():
    """Beyond the paper: the strongest curve judges SEM itself and attacks an EOT view of k fresh
    draws of the whole distribution; different images in one batch get different attribute sets."""
    from paperlib.attacks.eot import ExpectationView
    curves, attack = tiny_curves()
    setup = curves.setup("strongest")
    assert setup.judged is curves.sem and not setup.query_based
    view = setup.attacker(torch.Generator().manual_seed(0))
    assert isinstance(view, ExpectationView) and view.defense is curves.sem and view.k == attack.strongest_eot_draws
    rows = curves.sem.membership(64, torch.Generator().manual_seed(3))
    assert len({tuple(r.tolist()) for r in rows}) > 1  # per-row (per-image) draws, not one per batch


def test_query_attack_settings_follow_the_judge():
    cfg = from_mapping(AttackParams, raw()["sem"]["attack"], "sem.attack")
    s = attack_settings(cfg, stochastic=True)
    assert (s.query_stop_draws, s.query_stop_alpha, s.query_repeats) == (cfg.mc_draws, cfg.alpha, cfg.query_repeats)
    assert s.step_rule == "1.5eps/steps" and s.query_early_stop
    d = attack_settings(cfg, stochastic=False)
    assert (d.query_stop_draws, d.query_repeats) == (1, 1)


def test_run_curve_is_reproducible_and_judges_with_eq6():
    curves, attack = tiny_curves()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 3, 8, 8, generator=g)
    y = torch.randint(0, 10, (6,), generator=g)
    r1 = run_curve(curves.setup("A"), "pgd", x, y, attack, targeted=False, seed=0, stream=("t",))
    r2 = run_curve(curves.setup("A"), "pgd", x, y, attack, targeted=False, seed=0, stream=("t",))
    pd.testing.assert_frame_equal(r1.table, r2.table)
    assert set(r1.table.columns) >= {"min_eps", "success", "attack_calls"}
    yt = target_labels(y, 10, torch.Generator().manual_seed(1))
    assert bool((yt != y).all())
    r3 = run_curve(curves.setup("E"), "nes", x, yt, attack, targeted=True, seed=0, y_true=y)
    assert len(r3.table) == 6
    # clean_correct: untargeted, the search's own clean judgement; targeted, the N-draw rule on the true label.
    assert r1.table.clean_correct.tolist() == (~r1.table.clean_success).tolist()
    plain_i = curves.setup("I")
    r4 = run_curve(plain_i, "pgd", x, yt, attack, targeted=True, seed=0, y_true=y)
    assert r4.table.clean_correct.tolist() == (plain_i.judged(x).argmax(1) == y).tolist()
    with pytest.raises(ValueError, match="y_true"):
        run_curve(curves.setup("E"), "nes", x, yt, attack, targeted=True, seed=0)
    with pytest.raises(ValueError, match="does not fit"):
        run_curve(curves.setup("E"), "pgd", x, y, attack, targeted=False, seed=0)
    # A deterministic model is judged by one prediction: success iff the prediction is not y.
    plain = curves.setup("I").judged
    judge = make_judge(plain, attack, False, torch.Generator())
    assert judge(x, y).tolist() == (plain(x).argmax(1) != y).tolist()


def test_curve_jobs_do_not_depend_on_their_order_or_on_sharing_one_loaded_collection():
    """Each search seeds its own streams from its name, so a worker may run any job in any order
    with the same result (what lets paperlib.parallel share a figure among processes)."""
    curves, _ = tiny_curves()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 3, 8, 8, generator=g)
    y = torch.randint(0, 10, (6,), generator=g)
    yt = target_labels(y, 10, torch.Generator().manual_seed(1))
    jobs = [CurveJob("A", "pgd", False), CurveJob("F", "bim", True), CurveJob("B", "mim", False),
            CurveJob("E", "nes", False), CurveJob("D", "pgd", True)]
    forward = run_curve_jobs(jobs, {}, x, y, yt, seed=0, stream=("t",), curves=curves)
    backward = run_curve_jobs(jobs[::-1], {}, x, y, yt, seed=0, stream=("t",), curves=tiny_curves()[0])[::-1]
    for (a, _), (b, _) in zip(forward, backward):
        pd.testing.assert_frame_equal(a.table, b.table)
    alone = run_curve(curves.setup("F"), "bim", x, yt, curves.attack, targeted=True, seed=0, stream=("t",), y_true=y)
    pd.testing.assert_frame_equal(forward[1][0].table, alone.table)
    assert [str(j) for j in longest_first(jobs)][:2] == ["targeted pgd D", "targeted bim F"]
    assert str(longest_first([CurveJob("A", "pgd", False), CurveJob("strongest", "pgd", False)])[0]) == "untargeted pgd strongest"


# ---------------------------------------------------------------- loading the collection (zoo layer)


def test_members_and_baselines_load_through_the_zoo_layer(tmp_path):
    """SEM's layout on top of paperlib.zoo.store: a member is ``<root>/<arch>/sigma_<s>``, the
    baselines ``rse/<arch>`` and ``adp``; each comes back frozen, in eval mode, with the saved
    weights; a member saved at another width names its directory."""
    from paperlib.config.sem import ZooModel
    from paperlib.sem.collection import build_zoo_model, load_baselines, load_member, member_dir, rse_network

    zoo = {"lenet5": ZooModel(width=0.25), "cw_mnist": ZooModel(width=0.25)}
    d = raw("smoke")["sem"]["baselines"]
    baselines = from_mapping(BaselineParams, {**d, "archs": ["lenet5", "cw_mnist"], "single": "lenet5"}, "b")
    net = build_zoo_model("lenet5", zoo["lenet5"], 10, 1, seed=5)
    member_dir(tmp_path, "lenet5", 0.25).mkdir(parents=True)
    torch.save(net.state_dict(), member_dir(tmp_path, "lenet5", 0.25) / "model.pt")
    m = load_member(tmp_path, "lenet5", 0.25, zoo["lenet5"], 10, 1)
    assert (m.name, m.arch, m.sigma) == ("lenet5@0.25", "lenet5", 0.25)
    assert not m.model.training and not any(p.requires_grad for p in m.model.parameters())
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in m.model.state_dict().items())
    assert m.noise_std is None and m.family == "lenet"
    # SEM's sigmas in normalized units: the member adds sigma x the normalization's std per channel.
    from paperlib.models.normalization import MNIST_STD
    from paperlib.sem.training import zoo_jobs
    n = load_member(tmp_path, "lenet5", 0.25, zoo["lenet5"], 10, 1, noise_space="normalized")
    assert n.sigma == 0.25 and n.noise_std == pytest.approx((0.25 * MNIST_STD[0],))
    x = torch.rand(2, 1, 28, 28)
    from paperlib.defenses import SmoothedEnsemble
    out = SmoothedEnsemble([n]).sample(x, torch.Generator().manual_seed(0))
    ref = net.eval()(x + 0.25 * MNIST_STD[0] * torch.randn(x.shape, generator=torch.Generator().manual_seed(0)))
    assert torch.allclose(out, ref, atol=1e-5)
    zoo_params = from_mapping(ZooParams, {**raw("smoke")["sem"]["zoo"], "models": {"lenet5": {"width": 0.25}}}, "z")
    fine = zoo_jobs(zoo_params, 100, tmp_path / "j")[0].runs[1]
    assert fine.config["input_noise_space"] == zoo_params.noise_space == "normalized"
    with pytest.raises(ValueError, match=r"sigma_0\.25.*'lenet5' \(width 0\.5"):
        load_member(tmp_path, "lenet5", 0.25, ZooModel(width=0.5), 10, 1)
    with pytest.raises(FileNotFoundError, match=r"sigma_1[/\\]model\.pt"):
        load_member(tmp_path, "lenet5", 1.0, zoo["lenet5"], 10, 1)

    rse = {a: rse_network(a, zoo[a], baselines, 10, 1, seed=0, base=build_zoo_model(a, zoo[a], 10, 1, seed=9))
           for a in baselines.archs}
    adp = torch.nn.ModuleList([build_zoo_model(a, zoo[a], 10, 1, seed=11) for a in baselines.archs])
    for a, r in rse.items():
        (tmp_path / "b" / "rse" / a).mkdir(parents=True)
        torch.save(r.state_dict(), tmp_path / "b" / "rse" / a / "model.pt")
    (tmp_path / "b" / "adp").mkdir(parents=True)
    torch.save(adp.state_dict(), tmp_path / "b" / "adp" / "model.pt")
    rse_models, adp_models = load_baselines(tmp_path / "b", zoo, baselines, 10, 1, seed=0)
    for loaded, saved in zip(rse_models + adp_models, list(rse.values()) + list(adp)):
        assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
        assert all(torch.equal(v, saved.state_dict()[k]) for k, v in loaded.state_dict().items())
    (tmp_path / "b" / "rse" / "cw_mnist" / "model.pt").replace(tmp_path / "b" / "rse" / "lenet5" / "model.pt")
    with pytest.raises(ValueError, match=r"rse[/\\]lenet5.*RSE's noisy architecture 'lenet5'"):
        load_baselines(tmp_path / "b", zoo, baselines, 10, 1, seed=0, adp=False)


def test_member_accuracy_keeps_table1s_columns():
    from paperlib.sem.table1 import member_accuracy

    model = Tiny(0)
    x = torch.rand(8, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    y = model(x).argmax(1)
    y[:3] = (y[:3] + 1) % 10
    row, ok = member_accuracy(Member("t@0", "t", 0.0, model), x, y, mc_draws=10, alpha=0.001, chunk=4,
                              generator=torch.Generator().manual_seed(0))
    assert list(row) == ["arch", "sigma", "accuracy", "ci_low", "ci_high", "correct", "n", "abstained"]
    assert (row["arch"], row["sigma"], row["accuracy"], row["correct"]) == ("t", 0.0, 5 / 8, 5)
    assert ok.tolist() == [False] * 3 + [True] * 5


def test_attack_images_are_those_sem_classifies_correctly_and_class_balanced():
    from paperlib.data import class_balanced_subset
    from paperlib.sem.curves import attack_images
    curves, attack = tiny_curves()
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(400, 3, 8, 8, generator=g) * 255).to(torch.uint8)
    # Labels = SEM's own majority class over many draws for half the pool; random for the rest.
    from paperlib.metrics import monte_carlo_counts, top_class
    guess = top_class(monte_carlo_counts(curves.sem, x.float() / 255, 64, torch.Generator().manual_seed(5)))
    y = torch.where(torch.arange(400) % 2 == 0, guess, torch.randint(0, 10, (400,), generator=g))
    idx = attack_images(curves.sem, x, y, 20, attack, screen="sem", generator=torch.Generator().manual_seed(1))
    again = attack_images(curves.sem, x, y, 20, attack, screen="sem", generator=torch.Generator().manual_seed(1))
    assert idx.tolist() == again.tolist() and len(set(idx.tolist())) == 20
    # The same stream replayed: the candidates, then the judge's N-draw rule on them.
    g = torch.Generator().manual_seed(1)
    cand = class_balanced_subset(y, 160, g)
    ok = ~make_judge(curves.sem, attack, False, g)(x[cand].float() / 255, y[cand])
    assert set(idx.tolist()) <= set(cand[ok].tolist())
    # A deterministic defense: every screened image is classified correctly, exactly.
    plain_model = curves.setup("I").judged
    with torch.no_grad():
        pred = plain_model(x.float() / 255).argmax(1)
    y_half = torch.where(torch.arange(400) % 2 == 0, pred, (pred + 1) % 10)
    chosen = attack_images(plain_model, x, y_half, 20, attack, screen="sem", generator=torch.Generator().manual_seed(3))
    assert bool((chosen % 2 == 0).all()) and len(chosen) == 20 and bool((pred[chosen] == y_half[chosen]).all())
    plain = attack_images(curves.sem, x, y, 20, attack, screen="none", generator=torch.Generator().manual_seed(1))
    assert plain.tolist() == class_balanced_subset(y, 20, torch.Generator().manual_seed(1)).tolist()
    with pytest.raises(ValueError, match="test_subset"):
        attack_images(curves.sem, x[:30], y[:30], 30, attack, screen="sem", generator=torch.Generator().manual_seed(1))
    # Rounds: with one candidate per image per round it keeps judging until it has 20.
    more = attack_images(plain_model, x, y_half, 20, attack, screen="sem", generator=torch.Generator().manual_seed(3),
                         candidates_per_image=1)
    assert len(set(more.tolist())) == 20 and bool((pred[more] == y_half[more]).all())
    with pytest.raises(ValueError, match="screen"):
        attack_images(curves.sem, x, y, 20, attack, screen="all", generator=torch.Generator().manual_seed(1))
