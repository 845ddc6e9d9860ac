"""CLM's populations: training and loading the five kinds of ``paperlib.config.clm``.

Layout of one population item ``models/clm/<item>/``::

    member_<i>/model.pt, history.json   submodel i (0-based; the paper numbers them 1..n)
    population.json                     kind, dataset, network, configs, and for linked kinds
                                        the mask, the monitored weight's trace (Figure 5) and
                                        the linked layer of every submodel before and after

Independent kinds (ULM, ULM-Adv) train their members as separate jobs in worker processes
(:func:`paperlib.zoo.workers.map_shared`); counter-linked kinds train epoch by epoch in turn
(:func:`paperlib.train.population.train_population`), CLM and CLM-Adv starting from their base
population's weights. Every member has its own initialization and streams, named by the item
and its index; all members of a dataset see the same class-balanced training subset.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from ..config.clm import LINKED_KINDS, DatasetParams, PopulationItem
from ..config.schema import from_mapping
from ..data import class_balanced_subset
from ..seeding import derive_seed, make_generator
from ..train import TrainConfig, train
from ..train.adversarial import pgd_linf_training_attack
from ..train.config import AdvTrainConfig
from ..train.population import train_population
from ..zoo.store import build_model, describe_arch, load_weights
from ..zoo.workers import map_shared
from .counter_linking import CounterLinking, link_mask, monitored_index, weight_layer

POPULATION_FILE = "population.json"


def member_dir(root: str | Path, i: int) -> Path:
    return Path(root) / f"member_{i}"


def training_subset(y: torch.Tensor, n: int, seed: int, dataset: str) -> torch.Tensor:
    """The class-balanced training subset of ``dataset`` shared by all its populations (a smaller
    subset is contained in a larger one: one stream)."""
    return class_balanced_subset(y, n, make_generator(seed, "clm", dataset, "train-subset"))


def build_member(ds: DatasetParams, num_classes: int, in_channels: int, *, seed: int, item: str, i: int) -> nn.Module:
    """Submodel ``i`` of population ``item``, freshly initialized from its own stream."""
    return build_model(ds.arch, num_classes, in_channels=in_channels, width=ds.width, options=ds.options,
                       seed=derive_seed(seed, "clm", item, "member", i))


def train_config(mapping: Mapping[str, Any], key: str, adversarial: Any = None) -> TrainConfig:
    """A :class:`TrainConfig` from a params mapping, with PGD adversarial training if given
    (``adversarial``: :class:`paperlib.config.clm.AdvParams`)."""
    cfg = from_mapping(TrainConfig, dict(mapping), key)
    if adversarial is not None:
        attack = pgd_linf_training_attack(adversarial.eps, adversarial.step_size, adversarial.steps)
        cfg = replace(cfg, adversarial=AdvTrainConfig(attack=attack, ratio=1.0))
    return cfg


def mask_for(model: nn.Module, layer: int, seed: int, dataset: str, key: str) -> torch.Tensor:
    """The dataset's counter-linking mask for ``layer`` (one draw per dataset: every linked
    population of it shares the mask, as all submodels of a population do)."""
    w = weight_layer(model, layer, key).weight
    return link_mask(w.shape, make_generator(seed, "clm", dataset, "mask", layer))


@dataclass(frozen=True)
class _Job:
    i: int
    item: str
    out_dir: str
    seed: int
    base_dir: str = ""


@dataclass(frozen=True)
class _Shared:
    x: torch.Tensor
    y: torch.Tensor
    ds: DatasetParams
    cfg: TrainConfig
    num_classes: int
    in_channels: int


def _shared(x, y, ds, cfg_name, adversarial, key, num_classes, in_channels) -> _Shared:
    """Built once per worker process: the config is rebuilt there, since an adversarial config
    holds its attack as a closure, which does not pickle."""
    cfg = train_config(getattr(ds, cfg_name), f"{key}.{cfg_name}", ds.adversarial if adversarial else None)
    return _Shared(x, y, ds, cfg, num_classes, in_channels)


def _train_member(shared: _Shared, job: _Job) -> dict:
    net = build_member(shared.ds, shared.num_classes, shared.in_channels, seed=job.seed, item=job.item, i=job.i)
    if job.base_dir:  # adversarial fine-tuning of the base population's submodel i
        _load_base(net, shared.ds, job.base_dir, job.i)
    return train(net, shared.x, shared.y, shared.cfg, seed=derive_seed(job.seed, "clm", job.item, "train", job.i),
                 checkpoint_dir=member_dir(job.out_dir, job.i), progress=False)


def _load_base(net: nn.Module, ds: DatasetParams, base_dir: str | Path, i: int) -> None:
    load_weights(net, member_dir(base_dir, i), what=describe_arch(ds.arch, ds.width, ds.options))
    net.to(memory_format=torch.contiguous_format).train().requires_grad_(True)


def _kind_settings(item: PopulationItem, ds: DatasetParams, key: str):
    """(train config, images) of a population kind."""
    adv = item.kind in ("ulm_adv", "clm_adv")
    name = {"ulm": "train", "clm_scratch": "scratch", "ulm_adv": "adv_train", "clm": "retrain",
            "clm_adv": "adv_retrain"}[item.kind]
    cfg = train_config(getattr(ds, name), f"{key}.{name}", ds.adversarial if adv else None)
    return cfg, (ds.adv_images if adv else ds.train_images), name


def train_population_item(name: str, item: PopulationItem, ds: DatasetParams, x: torch.Tensor, y: torch.Tensor, *,
                          seed: int, out_dir: str | Path, num_classes: int, in_channels: int, workers: int = 1,
                          base_dir: str | Path | None = None, key: str = "clm.datasets", profile: str = "") -> dict:
    """Train population ``name`` into ``out_dir``; returns its record (also ``population.json``).

    ``x``/``y``: the whole training split (uint8 / int64); the population takes its subset.
    ``base_dir``: the base population's folder for CLM / CLM-Adv (retrained from its weights).
    ``profile``: recorded with the population (every output says which profile made it).
    """
    key = f"{key}.{item.dataset}"
    cfg, images, cfg_name = _kind_settings(item, ds, key)
    idx = training_subset(y, images, seed, item.dataset)
    xs, ys = x[idx], y[idx]
    out = Path(out_dir)
    record: dict[str, Any] = {"profile": profile, "item": name, "kind": item.kind, "dataset": item.dataset, "base": item.base,
                              "arch": ds.arch, "width": ds.width, "options": dict(ds.options), "members": ds.members,
                              "images": int(len(idx)), "config_name": cfg_name, "config": cfg.to_dict()}
    if item.kind in ("ulm", "ulm_adv"):
        if item.base and base_dir is None:
            raise ValueError(f"{name}: starts from {item.base!r}: give base_dir")
        jobs = [_Job(i, name, str(out), seed, str(base_dir) if item.base else "") for i in range(ds.members)]
        histories = map_shared(_train_member, jobs, _shared,
                               (xs, ys, ds, cfg_name, item.kind == "ulm_adv", key, num_classes, in_channels),
                               workers=workers, describe=lambda j: f"{name} member {j.i}")
    else:
        link = ds.link_adv if item.kind == "clm_adv" else ds.link
        link_key = f"{key}.{'link_adv' if item.kind == 'clm_adv' else 'link'}"
        models = [build_member(ds, num_classes, in_channels, seed=seed, item=name, i=i) for i in range(ds.members)]
        if item.kind in LINKED_KINDS:
            if base_dir is None:
                raise ValueError(f"{name}: a {item.kind!r} population retrains its base {item.base!r}: give base_dir")
            for i, m in enumerate(models):
                _load_base(m, ds, base_dir, i)
        mask = mask_for(models[0], link.layer, seed, item.dataset, f"{link_key}.layer")
        monitor = monitored_index(mask)
        before = [weight_layer(m, link.layer).weight.detach().clone() for m in models]
        linkers = [CounterLinking(models, i, mask, alpha=link.alpha, delta=link.delta, every=link.every,
                                  layer=link.layer, generator=make_generator(seed, "clm", name, "prse", i),
                                  monitor=monitor) for i in range(ds.members)]
        histories = train_population(models, xs, ys, cfg,
                                     seeds=[derive_seed(seed, "clm", name, "train", i) for i in range(ds.members)],
                                     callbacks_for=lambda i: [linkers[i]],
                                     checkpoint_dirs=[member_dir(out, i) for i in range(ds.members)], progress=True)
        after = [weight_layer(m, link.layer).weight.detach().clone() for m in models]
        record["link"] = {"alpha": link.alpha, "delta": link.delta, "every": link.every, "layer": link.layer,
                          "mask": mask.tolist(), "monitored_index": list(monitor),
                          "updates": [lk.updates for lk in linkers],
                          "linked_changes": [lk.linked_changes for lk in linkers],
                          "trace": [[[s, round(v, 7)] for s, v in lk.trace] for lk in linkers],
                          "layer_before": [w.tolist() for w in before], "layer_after": [w.tolist() for w in after]}
    record["train_accuracy"] = [h.get("train_acc", [None])[-1] for h in histories]
    out.mkdir(parents=True, exist_ok=True)
    (out / POPULATION_FILE).write_text(json.dumps(record, sort_keys=True) + "\n")
    return {"record": record, "histories": histories}


def load_population(root: str | Path, ds: DatasetParams, num_classes: int, in_channels: int,
                    device: torch.device | str = "cpu") -> list[nn.Module]:
    """The trained submodels of a population folder, frozen, in order."""
    what = describe_arch(ds.arch, ds.width, ds.options)
    models = []
    for i in range(ds.members):
        net = build_model(ds.arch, num_classes, in_channels=in_channels, width=ds.width, options=ds.options)
        models.append(load_weights(net, member_dir(root, i), what=what, device=device))
    return models


def read_population_record(root: str | Path) -> dict:
    path = Path(root) / POPULATION_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no population record (train the population first)")
    return json.loads(path.read_text())
