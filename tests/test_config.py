"""Params validation: unknown keys, wrong types and impossible values fail naming the key."""

from __future__ import annotations

import copy

import pytest
import yaml

from paperlib.config import ParamsError, load_params, lookup
from tests.conftest import REPO

PROFILES = sorted(p.stem for p in (REPO / "profiles").glob("*.yaml"))


def default_raw() -> dict:
    return yaml.safe_load((REPO / "profiles" / "default.yaml").read_text())


def write(tmp_path, raw) -> str:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def error_for(tmp_path, mutate) -> str:
    raw = default_raw()
    mutate(raw)
    with pytest.raises(ParamsError) as info:
        load_params(write(tmp_path, raw))
    return str(info.value)


def test_every_profile_is_valid_and_named_after_itself():
    assert PROFILES == ["default", "paper", "smoke"]
    for name in PROFILES:
        params = load_params(REPO / "profiles" / f"{name}.yaml")
        assert params.profile == name


def _key_tree(node, prefix=""):
    """Dotted keys of a raw params tree; model names, family options, per-architecture sigma lists
    and per-architecture training overrides are data, not keys."""
    keys = set()
    if isinstance(node, dict):
        for k, v in node.items():
            key = f"{prefix}.{k}" if prefix else k
            if prefix.endswith(".models"):
                key = f"{prefix}.<name>"
            keys.add(key)
            # family options and per-architecture training overrides are data (they differ by profile)
            if not key.endswith((".options", ".train")) or ".models." not in key:
                keys |= _key_tree(v, key)
    return keys


def test_profiles_have_the_same_keys():
    trees = {name: _key_tree(yaml.safe_load((REPO / "profiles" / f"{name}.yaml").read_text())) for name in PROFILES}
    assert trees["smoke"] == trees["default"] == trees["paper"]


def test_params_yaml_is_one_of_the_profiles():
    text = (REPO / "params.yaml").read_text()
    assert text in {(REPO / "profiles" / f"{n}.yaml").read_text() for n in PROFILES}


@pytest.mark.parametrize(
    "mutate, key, words",
    [
        (lambda r: r.update(colour="red"), "colour", "unknown key"),
        (lambda r: r["liang"].update(wrokers=5), "liang.wrokers", "unknown key"),
        (lambda r: r["liang"]["ensembles"]["mnist"]["train"].update(epohcs=5), "liang.ensembles.mnist.train", "epohcs"),
        (lambda r: r.update(seed="zero"), "seed", "expected an integer"),
        (lambda r: r["liang"]["ensembles"]["mnist"].update(partition=1.5), "liang.ensembles.mnist.partition",
         "expected an integer"),
        (lambda r: r["liang"]["ensembles"]["mnist"].update(temperatures="10"), "liang.ensembles.mnist.temperatures",
         "expected a list"),
        (lambda r: r["liang"]["ensembles"]["mnist"]["adaptive_eps"].append(-0.25), "liang.ensembles.mnist.adaptive_eps[3]",
         "an L2 budget must be > 0"),
        (lambda r: r["liang"].update(rv_alpha=8), "liang.rv_alpha", "(0, 1)"),
        (lambda r: r["liang"]["ensembles"]["mnist"].update(arch="resnet9000"), "liang.ensembles.mnist.arch",
         "unknown architecture"),
        (lambda r: r["liang"]["ensembles"]["mnist"].update(width=-1), "liang.ensembles.mnist.width", "must be > 0"),
        (lambda r: r["data"].update(datasets=["cifar10", "imagenet"]), "data.datasets[1]", "unknown dataset"),
        (lambda r: r["liang"]["ensembles"]["mnist"].update(dataset="svhn"), "liang.ensembles.mnist.dataset",
         "unknown dataset"),
        (lambda r: r.update(profile="fast"), "profile", "must be one of"),
        (lambda r: r["liang"]["ensembles"]["mnist"]["train"].update(lr=-0.1), "liang.ensembles.mnist.train", "lr"),
        (lambda r: r.pop("seed"), "seed", "missing required key"),
    ],
)
def test_bad_values_name_their_key(tmp_path, mutate, key, words):
    message = error_for(tmp_path, mutate)
    assert f"{key}" in message and words in message, message
    assert message.startswith(str(tmp_path / "params.yaml")), message


def test_unreadable_files_are_named(tmp_path):
    with pytest.raises(ParamsError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [1,\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(bad)


def test_lookup_returns_plain_values():
    params = load_params(REPO / "profiles" / "smoke.yaml")
    assert lookup(params, "liang.certify") == {"n": 100, "alpha": 0.05, "n0": 10, "check_n": 20, "batch_size": 1000}
    mnist = lookup(params, "liang.ensembles.mnist")
    assert {k: mnist[k] for k in ("arch", "width", "temperatures", "adaptive_eps")} == {
        "arch": "cw_mnist", "width": 0.25, "temperatures": [10.0, 20.0, 30.0], "adaptive_eps": [1.0]}
    assert isinstance(mnist["adaptive_eps"], list)   # a tuple field comes back as plain YAML data
    assert lookup(params, "seed") == 0
    with pytest.raises(ParamsError, match="liang.nope"):
        lookup(params, "liang.nope")


def test_ints_are_accepted_where_floats_are_expected(tmp_path):
    raw = default_raw()
    raw["liang"]["ensembles"]["mnist"]["width"] = 1
    params = load_params(write(tmp_path, copy.deepcopy(raw)))
    assert isinstance(params.liang.ensembles["mnist"].width, float)


# ------------------------------------------------- sections found by name (one module per paper)


def test_unknown_top_level_key_lists_the_known_sections(tmp_path):
    message = error_for(tmp_path, lambda r: r.update(no_such_paper={"dataset": "mnist"}))
    assert message.startswith(f"{tmp_path / 'params.yaml'}: no_such_paper: unknown key"), message
    assert "paperlib/config/no_such_paper.py" in message
    assert "known sections: ['clm', 'data', 'liang', 'profile', 'report', 'rse', 'seed', 'sem']" in message


def test_a_known_section_missing_from_the_file_is_an_error(tmp_path):
    message = error_for(tmp_path, lambda r: r.pop("sem"))
    assert message == f"{tmp_path / 'params.yaml'}: sem: missing required key", message


def _drop_clm_mnist(clm: dict) -> None:
    clm["datasets"].pop("mnist")
    clm["attacks"].pop("mnist")
    for group in ("populations", "linked"):
        clm[group] = {k: v for k, v in clm[group].items() if v["dataset"] != "mnist"}
    clm["tables"] = {k: {"datasets": [d for d in v["datasets"] if d != "mnist"],
                         "populations": [p for p in v["populations"] if not p.startswith("mnist")]}
                     for k, v in clm["tables"].items() if v["datasets"] != ["mnist"]}


def _cifar10_only(r: dict) -> None:
    r["data"]["datasets"] = ["cifar10"]
    r["liang"]["ensembles"].pop("mnist")   # Liang & Samavi's MNIST ensemble would be refused too
    _drop_clm_mnist(r["clm"])              # CLM's own MNIST experiment would be refused too (tests/test_clm.py)


def test_a_section_dataset_must_be_prepared_by_the_data_stage(tmp_path):
    def mutate(r):
        _cifar10_only(r)
        r["sem"]["dataset"] = "mnist"
    message = error_for(tmp_path, mutate)
    assert message.endswith("sem.dataset: 'mnist' is not prepared by data.datasets ['cifar10']"), message


def test_a_liang_ensemble_dataset_must_be_prepared_by_the_data_stage(tmp_path):
    """liang has no section-level ``dataset``: each ensemble names its own, and ``liang_zoo@<dataset>``
    depends on ``data/<dataset>``, so an ensemble on a dataset the data stage skips must be refused."""
    def mutate(r):
        _cifar10_only(r)
        r["liang"]["ensembles"]["mnist"] = default_raw()["liang"]["ensembles"]["mnist"]
    message = error_for(tmp_path, mutate)
    assert message.endswith("liang.ensembles.mnist.dataset: 'mnist' is not prepared by data.datasets ['cifar10']"), message


NEW_SECTION = '''
from dataclasses import dataclass

from paperlib.config.schema import require


@dataclass(frozen=True)
class NewPaperParams:
    dataset: str
    rounds: int

    def validate(self, key):
        require(self.rounds >= 1, f"{key}.rounds", f"must be >= 1, got {self.rounds}")

    def validate_params(self, key, params):
        require(self.rounds <= params.seed + 100, f"{key}.rounds", "at most seed + 100")


SECTION = NewPaperParams
'''


@pytest.fixture
def extra_section_dir(tmp_path, monkeypatch):
    """A folder on ``paperlib.config``'s search path holding a new paper's section module."""
    import sys

    import paperlib.config

    folder = tmp_path / "extra"
    folder.mkdir()
    (folder / "newpaper.py").write_text(NEW_SECTION)
    monkeypatch.setattr(paperlib.config, "__path__", [*paperlib.config.__path__, str(folder)])
    yield folder
    sys.modules.pop("paperlib.config.newpaper", None)


def test_a_new_section_is_found_by_its_key_and_validated(tmp_path, extra_section_dir):
    raw = default_raw()
    raw["newpaper"] = {"dataset": raw["data"]["datasets"][0], "rounds": 3}
    params = load_params(write(tmp_path, raw))
    assert lookup(params, "newpaper") == {"dataset": raw["data"]["datasets"][0], "rounds": 3}
    assert params.newpaper.rounds == 3 and params.sem.dataset == raw["sem"]["dataset"]
    raw["newpaper"]["rounds"] = 0
    with pytest.raises(ParamsError, match=r"params.yaml: newpaper.rounds: must be >= 1, got 0"):
        load_params(write(tmp_path, raw))
    raw["newpaper"] = {"dataset": "stl10", "rounds": 3}
    with pytest.raises(ParamsError, match=r"newpaper.dataset: 'stl10' is not prepared by data.datasets"):
        load_params(write(tmp_path, raw))
    raw["newpaper"] = {"dataset": raw["data"]["datasets"][0], "rounds": 500}
    with pytest.raises(ParamsError, match=r"newpaper.rounds: at most seed \+ 100"):
        load_params(write(tmp_path, raw))
    del raw["newpaper"]
    with pytest.raises(ParamsError, match=r"newpaper: missing required key"):
        load_params(write(tmp_path, raw))
