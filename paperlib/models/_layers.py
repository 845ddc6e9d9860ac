"""Small helpers shared by the model families: the width multiplier and the activation option
(``activation: relu | brelu``, ``brelu_threshold``) of the networks RSE compares (VGG16, ResNeXt,
their RSE variants and STL-10 Model A)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def scaled(channels: int, width: float) -> int:
    """Channel count ``channels * width``, rounded, at least 1 (the width multiplier)."""
    return max(1, int(round(channels * width)))


ACTIVATIONS = ("relu", "brelu")


class BReLU(nn.Module):
    """Bounded ReLU (Zantedeschi et al., AISec 2017, the RSE paper's reference [40]):
    ``min(max(0, x), t)`` elementwise, any shape; ``t > 0`` (the reference and RSE's public code,
    ``models/layer.py``, use ``t = 1``). Owns no parameters or buffers."""

    def __init__(self, threshold: float = 1.0, inplace: bool = False):
        super().__init__()
        if not (isinstance(threshold, (int, float)) and not isinstance(threshold, bool) and threshold > 0):
            raise ValueError(f"brelu_threshold must be a positive number, got {threshold!r}")
        self.threshold = float(threshold)
        self.inplace = bool(inplace)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.hardtanh(x, 0.0, self.threshold, self.inplace)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}" + (", inplace=True" if self.inplace else "")


def check_activation(activation: str, brelu_threshold: float) -> None:
    """ValueError unless ``activation`` is one of :data:`ACTIVATIONS` and the threshold is positive."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {list(ACTIVATIONS)}, got {activation!r}")
    if not (isinstance(brelu_threshold, (int, float)) and not isinstance(brelu_threshold, bool)
            and brelu_threshold > 0):
        raise ValueError(f"brelu_threshold must be a positive number, got {brelu_threshold!r}")


def activation_module(activation: str = "relu", brelu_threshold: float = 1.0, inplace: bool = True) -> nn.Module:
    """The family option ``activation``: ``"relu"`` -> ``nn.ReLU(inplace)`` (every network's
    default, unchanged), ``"brelu"`` -> :class:`BReLU` with ``brelu_threshold``."""
    check_activation(activation, brelu_threshold)
    return nn.ReLU(inplace=inplace) if activation == "relu" else BReLU(brelu_threshold, inplace=inplace)


def activation_function(activation: str = "relu", brelu_threshold: float = 1.0):
    """The same choice for networks that call their activation functionally (ResNeXt blocks):
    ``F.relu`` itself for ``"relu"``, so that the default networks keep their module tree (the zoo's
    cost estimate counts leaf modules) and their outputs bit for bit; a :class:`BReLU` module for
    ``"brelu"`` (register it as a submodule: it is then part of the tree and the ``repr``)."""
    check_activation(activation, brelu_threshold)
    return F.relu if activation == "relu" else BReLU(brelu_threshold)
