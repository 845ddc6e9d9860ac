"""Where a trained network lives and how it comes back: one layout and one loader for every
paper's zoo.

A trained network is a directory holding

* ``model.pt`` -- its ``state_dict`` (written by :func:`paperlib.train.train`, loaded with
  ``weights_only=True``);
* ``history.json`` -- the engine's per-epoch record with the resolved config and seed;
* ``train_info.json`` (optional) -- what the training notebook adds: profile, deviations from
  the paper's setting, images used.

Papers choose where the directories go (SEM: ``<root>/<arch>/sigma_<s>``, see
:mod:`paperlib.sem.collection`); this module only needs the directory and the architecture
(name, width, family options) that was trained, since a state dict does not say which network
it belongs to.

Loaded networks are for evaluation and attack: eval mode, frozen (no parameter gradients, so an
attack's input gradient builds no weight graph) and weights in channels_last. Inputs stay NCHW;
convolutions then run channels_last, which evaluates the default profile's networks 1.2-2.3x
faster on a CPU (Monte Carlo prediction, one thread: GoogLeNet 18.5 -> 8.2 s, DenseNet121
4.9 -> 2.7 s). A caller that fine-tunes a loaded network turns gradients back on
(``.requires_grad_(True)``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from ..models import build
from ..train import load_checkpoint
from ..train.checkpoint import HISTORY_NAME, MODEL_NAME

MODEL_FILE = MODEL_NAME          # "model.pt"
HISTORY_FILE = HISTORY_NAME      # "history.json"
INFO_FILE = "train_info.json"


@dataclass
class TrainedModel:
    """A loaded network and its record.

    ``model``: eval mode, frozen, channels_last weights. ``directory``: where it was read from.
    ``history``: the parsed ``history.json`` (``None`` if the directory has none).
    ``train_info``: the parsed ``train_info.json`` (``None`` if absent).
    """

    model: nn.Module
    directory: Path
    history: dict | None
    train_info: dict | None


def build_model(arch: str, num_classes: int, *, in_channels: int = 3, width: float = 1.0,
                options: Mapping[str, Any] | None = None, seed: int = 0,
                device: torch.device | str | None = None) -> nn.Module:
    """The untrained registry network ``arch`` (:func:`paperlib.models.build`) at ``width`` with
    family ``options`` (e.g. ``{"dropout": 0.3}``), initialized from the ``(seed, "init", arch)``
    stream. ``device="meta"`` gives a shape-only network (to count parameters). Maps
    ``(N, in_channels, H, W)`` pixels in [0, 1] to logits ``(N, num_classes)``."""
    return build(arch, num_classes, in_channels=in_channels, width=width, seed=seed, device=device,
                 **dict(options or {}))


def freeze(net: nn.Module, device: torch.device | str | None = None) -> nn.Module:
    """``net`` (in place) on ``device`` (unchanged if ``None``) with channels_last weights, in
    eval mode, without parameter gradients."""
    kw = {"memory_format": torch.channels_last}
    if device is not None:
        kw["device"] = device
    return net.to(**kw).eval().requires_grad_(False)


def load_weights(net: nn.Module, directory: str | Path, *, what: str,
                 device: torch.device | str | None = None) -> nn.Module:
    """Load ``<directory>/model.pt`` into ``net`` (strictly: every key, every shape) and
    :func:`freeze` it.

    ``what`` names the network in errors (e.g. ``"architecture 'vgg11' (width 0.25)"``).
    Raises FileNotFoundError naming the missing ``model.pt``; ValueError naming the directory
    and ``what`` when the state dict does not fit ``net`` (wrong architecture, width or options).
    """
    path = Path(directory) / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no trained model at {path}")
    state = load_checkpoint(path)
    try:
        net.load_state_dict(state)
    except RuntimeError as err:  # missing/unexpected keys or shape mismatches
        first = str(err).strip().splitlines()
        raise ValueError(f"{directory}: model.pt does not fit {what} "
                         f"({first[0] if first else 'state dict mismatch'} ...)") from err
    return freeze(net, device)


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err


def read_record(directory: str | Path) -> tuple[dict | None, dict | None]:
    """``(history, train_info)`` of a trained network's directory, each ``None`` if absent;
    ValueError naming the file if one is not valid JSON."""
    d = Path(directory)
    return _read_json(d / HISTORY_FILE), _read_json(d / INFO_FILE)


def describe_arch(arch: str, width: float = 1.0, options: Mapping[str, Any] | None = None) -> str:
    """``architecture 'vgg11' (width 0.25, options {...})``: how errors name a network."""
    opts = f", options {dict(options)}" if options else ""
    return f"architecture {arch!r} (width {width:g}{opts})"


def load_trained(directory: str | Path, arch: str, num_classes: int, *, in_channels: int = 3,
                 width: float = 1.0, options: Mapping[str, Any] | None = None,
                 device: torch.device | str = "cpu") -> TrainedModel:
    """The network trained in ``directory`` and its record.

    ``arch``, ``width``, ``options``, ``num_classes``, ``in_channels``: the network that was
    trained there (its params entry). Raises FileNotFoundError naming ``model.pt`` if it is
    missing; ValueError naming ``directory`` and ``arch`` if the weights do not fit.
    """
    net = build_model(arch, num_classes, in_channels=in_channels, width=width, options=options)
    net = load_weights(net, directory, what=describe_arch(arch, width, options), device=device)
    history, info = read_record(directory)
    return TrainedModel(net, Path(directory), history, info)
