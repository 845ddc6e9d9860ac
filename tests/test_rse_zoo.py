"""RSE's zoo (Liu et al. 2018, Table 1): the ``rse`` params section's refusals, the BReLU option of
the networks, defensive distillation's student (a closed-form SGD step on the teacher's soft labels),
FGSM retraining's random budget (scipy), the zoo's determinism and Figure 2's noise views. Each
checked against something independent of the code under test: hand computations, closed forms,
scipy's tests, the files on disk. Toy sizes (random 32x32 images, networks at width 1/16)."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from pathlib import Path

import pytest
import torch
import yaml
from scipy import stats
from torch import nn

from paperlib.config import ParamsError, load_params
from paperlib.config.rse import RseParams
from paperlib.config.schema import from_mapping
from paperlib.models import build
from paperlib.models._layers import BReLU
from paperlib.models.noise import noise_layers, set_noise_enabled
from paperlib.rse.zoo import (PGDLinf, UniformFGSM, deviations, has_noise, load_rse_zoo, network_specs,
                              train_rse_zoo, zoo_jobs)
from paperlib.seeding import derive_seed, make_generator
from paperlib.data import class_balanced_subset
from paperlib.defenses import RSEEnsemble
from paperlib.train import TrainConfig, train
from paperlib.train.checkpoint import load_checkpoint
from paperlib.zoo.training import NetworkJob, Run, estimated_cost, train_networks
from tests.conftest import REPO

SETTING = "cifar10_vgg16"
TOY_TRAIN = {"epochs": 1, "batch_size": 20, "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.0005,
             "schedule": "cosine", "milestones": [], "gamma": 0.1, "warmup_fraction": 0.15, "ema_decay": 0.0,
             "decay_norm_and_bias": True, "augment": True, "precision": "fp32", "channels_last": False,
             "checkpoint_every": 0}


def raw_default() -> dict:
    return yaml.safe_load((REPO / "profiles" / "default.yaml").read_text())


def toy_section(**setting_changes) -> RseParams:
    """The default profile's ``rse`` section at toy size (40 training, 20 test images, width 1/16)."""
    raw = raw_default()["rse"]
    raw["workers"] = 1
    for s in raw["settings"].values():
        s.update(width=0.0625, train_images=40, test_images=20, train=dict(TOY_TRAIN), retrain=dict(TOY_TRAIN))
        s["rse"]["ensemble"] = 3
    raw["settings"][SETTING].update(setting_changes)
    return from_mapping(RseParams, raw, "rse")


def toy_images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8), torch.arange(n) % 10


TRAIN = toy_images(100, 0)
TEST = toy_images(50, 1)


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def zoo_dirs(tmp_path_factory):
    """The toy VGG16 zoo trained twice, in two fresh directories: ``(section, [dir_a, dir_b], [records])``."""
    section = toy_section()
    dirs, records = [], []
    for name in ("a", "b"):
        out = tmp_path_factory.mktemp(f"rse_zoo_{name}")
        records.append(train_rse_zoo(section, SETTING, *TRAIN, *TEST, out_dir=out, seed=0, workers=1))
        dirs.append(out)
    return section, dirs, records


# ------------------------------------------------------------------ params: refusals name the key


def _error(tmp_path, mutate) -> str:
    raw = raw_default()
    mutate(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError) as info:
        load_params(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    return message


@pytest.mark.parametrize("mutate, key, words", [
    (lambda r: r["rse"]["settings"]["cifar10_vgg16"]["rse"].update(noise_init=-0.2),
     "rse.settings.cifar10_vgg16.rse.noise_init", "must be >= 0"),
    (lambda r: r["rse"]["settings"]["cifar10_resnext"]["rse"].update(noise_inner=-0.1),
     "rse.settings.cifar10_resnext.rse.noise_inner", "must be >= 0"),
    (lambda r: r["rse"]["settings"]["cifar10_vgg16"]["noise_levels"].append([0.3, -0.01]),
     "rse.settings.cifar10_vgg16.noise_levels[4]", "must be >= 0"),
    (lambda r: r["rse"]["defenses"]["robust_opt_brelu"].update(sigma=-0.05),
     "rse.defenses.robust_opt_brelu.sigma", "must be >= 0"),
    (lambda r: r["rse"]["settings"]["cifar10_vgg16"]["rse"].update(ensemble=0),
     "rse.settings.cifar10_vgg16.rse.ensemble", "at least 1"),
    (lambda r: r["rse"]["settings"]["cifar10_vgg16"]["defenses"].append("feature_squeezing"),
     "rse.settings.cifar10_vgg16.defenses[6]", "unknown defense 'feature_squeezing'"),
    (lambda r: r["rse"]["defenses"].update(thermometer={"levels": 16}),
     "rse.defenses.thermometer", "unknown key"),
    (lambda r: r["rse"]["defenses"]["adv_fgsm"].update(eps_low=0.3, eps_high=0.1),
     "rse.defenses.adv_fgsm.eps_low", "eps_low 0.3 > eps_high 0.1"),
    (lambda r: r["rse"]["settings"].pop("stl10_model_a"),
     "rse.settings.stl10_model_a", "missing setting"),
    (lambda r: r["rse"]["settings"].update(mnist_lenet=copy.deepcopy(r["rse"]["settings"]["cifar10_vgg16"])),
     "rse.settings.mnist_lenet", "unknown setting"),
    (lambda r: r["rse"]["settings"]["stl10_model_a"].update(enabled=True),
     "rse.settings.stl10_model_a.dataset", "'stl10' is not prepared by data.datasets"),
    (lambda r: r["rse"]["settings"]["cifar10_vgg16"].update(arch="vgg16"),
     "rse.settings.cifar10_vgg16.arch", "network with noise layers"),
    (lambda r: r["rse"]["settings"]["cifar10_vgg16"]["train"].update(temperature=40.0),
     "rse.settings.cifar10_vgg16.train.temperature", "set by the defenses"),
    (lambda r: r["rse"]["settings"]["cifar10_vgg16"]["options"].update(activation="brelu"),
     "rse.settings.cifar10_vgg16.options.activation", "set by the defenses"),
    (lambda r: r["rse"].update(workers=0), "rse.workers", "must be >= 1"),
])
def test_bad_rse_params_name_their_key(tmp_path, mutate, key, words):
    message = _error(tmp_path, mutate)
    assert key in message and words in message, message


def test_every_profile_defines_table1_settings():
    for name in ("smoke", "default", "paper"):
        rse = load_params(REPO / "profiles" / f"{name}.yaml").rse
        assert sorted(rse.settings) == ["cifar10_resnext", "cifar10_vgg16", "stl10_model_a"]
        assert rse.settings["stl10_model_a"].enabled == (name == "paper")
    paper = load_params(REPO / "profiles" / "paper.yaml").rse
    # Table 1 exactly (claims/rse.yaml settings.table1 carries the printed numbers)
    table1 = yaml.safe_load((REPO / "claims" / "rse.yaml").read_text())["settings"]
    for setting, (init, inner, n) in table1["table1"]["rse"]["values"].items():
        s = paper.settings[setting]
        assert (s.rse.noise_init, s.rse.noise_inner, s.rse.ensemble) == (init, inner, n)
    assert paper.defenses.distill.temperature == table1["table1"]["distill"]["temperature"]
    d = paper.defenses
    assert [d.adv_fgsm.eps_low, d.adv_fgsm.eps_high] == table1["table1"]["adv_retraining"]["eps_uniform"]
    assert d.adv_fgsm.probability == table1["text"]["adv_retraining_adversarial_batch_probability"]["value"]
    assert d.madry.eps == 8.0 / 256
    assert d.robust_opt_brelu.sigma == table1["text"]["brelu_training_gaussian_sigma"]["value"]
    assert paper.settings[SETTING].noise_levels == table1["text"]["fig3_noise_levels"]["values"]
    # at the paper's scale the only deviations left are the readings of the text every profile shares
    left = [line for line in deviations(paper, SETTING) if not line.startswith("readings:")]
    assert left == [line for line in left if "FGSM retraining 100 epochs after pre-training" in line], left


def test_zoo_refuses_bad_input_before_any_work(tmp_path):
    section = toy_section()
    with pytest.raises(ParamsError, match=r"rse.settings.stl10_model_a.enabled: the setting is disabled"):
        train_rse_zoo(section, "stl10_model_a", *TRAIN, *TEST, out_dir=tmp_path / "z", seed=0)
    with pytest.raises(ParamsError, match=r"rse.settings.imagenet_vgg16: no such setting"):
        train_rse_zoo(section, "imagenet_vgg16", *TRAIN, *TEST, out_dir=tmp_path / "z", seed=0)
    x, y = TRAIN
    with pytest.raises(ValueError, match=r"rse.settings.cifar10_vgg16: training images must be uint8 \[N, 3, 32, 32\]"):
        train_rse_zoo(section, SETTING, x[:, :, :28, :28], y, *TEST, out_dir=tmp_path / "z", seed=0)
    assert not (tmp_path / "z").exists()


# ------------------------------------------------------------------ BReLU


def test_brelu_is_min_max_with_its_gradient():
    x = torch.linspace(-3, 3, 601, dtype=torch.float64).requires_grad_(True)
    y = BReLU(1.0)(x)
    torch.testing.assert_close(y, torch.minimum(torch.maximum(x, torch.zeros_like(x)), torch.ones_like(x)))
    y.sum().backward()
    inside = (x > 0) & (x < 1)
    assert torch.all(x.grad[inside] == 1) and torch.all(x.grad[(x < 0) | (x > 1)] == 0)
    with pytest.raises(ValueError, match="brelu_threshold"):
        BReLU(0.0)


BRELU_ARCHS = [("vgg16", 32), ("resnext", 32), ("rse_vgg16", 32), ("rse_resnext", 32), ("stl10_model_a", 96)]


@pytest.mark.parametrize("arch, size", BRELU_ARCHS)
def test_brelu_option_bounds_every_activation_and_changes_nothing_else(arch, size):
    quiet = {"noise_init": 0.0, "noise_inner": 0.0} if arch.startswith(("rse", "stl")) else {}
    relu = build(arch, 10, width=0.0625, seed=5, **quiet).eval()
    brelu = build(arch, 10, width=0.0625, seed=5, activation="brelu", brelu_threshold=1.0, **quiet).eval()
    loose = build(arch, 10, width=0.0625, seed=5, activation="brelu", brelu_threshold=1e9, **quiet).eval()
    # same parameters, same values: the option touches activations only
    assert relu.state_dict().keys() == brelu.state_dict().keys()
    assert all(torch.equal(v, brelu.state_dict()[k]) for k, v in relu.state_dict().items())
    assert not any(isinstance(m, nn.ReLU) for m in brelu.modules())
    seen, inputs = [], []   # BReLU works in place (as ReLU did): read its input before it runs
    bounded = [m for m in brelu.modules() if isinstance(m, BReLU)]
    hooks = [m.register_forward_pre_hook(lambda m, i: inputs.append(float(i[0].max()))) for m in bounded]
    hooks += [m.register_forward_hook(lambda m, i, o: seen.append(o.detach().clone())) for m in bounded]
    x = torch.rand(4, 3, size, size, generator=torch.Generator().manual_seed(0)) * 4
    with torch.no_grad():
        out_brelu, out_relu, out_loose = brelu(x), relu(x), loose(x)
    for h in hooks:
        h.remove()
    assert seen and all(o.min() >= 0 and o.max() <= 1.0 for o in seen)
    assert max(inputs) > 1.0          # the bound was reached: it mattered
    assert not torch.allclose(out_brelu, out_relu)
    # an unreachable bound is a ReLU: every ReLU of the network was replaced, nothing else was
    torch.testing.assert_close(out_loose, out_relu, rtol=0, atol=0)


@pytest.mark.parametrize("arch, size", BRELU_ARCHS)
def test_default_networks_are_the_relu_networks(arch, size):
    default = build(arch, 10, width=0.0625, seed=2).eval()
    explicit = build(arch, 10, width=0.0625, seed=2, activation="relu").eval()
    assert str(default) == str(explicit) and not any(isinstance(m, BReLU) for m in default.modules())
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(default(x), explicit(x))
    with pytest.raises(ValueError, match="activation must be one of"):
        build(arch, 10, width=0.0625, activation="gelu")


# ------------------------------------------------------------------ distillation: a closed-form step


def test_distilled_student_takes_one_sgd_step_on_the_teachers_soft_labels_at_t(tmp_path):
    """One full-batch SGD step (no momentum, no decay, no augmentation): the student's classifier
    bias moves by ``-lr * (s / T) * mean_i (softmax(z_i / T) - q_i)`` with ``z = s * g`` its
    logits and ``q_i = softmax(z_teacher_i / T)`` (computed here by hand, float64, from the
    teacher's file). Hard labels or soft labels at T = 1 predict another step."""
    step = {**TOY_TRAIN, "batch_size": 40, "lr": 0.5, "momentum": 0.0, "nesterov": False, "weight_decay": 0.0,
            "schedule": "constant", "augment": False}
    section = toy_section(defenses=["distill"], noise_levels=[], train=step)
    t, s = section.defenses.distill.temperature, section.defenses.distill.logit_scale
    assert (t, s) == (40.0, 40.0)
    train_rse_zoo(section, SETTING, *TRAIN, *TEST, out_dir=tmp_path, seed=3, workers=1)
    x, y = TRAIN
    idx = class_balanced_subset(y, 40, make_generator(3, "rse", "train-subset"))
    xf = x[idx].float() / 255
    options = dict(network_specs(section, SETTING)["distill"].options)

    def net(state=None):
        m = build("rse_vgg16", 10, width=0.0625, seed=derive_seed(3, "rse", SETTING, "distill"), **options)
        if state is not None:
            m.load_state_dict(state)
        return m

    teacher = net(load_checkpoint(tmp_path / "distill" / "teacher" / "model.pt")).eval()
    with torch.no_grad():
        zt = teacher(xf).double()
        q = torch.exp(zt / t - (zt / t).max(1, keepdim=True).values)
        q = q / q.sum(1, keepdim=True)
        p = (net().train()(xf).double() / t).softmax(1)       # the student's first (and only) step
    assert q.max() < 0.99                                      # soft labels, not one-hot
    start = net().state_dict()["net.classifier.bias"].double()
    after = load_checkpoint(tmp_path / "distill" / "student" / "model.pt")["net.classifier.bias"].double()

    def predicted(targets):
        return start - step["lr"] * (s / t) * (p - targets).mean(0)

    torch.testing.assert_close(after, predicted(q), rtol=0, atol=2e-6)
    hard = nn.functional.one_hot(y[idx], 10).double()
    q1 = zt.softmax(1)
    for other in (hard, q1):
        assert (after - predicted(other)).abs().max() > 1e-3
    # deployed at T = 1: the loaded student's logits are s * g, used as they are
    zoo = load_rse_zoo(section, SETTING, tmp_path)
    student = net(load_checkpoint(tmp_path / "distill" / "student" / "model.pt")).eval()
    with torch.no_grad():
        torch.testing.assert_close(zoo["distill"].model(xf[:4]), student(xf[:4]))
    assert zoo["distill"].model.logit_scale == s and not zoo["distill"].noisy


# ------------------------------------------------------------------ FGSM retraining's random budget


def test_fgsm_retraining_draws_eps_uniformly_in_the_papers_range():
    d = toy_section().defenses.adv_fgsm
    attack = UniformFGSM(d.eps_low, d.eps_high)
    assert (attack.eps_low, attack.eps_high) == (0.1, 0.3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 10))
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(10, 48, generator=torch.Generator().manual_seed(0)))
    x = torch.full((2, 3, 4, 4), 0.5)            # mid-gray: x +- 0.3 stays inside [0, 1], no clipping
    y = torch.tensor([1, 2])
    gen = make_generator(0, "test", "fgsm-eps")
    eps = []
    for _ in range(300):
        d_x = attack(model, x, y, gen) - x
        per_batch = d_x.abs().amax()
        assert torch.allclose(d_x.abs(), per_batch.expand_as(d_x), atol=1e-6)   # one eps per batch, every pixel
        eps.append(float(per_batch))
    assert 0.1 - 1e-6 <= min(eps) and max(eps) <= 0.3 + 1e-6
    assert stats.kstest(eps, stats.uniform(loc=0.1, scale=0.2).cdf).pvalue > 1e-3
    # the draws are the generator's: the same stream replays them, another differs
    again = make_generator(0, "test", "fgsm-eps")
    assert [float((attack(model, x, y, again) - x).abs().amax()) for _ in range(5)] == pytest.approx(eps[:5], abs=1e-7)


def test_fgsm_retraining_makes_each_batch_adversarial_with_probability_one_half():
    spec = network_specs(toy_section(), SETTING)["adv_fgsm"]
    pretrain, retrain = spec.runs
    assert retrain.start_from == pretrain.tag and pretrain.adversarial is None
    adv = retrain.adversarial
    assert (adv.mode, adv.ratio) == ("per_batch", 0.5)

    calls = []

    def counting(model, x, y, generator):
        calls.append(x.shape[0])
        return adv.attack(model, x, y, generator)

    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 10))
    xs = torch.randint(0, 256, (400, 3, 4, 4), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    ys = torch.arange(400) % 10
    cfg = TrainConfig(epochs=1, batch_size=2, lr=0.01, schedule="constant", augment=False, checkpoint_every=0,
                      adversarial=dataclasses.replace(adv, attack=counting))
    train(model, xs, ys, cfg, seed=0, progress=False)
    assert set(calls) == {2}                      # whole batches, never part of one
    assert stats.binomtest(len(calls), 200, 0.5).pvalue > 1e-3


def test_robust_opt_is_brelu_plus_gaussian_augmentation_and_can_keep_relu():
    d = toy_section().defenses.robust_opt_brelu
    spec = network_specs(toy_section(), SETTING)["robust_opt_brelu"]
    assert spec.options["activation"] == "brelu" and spec.options["brelu_threshold"] == d.threshold == 1.0
    assert spec.runs[0].config["input_noise_sigma"] == d.sigma == 0.05 and not spec.noisy
    # RSE's public code's ResNeXt "BReLU" network keeps F.relu: the same run, ReLU activations
    relu = network_specs(toy_section(robust_opt_activation="relu"), SETTING)["robust_opt_brelu"]
    assert "activation" not in relu.options and relu.runs[0].config == spec.runs[0].config
    assert any("keeps its ReLUs" in line for line in deviations(toy_section(robust_opt_activation="relu"), SETTING))


def test_madry_trains_every_example_with_pgd_at_the_papers_budget():
    section = toy_section()
    run = network_specs(section, SETTING)["madry"].runs[0]
    adv = run.adversarial
    assert (adv.mode, adv.ratio) == ("per_example", 1.0) and isinstance(adv.attack, PGDLinf)
    assert adv.attack.eps == pytest.approx(8 / 256) and adv.attack.passes == section.defenses.madry.steps
    # the shared scheduler counts the attack's passes: Madry's job costs (1 + steps) x a plain one
    jobs = {j.name: j for j in zoo_jobs(section, SETTING, "unused")}
    ratio = estimated_cost(jobs["madry"], 10, 3, 100) / estimated_cost(jobs["none"], 10, 3, 100)
    assert ratio == pytest.approx(1 + section.defenses.madry.steps)


def test_shared_layer_refuses_soft_labels_from_a_later_run(tmp_path):
    job = NetworkJob("bad", "rse_vgg16", 0.0625, (Run("student", TOY_TRAIN, 20, soft_labels="teacher"),
                                                   Run("teacher", TOY_TRAIN, 20)), str(tmp_path / "bad"), ("t",))
    with pytest.raises(ValueError, match="run 'student' takes soft labels from 'teacher', which is not an earlier run"):
        train_networks([job], *TRAIN, seed=0, num_classes=10, in_channels=3)
    assert not (tmp_path / "bad").exists()


# ------------------------------------------------------------------ the zoo: determinism and views


def test_zoo_is_byte_identical_on_rerun(zoo_dirs):
    section, (a, b), (rec_a, rec_b) = zoo_dirs
    digest_a, digest_b = tree_digest(a), tree_digest(b)
    assert digest_a == digest_b
    trained = {spec.name for spec in network_specs(section, SETTING).values()}
    assert trained == {"none", "rse", "distill", "adv_fgsm", "madry", "robust_opt_brelu", "noise_0.05_0.02",
                       "noise_0.1_0.05"}               # (0.2, 0.1) is rse, (0, 0) is none: not trained twice
    assert {Path(k).parts[0] for k in digest_a} == trained
    timing = ("runs", "train_seconds", "seconds_per_image")
    strip = [[{k: v for k, v in r.items() if k not in timing} for r in recs] for recs in (rec_a, rec_b)]
    assert strip[0] == strip[1]
    # a rerun in the same directory loads every run instead of training it
    again = train_rse_zoo(section, SETTING, *TRAIN, *TEST, out_dir=a, seed=0, workers=1)
    assert all(r["loaded"] for rec in again if rec["kind"] == "trained" for r in rec["runs"].values())
    assert [{k: v for k, v in r.items() if k not in timing} for r in again] == strip[0]
    assert tree_digest(a) == digest_a


def test_records_cover_every_network_and_view(zoo_dirs):
    section, (a, _), (records, _) = zoo_dirs
    by_name = {r["network"]: r for r in records}
    assert {"train_noise_only", "test_noise_only", "noise_0_0", "noise_0.2_0.1"} <= set(by_name)
    assert by_name["noise_0.2_0.1"]["source"] == "rse" and by_name["noise_0_0"]["source"] == "none"
    assert by_name["rse"]["prediction"] == "ensemble of 3" and by_name["none"]["prediction"] == "single pass"
    assert by_name["adv_fgsm"]["images_seen"] == 80 and set(by_name["adv_fgsm"]["runs"]) == {"pretrain", "retrain"}
    assert by_name["madry"]["runs"]["train"]["passes_per_image"] == 1 + section.defenses.madry.steps
    for r in records:
        assert r["n"] == 20 and r["correct"] == round(r["accuracy"] * 20)
        assert r["ci_low"] <= r["accuracy"] <= r["ci_high"]


def test_views_turn_noise_off_and_on(zoo_dirs):
    section, (root, _), _ = zoo_dirs
    s = section.settings[SETTING]
    zoo = load_rse_zoo(section, SETTING, root)
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))

    def same_weights(a, b):
        return a.state_dict().keys() == b.state_dict().keys() and all(
            torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())

    with torch.no_grad():
        # RSE: noise at training and test time, ensembled
        rse = zoo["rse"]
        assert rse.noisy and rse.ensemble == 3 and has_noise(rse.model)
        assert not torch.equal(rse.model(x), rse.model(x))
        # train noise only: the RSE weights, every noise layer off: deterministic, RSE without noise
        only_train = zoo["train_noise_only"]
        assert same_weights(only_train.model, rse.model) and not only_train.noisy and not has_noise(only_train.model)
        assert torch.equal(only_train.model(x), only_train.model(x))
        quiet = copy.deepcopy(rse.model)
        set_noise_enabled(quiet, False)
        torch.testing.assert_close(only_train.model(x), quiet(x), rtol=0, atol=0)
        # ...and wrapping it in the ensemble cannot bring the noise back (its sigmas are 0)
        torch.testing.assert_close(RSEEnsemble([only_train.model]).probs(x, 2, make_generator(0, "t")),
                                   only_train.model(x).softmax(1), rtol=1e-6, atol=1e-7)
        # test noise only: the undefended weights with RSE's noise layers added at test time
        none, only_test = zoo["none"], zoo["test_noise_only"]
        assert not none.noisy and not has_noise(none.model) and torch.equal(none.model(x), none.model(x))
        assert same_weights(only_test.model, none.model) and only_test.noisy and only_test.ensemble == 3
        sigmas = [layer.sigma for layer in noise_layers(only_test.model)]
        assert sigmas[0] == s.rse.noise_init and set(sigmas[1:]) == {s.rse.noise_inner} and len(sigmas) == 13
        assert not torch.equal(only_test.model(x), only_test.model(x))
        off = copy.deepcopy(only_test.model)
        set_noise_enabled(off, False)
        torch.testing.assert_close(off(x), none.model(x), rtol=0, atol=0)
    # Figure 3's levels: the RSE and undefended networks themselves, and networks at the others
    assert zoo["noise_0.2_0.1"] is zoo["rse"] and zoo["noise_0_0"] is zoo["none"]
    assert [layer.sigma for layer in noise_layers(zoo["noise_0.05_0.02"].model)][:2] == [0.05, 0.02]
    assert zoo["robust_opt_brelu"].options["activation"] == "brelu"
    assert any(isinstance(m, BReLU) for m in zoo["robust_opt_brelu"].model.modules())
