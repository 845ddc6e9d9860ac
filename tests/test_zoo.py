"""paperlib.zoo, the layer every paper shares: loading a trained network with its record,
accuracy with its interval (against statsmodels / scipy's closed forms), the attack registry
(against direct calls of paperlib.attacks, exact tensor equality) and worker state (2 processes
against 1). Tiny random-weight CPU models; nothing is trained."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy.stats import beta
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import DescrStatsW
from torch import nn

from paperlib.attacks import bim, fgsm, mim, nes, pgd, spsa
from paperlib.seeding import make_generator
from paperlib.zoo.accuracy import (accuracy_row, model_accuracy, pooled_accuracy, predictions,
                                   proportion_interval)
from paperlib.zoo.attack_names import ATTACK_KINDS, GRADIENT_ATTACKS, QUERY_ATTACKS, attack_kind
from paperlib.zoo.attacks import ATTACKS, AttackSettings, run_attack
from paperlib.zoo.store import build_model, load_trained
from paperlib.zoo.workers import init_worker_state, map_shared, worker_state
from tests.conftest import REPO

ARCH, WIDTH = "lenet5", 0.25


def _save(net: nn.Module, directory, history=None, info=None):
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), directory / "model.pt")
    if history is not None:
        (directory / "history.json").write_text(json.dumps(history))
    if info is not None:
        (directory / "train_info.json").write_text(json.dumps(info))


# ---------------------------------------------------------------- store


def test_load_trained_gives_the_saved_network_frozen_in_eval_mode_with_its_record(tmp_path):
    net = build_model(ARCH, 10, in_channels=1, width=WIDTH, seed=3)
    history = {"epoch": [1, 2], "val_acc": [0.5, 0.6], "seed": 3}
    _save(net, tmp_path / "m", history, {"profile": "smoke", "deviations": ["tiny"]})
    loaded = load_trained(tmp_path / "m", ARCH, 10, in_channels=1, width=WIDTH)
    assert loaded.history == history and loaded.train_info["deviations"] == ["tiny"]
    assert loaded.directory == tmp_path / "m"
    m = loaded.model
    assert not m.training and all(not mod.training for mod in m.modules())
    assert not any(p.requires_grad for p in m.parameters())
    ref = net.state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in m.state_dict().items())
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in m.parameters() if p.dim() == 4)
    # a different seed gives other weights, so equal outputs mean the weights were loaded
    other = build_model(ARCH, 10, in_channels=1, width=WIDTH, seed=4).eval()
    x = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = net.eval()(x)
        assert not torch.allclose(other(x), expected)
        torch.testing.assert_close(m(x), expected, rtol=1e-6, atol=1e-6)


def test_a_directory_without_history_loads_with_an_empty_record(tmp_path):
    _save(build_model(ARCH, 10, in_channels=1, width=WIDTH), tmp_path)
    loaded = load_trained(tmp_path, ARCH, 10, in_channels=1, width=WIDTH)
    assert loaded.history is None and loaded.train_info is None


def test_a_missing_model_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nowhere" / "model.pt")):
        load_trained(tmp_path / "nowhere", ARCH, 10, in_channels=1, width=WIDTH)


@pytest.mark.parametrize("arch, width", [("lenet5", 0.5), ("cw_mnist", 0.25)])
def test_weights_of_another_network_name_the_directory_and_the_architecture(tmp_path, arch, width):
    _save(build_model(ARCH, 10, in_channels=1, width=WIDTH), tmp_path / "run")
    with pytest.raises(ValueError, match=rf"{tmp_path / 'run'}.*does not fit architecture '{arch}' \(width {width:g}"):
        load_trained(tmp_path / "run", arch, 10, in_channels=1, width=width)


def test_build_model_passes_width_and_options():
    a = build_model("vgg11", 10, width=0.25, options={"dropout": 0.0}, device="meta")
    b = build_model("vgg11", 10, width=0.5, device="meta")
    assert sum(p.numel() for p in a.parameters()) < sum(p.numel() for p in b.parameters())
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("nonet", 10)


# ---------------------------------------------------------------- accuracy


class FixedLogits(nn.Module):
    """Predicts the class written in pixel (0, 0, 0) (as ``class / 10``), whatever the noise
    (a margin of 0.05 against Gaussian draws of sigma 1e-4)."""

    def forward(self, x):
        cls = (x[:, 0, 0, 0] * 10).round().long().clamp(0, 9)
        return 10 * nn.functional.one_hot(cls, 10).float()


def _encoded(pred: list[int]) -> torch.Tensor:
    x = torch.zeros(len(pred), 1, 4, 4)
    x[:, 0, 0, 0] = torch.tensor(pred, dtype=torch.float) / 10
    return x


def test_clean_accuracy_is_the_known_fraction_with_the_clopper_pearson_interval():
    pred = [i % 10 for i in range(20)]
    y = torch.tensor(pred)
    y[7:] = (y[7:] + 1) % 10  # the first 7 of 20 are right
    row, ok = model_accuracy(FixedLogits(), _encoded(pred), y, chunk=6)
    assert ok.tolist() == [True] * 7 + [False] * 13
    assert row["accuracy"] == 7 / 20 and row["correct"] == 7 and row["n"] == 20 and row["abstained"] == 0
    # closed form: [Beta(a/2; k, n-k+1), Beta(1-a/2; k+1, n-k)]
    assert row["ci_low"] == pytest.approx(beta.ppf(0.025, 7, 14), rel=1e-12)
    assert row["ci_high"] == pytest.approx(beta.ppf(0.975, 8, 13), rel=1e-12)
    assert (row["ci_low"], row["ci_high"]) == tuple(map(float, proportion_confint(7, 20, alpha=0.05, method="beta")))
    assert list(row) == ["accuracy", "ci_low", "ci_high", "correct", "n", "abstained"]


def test_uint8_images_are_scaled_like_float_ones():
    pred = [3, 1, 4, 1, 5]
    x = _encoded(pred)
    x8 = (x * 255).round().to(torch.uint8)
    assert predictions(FixedLogits(), x8).tolist() == pred


def test_smoothed_accuracy_counts_abstentions_as_errors():
    pred = [2] * 10
    y = torch.tensor([2] * 6 + [5] * 4)
    kw = dict(sigma=1e-4, generator=make_generator(0, "zoo-test"), num_classes=10)
    # 20 unanimous draws: two-sided binomial p = 2 * 0.5**20 < 0.001, so PREDICT answers 2.
    row, ok = model_accuracy(FixedLogits(), _encoded(pred), y, mc_draws=20, predict_alpha=0.001, **kw)
    assert row["accuracy"] == 0.6 and row["abstained"] == 0 and ok.sum() == 6
    # 5 unanimous draws: p = 2 * 0.5**5 = 0.0625 > 0.05, so PREDICT abstains on every image
    # (certainly, whatever the draws): no image is correct, even those whose label is 2.
    row, ok = model_accuracy(FixedLogits(), _encoded(pred), y, mc_draws=5, predict_alpha=0.05, **kw)
    assert row["accuracy"] == 0.0 and row["correct"] == 0 and row["abstained"] == 10 and not ok.any()
    assert row["ci_low"] == 0.0 and row["ci_high"] == pytest.approx(1 - 0.025 ** (1 / 10), rel=1e-12)
    with pytest.raises(ValueError, match="Generator"):
        predictions(FixedLogits(), _encoded(pred), sigma=0.25, mc_draws=5)


def test_accuracy_row_and_interval_refuse_impossible_input():
    with pytest.raises(ValueError, match="same shape"):
        accuracy_row(torch.tensor([1, 2]), torch.tensor([1]))
    with pytest.raises(ValueError, match="correct"):
        proportion_interval(5, 3)
    with pytest.raises(ValueError, match="alpha"):
        proportion_interval(1, 3, alpha=1.5)


def test_pooled_accuracy_is_a_t_interval_across_networks():
    accs = [0.71, 0.74, 0.69, 0.77]
    out = pooled_accuracy(accs)
    lo, hi = DescrStatsW(np.array(accs)).tconfint_mean(alpha=0.05)
    assert out["accuracy"] == pytest.approx(np.mean(accs)) and out["networks"] == 4
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((lo, hi), rel=1e-12)
    with pytest.raises(ValueError):
        pooled_accuracy([0.7])


# ---------------------------------------------------------------- attacks


@pytest.fixture(scope="module")
def victim():
    net = build_model(ARCH, 10, in_channels=1, width=WIDTH, seed=1).eval().requires_grad_(False)
    g = torch.Generator().manual_seed(2)
    x = torch.rand(4, 1, 28, 28, generator=g)
    with torch.no_grad():
        y = net(x).argmax(1)
    return net, x, y


def test_names_and_kinds_come_from_one_place():
    assert set(ATTACKS) == set(ATTACK_KINDS) == set(GRADIENT_ATTACKS) | set(QUERY_ATTACKS)
    assert {n: s.kind for n, s in ATTACKS.items()} == ATTACK_KINDS
    assert GRADIENT_ATTACKS == ("fgsm", "bim", "mim", "pgd") and QUERY_ATTACKS == ("nes", "spsa")
    from paperlib.config import sem
    assert sem.GRADIENT_ATTACKS is GRADIENT_ATTACKS


def test_params_validation_reads_the_names_without_torch():
    code = "import sys, paperlib.config.sem; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


@pytest.mark.parametrize("targeted", [False, True])
@pytest.mark.parametrize("name", GRADIENT_ATTACKS)
def test_gradient_dispatch_equals_the_direct_call(victim, name, targeted):
    net, x, y = victim
    y = (y + 1) % 10 if targeted else y
    settings = AttackSettings(iterations=3, norm="linf")
    ours = run_attack(name, net, x, y, eps=0.1, targeted=targeted, generator=make_generator(0, "a"),
                      settings=settings)
    direct = {"fgsm": lambda: fgsm(net, x, y, eps=0.1, targeted=targeted),
              "bim": lambda: bim(net, x, y, eps=0.1, steps=3, targeted=targeted),
              "mim": lambda: mim(net, x, y, eps=0.1, steps=3, targeted=targeted),
              "pgd": lambda: pgd(net, x, y, eps=0.1, steps=3, targeted=targeted, generator=make_generator(0, "a"))}
    assert torch.equal(ours, direct[name]())
    assert not torch.equal(ours, x)


def test_l2_settings_reach_the_attack(victim):
    net, x, y = victim
    ours = run_attack("pgd", net, x, y, eps=0.5, generator=make_generator(0, "b"),
                      settings=AttackSettings(iterations=2, norm="l2"))
    assert torch.equal(ours, pgd(net, x, y, eps=0.5, steps=2, norm="l2", generator=make_generator(0, "b")))
    assert float((ours - x).flatten(1).norm(dim=1).max()) <= 0.5 + 1e-5


@pytest.mark.parametrize("name, fn", [("nes", nes), ("spsa", spsa)])
def test_query_dispatch_equals_the_direct_call_on_a_probs_function(victim, name, fn):
    net, x, y = victim

    def probs(z):
        with torch.no_grad():
            return net(z).softmax(1)

    s = AttackSettings(max_queries=40, query_samples=10, query_sigma=1e-2, chunk=16)
    ours = run_attack(name, probs, x, y, eps=0.05, generator=make_generator(0, "q"), settings=s)
    direct = fn(probs, x, y, eps=0.05, max_queries=40, samples=10, sigma=1e-2, chunk=16,
                generator=make_generator(0, "q")).x_adv
    assert isinstance(ours, torch.Tensor) and torch.equal(ours, direct)
    assert not torch.equal(ours, x)


def test_unknown_attacks_are_refused_with_the_known_names(victim):
    net, x, y = victim
    with pytest.raises(ValueError, match=r"unknown attack 'cw'.*'pgd'.*'spsa'"):
        run_attack("cw", net, x, y, eps=0.1)
    with pytest.raises(ValueError, match="unknown attack"):
        attack_kind(None)


# ---------------------------------------------------------------- workers


def _state(seed: int) -> tuple[nn.Module, torch.Tensor]:
    net = build_model(ARCH, 10, in_channels=1, width=WIDTH, seed=seed).eval()
    return net, torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def _job(state, i: int) -> tuple[int, int]:
    net, x = state
    with torch.no_grad():
        cls = int(net(x[i:i + 1]).argmax())
    return cls, int(torch.randint(0, 1000, (1,), generator=make_generator(0, "job", i)))


def test_shared_state_gives_the_same_results_in_two_processes_as_in_one():
    jobs = [5, 0, 3, 1, 4, 2]
    one = map_shared(_job, jobs, _state, (7,), workers=1, log=None)
    two = map_shared(_job, jobs, _state, (7,), workers=2, log=None)
    assert one == two
    net, x = _state(7)
    assert [c for c, _ in one] == [int(net(x[i:i + 1]).argmax()) for i in jobs]


def test_worker_state_is_what_the_initializer_built():
    init_worker_state(dict, [("answer", 42)])
    assert worker_state() == {"answer": 42}
    from paperlib.zoo import workers
    workers._STATE.clear()
    with pytest.raises(RuntimeError, match="no worker state"):
        worker_state()
    with pytest.raises(ValueError, match="workers"):
        map_shared(_job, [0], _state, (7,), workers=0)
