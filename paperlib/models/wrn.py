"""Wide ResNet WRN-d-k (Zagoruyko & Komodakis, BMVC 2016), CIFAR form.

Reference: the paper's Table 1 structure (conv 16, three groups of ``(d-4)/6`` pre-activation
basic blocks of widths 16k, 32k, 64k, BN-ReLU-global pool-linear) as implemented in
bearpaw/pytorch-classification ``models/cifar/wrn.py``. WRN-28-10 has 36.5 M parameters (the
paper's Table 1 / bearpaw: 36,479,194 for 10 classes). ``dropout`` between the two convolutions
of each block (0.3 in the paper's best CIFAR runs; default 0 here). ``width`` multiplies the
16/32/64 base widths on top of ``widen_factor``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from ._layers import scaled


class WideBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, dropout: float):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.dropout = dropout
        self.shortcut = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride, bias=False)

    def forward(self, x):
        o = F.relu(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(o)
        out = self.conv1(o)
        out = F.relu(self.bn2(out))
        if self.dropout > 0:
            out = F.dropout(out, self.dropout, self.training)
        return self.conv2(out) + shortcut


class WideResNet(nn.Module):
    """Input ``[N, C, 32, 32]`` (normalized), output logits ``[N, K]``."""

    def __init__(self, depth: int, widen_factor: int, num_classes: int, in_channels: int,
                 width: float = 1.0, dropout: float = 0.0):
        super().__init__()
        if (depth - 4) % 6 != 0 or depth < 10:
            raise ValueError(f"wrn depth must be 6n+4 (e.g. 16, 22, 28, 40), got {depth}")
        n = (depth - 4) // 6
        w = [scaled(16, width)] + [scaled(b * widen_factor, width) for b in (16, 32, 64)]
        self.conv1 = nn.Conv2d(in_channels, w[0], 3, 1, 1, bias=False)
        blocks, c = [], w[0]
        for g, stride in zip(range(1, 4), (1, 2, 2)):
            for i in range(n):
                blocks.append(WideBlock(c, w[g], stride if i == 0 else 1, dropout))
                c = w[g]
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(c)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        out = self.blocks(self.conv1(x))
        out = F.relu(self.bn(out))
        return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))


def wrn(num_classes, in_channels, width, *, depth: int = 28, widen_factor: int = 10, dropout: float = 0.0):
    return WideResNet(depth, widen_factor, num_classes, in_channels, width, dropout)


def wrn28_10(num_classes, in_channels, width, *, dropout: float = 0.0):
    return WideResNet(28, 10, num_classes, in_channels, width, dropout)


ARCHS = {"wrn": (wrn, "dataset"), "wrn28_10": (wrn28_10, "dataset")}
