"""Per-channel input normalization inside the model, and the wrapper every registered model uses.

Contract of every model built by :func:`paperlib.models.build`: it takes pixels in [0, 1]
(float tensor ``[N, C, H, W]``) and normalizes them inside ``forward`` with buffers
registered on the module, so attacks and defenses work in pixel units and the statistics
travel with the checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
MNIST_MEAN = (0.1307,)
MNIST_STD = (0.3081,)


def default_stats(in_channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Default ``(mean, std)``: CIFAR-10's for 3 channels, MNIST's for 1 channel."""
    if in_channels == 3:
        return CIFAR10_MEAN, CIFAR10_STD
    if in_channels == 1:
        return MNIST_MEAN, MNIST_STD
    return (0.5,) * in_channels, (0.5,) * in_channels


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel; ``x`` in [0, 1], shape ``[N, C, H, W]``.

    ``mean``/``std`` are kept as Python tuples too, so the buffers can be re-filled after a
    model is materialized from the meta device (see :meth:`reset_buffers`).
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        mean = tuple(float(m) for m in mean)
        std = tuple(float(s) for s in std)
        if len(mean) != len(std):
            raise ValueError(f"mean has {len(mean)} channels but std has {len(std)}")
        if any(s <= 0 for s in std):
            raise ValueError(f"std must be positive, got {std}")
        self.mean_values, self.std_values = mean, std
        self.register_buffer("mean", torch.empty(1, len(mean), 1, 1))
        self.register_buffer("std", torch.empty(1, len(std), 1, 1))
        self.reset_buffers()

    def reset_buffers(self) -> None:
        with torch.no_grad():
            if self.mean.device.type != "meta":
                self.mean.copy_(torch.tensor(self.mean_values).view(1, -1, 1, 1))
                self.std.copy_(torch.tensor(self.std_values).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean_values}, std={self.std_values}"


class ImageClassifier(nn.Module):
    """``net(normalize(x))``: pixels in [0, 1] ``[N, C, H, W]`` -> logits ``[N, num_classes]``.

    ``arch``, ``num_classes``, ``in_channels`` and ``width`` are recorded as plain attributes
    so downstream code can describe the model without re-parsing options.

    ``logit_scale`` (default 1) multiplies the logits: the network of a temperature-``T``
    experiment (defensive distillation, Liang & Samavi's ``T_l = 10 l``) built with
    ``logit_scale = T``. Training with the loss at temperature ``T`` then sees ``T * g / T = g``,
    so it learns at the ``T = 1`` pace, while the deployed network's logits are ``T`` times
    larger, as those of a network trained long enough at ``T`` become. Without it a short run at
    ``T = 20`` or more stays at chance: dividing the logits by ``T`` divides every gradient by
    ``T``, and scaling the learning rate by ``T`` instead diverges (measured: loss NaN at
    ``T = 500``). The scale is part of the attacked model (an architecture change, recorded as a
    deviation by the callers).
    """

    def __init__(self, net: nn.Module, normalize: Normalize, *, arch: str, num_classes: int,
                 in_channels: int, width: float, logit_scale: float = 1.0):
        super().__init__()
        self.normalize = normalize
        self.net = net
        self.arch, self.num_classes, self.in_channels, self.width = arch, num_classes, in_channels, width
        self.logit_scale = float(logit_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.net(self.normalize(x))
        return z * self.logit_scale if self.logit_scale != 1.0 else z
