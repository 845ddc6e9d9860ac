"""The ``liang`` params section (paperlib/config/liang.py) against the paper's Tables 1 and 3 and
its text (../shared/papers/004), its refusals (each naming the params key), and the disjoint
training partitions of the MNIST members (paperlib/zoo/training.py: ``partition_indices``,
``Run.partition``) against :func:`paperlib.data.class_balanced_subset` and hand counts."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from paperlib.config import load_params
from paperlib.config.liang import EnsembleParams, LiangParams
from paperlib.config.schema import ParamsError, from_mapping
from paperlib.data import class_balanced_subset
from paperlib.seeding import make_generator
from paperlib.zoo import training
from paperlib.zoo.training import NetworkJob, Run, partition_indices, train_networks

REPO = Path(__file__).resolve().parents[1]
PROFILES = ("default", "smoke", "paper")
TOY = {"epochs": 1, "batch_size": 8, "precision": "fp32", "channels_last": False}


def _raw_liang(profile: str = "default") -> dict:
    return copy.deepcopy(yaml.safe_load((REPO / "profiles" / f"{profile}.yaml").read_text())["liang"])


def _refused(raw: dict, key: str) -> None:
    """``raw`` is refused with a message that starts with the dotted ``key``."""
    with pytest.raises(ParamsError, match=rf"^{re.escape(key)}: "):
        from_mapping(LiangParams, raw, "liang")


# --- the profiles -----------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_liang_section_parses_and_members_match_temperatures(profile):
    liang = load_params(REPO / "profiles" / f"{profile}.yaml").liang
    raw = _raw_liang(profile)
    assert isinstance(liang, LiangParams)
    assert set(liang.ensembles) == set(raw["ensembles"]) and set(liang.ensembles) <= {"mnist", "cifar10"}
    for name, ens in liang.ensembles.items():
        assert ens.dataset == name
        assert len(ens.temperatures) == ens.members == raw["ensembles"][name]["members"]
        assert ens.temperatures == [float(t) for t in raw["ensembles"][name]["temperatures"]]
        assert "temperature" not in ens.train
    # the SN / SI2 / SI3 inputs all come from the first `inputs` test images
    a = liang.attack
    assert a.inputs == max(a.sn_inputs, a.si2_inputs, a.si3_inputs) == max(
        raw["attack"][k] for k in ("sn_inputs", "si2_inputs", "si3_inputs"))


def test_paper_profile_is_the_papers_table1_table3_and_text():
    liang = load_params(REPO / "profiles" / "paper.yaml").liang
    mnist, cifar = liang.ensembles["mnist"], liang.ensembles["cifar10"]
    # Table 1 / text: m = 50 networks, T_l = 10 l, l = 1..50
    for ens in (mnist, cifar):
        assert ens.members == 50
        assert ens.temperatures == [10.0 * l for l in range(1, 51)]
        assert ens.validation == 5000                       # "one validation set (5000 samples)"
        assert ens.arch == ("cw_mnist" if ens is mnist else "cw_cifar") and ens.width == 1.0
        assert ens.logit_scale == "one"                     # the paper's plain networks
        assert ens.logit_scales() == [1.0] * 50
    assert (mnist.sigma, cifar.sigma) == (0.5, 0.03)        # Gaussian Noise Sigma
    assert mnist.partition == 1100                          # "50 training subsets (1100 samples each)"
    assert cifar.partition == 0 and cifar.train_images == 45000   # "a single training set (45000 samples)"
    assert (mnist.train["epochs"], cifar.train["epochs"]) == (3000, 150)
    for ens in (mnist, cifar):                              # Table 1b
        assert ens.train["lr"] == 0.01 and ens.train["momentum"] == 0.9 and ens.train["batch_size"] == 128
    # Measuring Robustness: n = 10000, alpha = 0.05; RV(0.05)
    assert (liang.certify.n, liang.certify.alpha) == (10000, 0.05)
    assert liang.rv_alpha == 0.05
    # 15 SN inputs x 9 targets; Table 3: SI2 30 inputs, SI3 20 inputs
    a = liang.attack
    assert (a.sn_inputs, a.si2_inputs, a.si3_inputs, a.targets) == (15, 30, 20, 9)
    assert a.sn_inputs * a.targets * mnist.members == 6750     # "9 x 50 x 15 = 6750"
    assert a.si2_inputs * a.targets * 50 == 13500 and a.si3_inputs * a.targets * 50 == 9000
    # the 50 x 1100 partitions fit MNIST's 60,000 training images (and need 55,000)
    mnist.check_data(60000, "liang.ensembles.mnist")
    with pytest.raises(ParamsError, match=r"need 55000"):
        mnist.check_data(54999, "liang.ensembles.mnist")


def test_temperature_logit_scale_multiplies_by_each_members_T():
    liang = load_params(REPO / "profiles" / "default.yaml").liang
    ens = liang.ensembles["mnist"]
    assert ens.logit_scale == "temperature"
    assert ens.logit_scales() == [float(t) for t in ens.temperatures]


# --- refusals, each naming its key ------------------------------------------------------------


def test_default_liang_mapping_builds_unmodified():
    # the baseline of the refusal tests: without the modification the mapping is accepted
    p = from_mapping(LiangParams, _raw_liang(), "liang")
    assert p.ensembles["mnist"].members == 10


def test_temperature_list_of_wrong_length_names_temperatures_key():
    raw = _raw_liang()
    raw["ensembles"]["mnist"]["temperatures"] = raw["ensembles"]["mnist"]["temperatures"][:-1]
    _refused(raw, "liang.ensembles.mnist.temperatures")


def test_nonpositive_temperature_names_its_index():
    raw = _raw_liang()
    raw["ensembles"]["mnist"]["temperatures"][3] = 0
    _refused(raw, "liang.ensembles.mnist.temperatures[3]")


@pytest.mark.parametrize("alpha", [0, 1, 1.5, -0.1])
def test_rv_alpha_outside_open_unit_interval_names_rv_alpha(alpha):
    raw = _raw_liang()
    raw["rv_alpha"] = alpha
    _refused(raw, "liang.rv_alpha")


@pytest.mark.parametrize("alpha", [0, 1, 1.5, -0.05])
def test_certify_alpha_outside_open_unit_interval_names_certify_alpha(alpha):
    raw = _raw_liang()
    raw["certify"]["alpha"] = alpha
    _refused(raw, "liang.certify.alpha")


def test_alphas_just_inside_unit_interval_are_accepted():
    raw = _raw_liang()
    raw["rv_alpha"], raw["certify"]["alpha"] = 0.999, 1e-6
    p = from_mapping(LiangParams, raw, "liang")
    assert (p.rv_alpha, p.certify.alpha) == (0.999, 1e-6)


@pytest.mark.parametrize("where, key", [((), "liang.bogus"), (("ensembles", "mnist"), "liang.ensembles.mnist.bogus"),
                                        (("attack", "cw"), "liang.attack.cw.bogus"),
                                        (("certify",), "liang.certify.bogus")])
def test_unknown_key_is_refused_naming_it(where, key):
    raw = _raw_liang()
    node = raw
    for w in where:
        node = node[w]
    node["bogus"] = 1
    _refused(raw, key)


def test_temperature_inside_train_recipe_is_refused():
    raw = _raw_liang()
    raw["ensembles"]["cifar10"]["train"]["temperature"] = 10.0
    _refused(raw, "liang.ensembles.cifar10.train.temperature")


def test_ensemble_named_differently_from_its_dataset_is_refused():
    raw = _raw_liang()
    raw["ensembles"]["mnist"] = raw["ensembles"].pop("cifar10")     # a CIFAR-10 ensemble under "mnist"
    _refused(raw, "liang.ensembles.mnist.dataset")


def test_ensemble_named_after_an_unknown_dataset_is_refused():
    raw = _raw_liang()
    raw["ensembles"]["svhn"] = raw["ensembles"].pop("mnist")
    _refused(raw, "liang.ensembles.svhn")


@pytest.mark.parametrize("field, value, key", [
    ("members", 1, "members"), ("sigma", 0, "sigma"), ("partition", -1, "partition"),
    ("validation", 0, "validation"), ("logit_scale", "sqrt", "logit_scale"), ("adaptive_eps", [1.0, 0.0], "adaptive_eps[1]"),
])
def test_bad_ensemble_values_name_their_key(field, value, key):
    raw = _raw_liang()
    raw["ensembles"]["mnist"][field] = value
    if field == "members":
        raw["ensembles"]["mnist"]["temperatures"] = [10]
    _refused(raw, f"liang.ensembles.mnist.{key}")


def test_attack_targets_above_nine_are_refused():
    raw = _raw_liang()
    raw["attack"]["targets"] = 10
    _refused(raw, "liang.attack.targets")


def test_check_data_refuses_partitions_larger_than_split_and_accepts_equal():
    ens = from_mapping(LiangParams, _raw_liang(), "liang").ensembles["mnist"]   # 10 members x 450
    need = ens.partition * ens.members
    assert need == 4500
    ens.check_data(need, "liang.ensembles.mnist")            # exactly enough: accepted
    with pytest.raises(ParamsError, match=r"^liang\.ensembles\.mnist\.partition: .*need 4500"):
        ens.check_data(need - 1, "liang.ensembles.mnist")


def test_check_data_without_partitions_checks_train_images():
    ens = from_mapping(LiangParams, _raw_liang(), "liang").ensembles["cifar10"]  # partition 0, 8000 images
    ens.check_data(8000, "liang.ensembles.cifar10")
    with pytest.raises(ParamsError, match=r"^liang\.ensembles\.cifar10\.train_images: "):
        ens.check_data(7999, "liang.ensembles.cifar10")


# --- partition_indices ------------------------------------------------------------------------


def _labels(n: int = 1000, classes: int = 10, seed: int = 0) -> torch.Tensor:
    # uneven class frequencies (every class at least min(60, n / classes) times)
    rng = np.random.default_rng(seed)
    base = np.repeat(np.arange(classes), min(60, n // classes))
    extra = rng.integers(0, classes // 2, n - len(base))
    return torch.as_tensor(rng.permutation(np.concatenate([base, extra])), dtype=torch.int64)


def test_partitions_are_disjoint_of_size_and_their_union_is_the_class_balanced_subset():
    y = _labels()
    size, parts = 30, 5
    parts_idx = [partition_indices(y, size, p, parts, torch.Generator().manual_seed(7)) for p in range(parts)]
    for idx in parts_idx:
        assert idx.shape == (size,) and len(set(idx.tolist())) == size
    union = torch.cat(parts_idx).tolist()
    assert len(set(union)) == size * parts                    # pairwise disjoint
    ref = class_balanced_subset(y, size * parts, torch.Generator().manual_seed(7))
    assert set(union) == set(ref.tolist())
    # consecutive chunks of the subset, in its order
    assert union == ref.tolist()
    # 150 images over 10 classes: 15 of each (hand count), although y is unbalanced
    counts = np.bincount(y[torch.cat(parts_idx)].numpy(), minlength=10)
    assert counts.max() - counts.min() <= 1 and counts.sum() == 150
    assert counts.tolist() == [15] * 10


def test_partitions_of_another_seed_differ():
    y = _labels()
    a = partition_indices(y, 30, 0, 5, torch.Generator().manual_seed(7))
    b = partition_indices(y, 30, 0, 5, torch.Generator().manual_seed(8))
    assert a.tolist() != b.tolist()


def test_partition_request_larger_than_split_raises():
    y = _labels(100)
    partition_indices(y, 50, 1, 2, torch.Generator().manual_seed(0))       # exactly 100: fine
    with pytest.raises(ValueError, match="need 102"):
        partition_indices(y, 51, 0, 2, torch.Generator().manual_seed(0))


@pytest.mark.parametrize("size, part, parts", [(10, 2, 2), (10, -1, 2), (0, 0, 2), (10, 0, 0)])
def test_partition_with_bad_part_or_size_raises(size, part, parts):
    with pytest.raises(ValueError):
        partition_indices(_labels(100), size, part, parts, torch.Generator().manual_seed(0))


# --- Run.partition in train_networks ----------------------------------------------------------


def _data(n: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 MNIST-shaped images whose first pixel is their index (so a training batch tells which
    images it holds) and 10 classes, 10 each."""
    x = torch.zeros(n, 1, 28, 28, dtype=torch.uint8)
    x[:, 0, 0, 0] = torch.arange(n, dtype=torch.uint8)
    y = torch.arange(n) % 10
    x[:, 0, 5:10, 5:10] = (y * 25).to(torch.uint8).view(-1, 1, 1)
    return x, y


def _job(tmp_path: Path, name: str, images: int, partition: tuple[int, int]) -> NetworkJob:
    return NetworkJob(name=name, arch="cw_mnist", width=0.1,
                      runs=(Run(".", dict(TOY), images=images, partition=partition),),
                      out_dir=str(tmp_path / name), seeds=("t", name))


def test_train_networks_refuses_partitions_larger_than_split_before_training(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(training, "train", lambda *a, **k: calls.append(a) or {})
    x, y = _data(100)
    with pytest.raises(ValueError, match="need 120"):
        train_networks([_job(tmp_path, "a", 60, (0, 2))], x, y, seed=0, num_classes=10, in_channels=1)
    assert calls == [] and not (tmp_path / "a").exists()


def test_train_networks_refuses_a_bad_job_before_training_a_good_one(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(training, "train", lambda *a, **k: calls.append(a) or {})
    x, y = _data(100)
    jobs = [_job(tmp_path, "a", 40, (0, 2)), _job(tmp_path, "b", 60, (1, 2))]
    with pytest.raises(ValueError, match=r"b: run '\.'.*need 120"):
        train_networks(jobs, x, y, seed=0, num_classes=10, in_channels=1)
    assert calls == []


def test_members_with_partitions_0_and_1_of_2_train_on_disjoint_images(tmp_path, monkeypatch):
    """Two jobs sharing ``seeds[0]`` train (for real, one tiny epoch) on the two halves of one
    class-balanced subset: the images each run receives are recovered from their first pixel."""
    seen: dict[str, torch.Tensor] = {}
    real_train = training.train

    def spy(net, x_run, y_run, cfg, *, checkpoint_dir, **kw):
        seen[Path(checkpoint_dir).name] = x_run[:, 0, 0, 0].long().clone()
        assert torch.equal(y_run, _data(100)[1][x_run[:, 0, 0, 0].long()])     # labels travel with images
        return real_train(net, x_run, y_run, cfg, checkpoint_dir=checkpoint_dir, **kw)

    monkeypatch.setattr(training, "train", spy)
    x, y = _data(100)
    jobs = [NetworkJob(name=n, arch="cw_mnist", width=0.1, runs=(Run(".", dict(TOY), images=40, partition=(p, 2)),),
                       out_dir=str(tmp_path / n), seeds=("liang", n)) for p, n in enumerate(("a", "b"))]
    hist = train_networks(jobs, x, y, seed=3, num_classes=10, in_channels=1)
    assert hist["a"]["."]["images"] == hist["b"]["."]["images"] == 40
    a, b = seen["a"].tolist(), seen["b"].tolist()
    assert len(set(a)) == len(set(b)) == 40 and not set(a) & set(b)
    # what _train_job draws: the subset stream (seed, seeds[0], "train-subset"), shared by both jobs
    ref = [partition_indices(y, 40, p, 2, make_generator(3, "liang", "train-subset")).tolist() for p in (0, 1)]
    assert (a, b) == (ref[0], ref[1])
    # the union is the 80-image class-balanced subset: 8 images of every class
    assert np.bincount(y[a + b].numpy(), minlength=10).tolist() == [8] * 10


def test_member_jobs_give_each_mnist_member_its_partition_and_temperature_on_one_subset_stream(tmp_path):
    from paperlib.liang.ensemble import member_jobs

    liang = load_params(REPO / "profiles" / "default.yaml").liang
    ens = liang.ensembles["mnist"]                              # 10 members x 450 images
    jobs = member_jobs(ens, tmp_path, "liang.ensembles.mnist")
    assert [j.name for j in jobs] == [f"member_{i:02d}" for i in range(1, 11)]
    for i, (job, t) in enumerate(zip(jobs, ens.temperatures)):
        (run,) = job.runs
        assert run.partition == (i, 10) and run.images == 450 and run.config["temperature"] == t
        assert job.seeds[0] == "liang" and job.options == {"logit_scale": t}
    # what _train_job draws for each member, on a 4,500-image split: a partition of the whole split
    y = torch.arange(4500) % 10
    idx = [partition_indices(y, r.images, *r.partition, make_generator(0, j.seeds[0], "train-subset"))
           for j in jobs for r in j.runs]
    assert sorted(torch.cat(idx).tolist()) == list(range(4500))
    cifar = member_jobs(liang.ensembles["cifar10"], tmp_path, "liang.ensembles.cifar10")
    assert all(r.partition is None and r.images == 8000 for j in cifar for r in j.runs)


def test_train_networks_refuses_an_out_of_range_part_before_training(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(training, "train", lambda *a, **k: calls.append(k["checkpoint_dir"]) or {})
    x, y = _data(100)
    jobs = [_job(tmp_path, "a", 20, (0, 2)), _job(tmp_path, "b", 20, (2, 2))]
    with pytest.raises(ValueError, match="partition"):
        train_networks(jobs, x, y, seed=0, num_classes=10, in_channels=1)
    assert calls == []
