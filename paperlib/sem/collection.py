"""SEM's heterogeneous redundant collection (Qin et al. 2023, section 3.2 and Table 1): where
each trained member lives, how it is loaded, and which members the stochastic ensemble may use.

Layout written by ``notebooks/sem_train.ipynb``: ``<root>/<arch>/sigma_<s>/`` (``s`` in ``%g``
form; ``sigma_0`` is the unsmoothed model whose clean accuracy Table 1 prints in parentheses),
each a trained-model directory of the shared zoo layer (:mod:`paperlib.zoo.store`: ``model.pt``,
``history.json``). The baselines of section 4.3 live in ``<baselines_root>/rse/<arch>`` and
``<baselines_root>/adp``. Building and loading are the zoo layer's; what is SEM's here is the
layout, the member names and the exclusion rule.

Exclusion (Table 1's red rows). The paper drops the models that "did not meet performance
requirements" without saying which threshold; its red cells are those near chance (9.99%) or
far below the other models at the same sigma (20.88%). We make that a rule: a smoothed model is
excluded when its ACA is below ``fraction`` times the median ACA of all models at its sigma.
An architecture left with no smoothed model enters SEM with its unsmoothed model ("unsmoothed
models were used for the SEM"), unless that too fails the rule against the median clean accuracy.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from torch import nn

from ..config.architectures import family_of
from ..config.sem import BaselineParams, ZooModel
from ..defenses.ensemble import Member
from ..models.noise_space import pixel_noise_std
from ..models.rse import add_noise_layers
from ..seeding import derive_seed
from ..zoo.store import build_model, describe_arch, load_trained, load_weights


def sigma_tag(sigma: float) -> str:
    """``sigma_0``, ``sigma_0.25``: the directory name of a member."""
    return f"sigma_{float(sigma):g}"


def member_name(arch: str, sigma: float) -> str:
    return f"{arch}@{float(sigma):g}"


def member_dir(root: str | Path, arch: str, sigma: float) -> Path:
    return Path(root) / arch / sigma_tag(sigma)


def build_zoo_model(arch: str, zoo_model: ZooModel, num_classes: int, in_channels: int, seed: int = 0,
                    device: torch.device | str | None = None) -> nn.Module:
    """The network of ``arch`` at the profile's width and options (untrained; ``device="meta"``
    for a shape-only model, e.g. to count parameters): :func:`paperlib.zoo.store.build_model`
    with a ``sem.zoo.models`` entry."""
    return build_model(arch, num_classes, in_channels=in_channels, width=zoo_model.width,
                       options=zoo_model.options, seed=seed, device=device)


def load_member(root: str | Path, arch: str, sigma: float, zoo_model: ZooModel, num_classes: int,
                in_channels: int = 3, device: torch.device | str = "cpu", *, noise_space: str = "pixel") -> Member:
    """A trained member as a defenses ``Member``: :func:`paperlib.zoo.store.load_trained` of
    ``<root>/<arch>/sigma_<s>`` (eval mode, frozen, channels_last weights). FileNotFoundError /
    ValueError name the directory when the member is missing or does not fit ``zoo_model``."""
    trained = load_trained(member_dir(root, arch, sigma), arch, num_classes, in_channels=in_channels,
                           width=zoo_model.width, options=zoo_model.options, device=device)
    noise_std = None
    if noise_space != "pixel" and sigma > 0:  # the paper's sigma in normalized units: sigma * std_c in pixels
        noise_std = pixel_noise_std(float(sigma), noise_space, trained.model)
    return Member(member_name(arch, sigma), arch, float(sigma), trained.model, family=family_of(arch), noise_std=noise_std)


def rse_network(arch: str, zoo_model: ZooModel, baselines: BaselineParams, num_classes: int,
                in_channels: int, seed: int, base: nn.Module | None = None) -> nn.Module:
    """The RSE baseline's network of ``arch``: the zoo network (``base``, e.g. the unsmoothed
    trained one that ``sem_baselines_train`` starts from; default a fresh one to load weights
    into) with RSE's noise layers."""
    net = base if base is not None else build_zoo_model(arch, zoo_model, num_classes, in_channels)
    return add_noise_layers(net, baselines.rse_noise_init, baselines.rse_noise_inner,
                            seed=derive_seed(seed, "sem", "rse-noise", arch))


def load_baselines(root: str | Path, zoo_models: dict[str, ZooModel], baselines: BaselineParams,
                   num_classes: int, in_channels: int = 3, seed: int = 0, *, rse: bool = True,
                   adp: bool = True) -> tuple[list[nn.Module], list[nn.Module]]:
    """The trained RSE networks and ADP members of section 4.3 (eval mode, frozen), as written by
    ``sem_baselines_train`` under ``root`` (``rse/<arch>/model.pt``, ``adp/model.pt``)."""
    rse_models, adp_models = [], []
    if rse:
        for a in baselines.archs:
            net = rse_network(a, zoo_models[a], baselines, num_classes, in_channels, seed)
            what = f"RSE's noisy {describe_arch(a, zoo_models[a].width, zoo_models[a].options)}"
            rse_models.append(load_weights(net, Path(root) / "rse" / a, what=what))
    if adp:
        adp_models = [build_zoo_model(a, zoo_models[a], num_classes, in_channels) for a in baselines.archs]
        load_weights(nn.ModuleList(adp_models), Path(root) / "adp", what=f"ADP's members {list(baselines.archs)}")
    return rse_models, list(adp_models)


def mark_exclusions(table: pd.DataFrame, fraction: float) -> pd.DataFrame:
    """Add ``median_at_sigma``, ``threshold`` and ``excluded`` to a per-model table with columns
    ``arch, sigma, accuracy`` (accuracy: ACA for sigma > 0, clean accuracy for sigma 0)."""
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction must lie in [0, 1), got {fraction!r}")
    out = table.copy()
    out["median_at_sigma"] = out.groupby("sigma")["accuracy"].transform("median")
    out["threshold"] = fraction * out["median_at_sigma"]
    out["excluded"] = out["accuracy"] < out["threshold"]
    return out


def sem_member_keys(marked: pd.DataFrame, sigmas) -> list[tuple[str, float]]:
    """The ``(arch, sigma)`` members SEM uses: every non-excluded smoothed model at ``sigmas``
    (Table 1's columns); for an architecture with none, its unsmoothed model if not excluded."""
    sigmas = {float(s) for s in sigmas}
    keys = []
    for arch, rows in marked.groupby("arch", sort=False):
        smoothed = rows[(rows.sigma.isin(sigmas)) & ~rows.excluded]
        if len(smoothed):
            keys += [(arch, float(s)) for s in sorted(smoothed.sigma)]
        else:
            plain = rows[(rows.sigma == 0) & ~rows.excluded]
            keys += [(arch, 0.0) for _ in range(len(plain))]
    return keys
