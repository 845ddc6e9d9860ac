"""GoogLeNet (Inception v1, Szegedy et al. 2015), CIFAR form.

Reference: huyvnphan/PyTorch_CIFAR10 ``cifar10_models/googlenet.py``: torchvision's GoogLeNet
(which uses 3x3 instead of 5x5 convolutions in the third branch, BN after every convolution)
without auxiliary heads, the stem replaced by one 3x3 convolution to 192 channels, and 3x3
stride-2 max-pools with padding 1 between stages. Parameter count at width 1, 10 classes:
its README states 5.491 M; torchvision's ``googlenet(aux_logits=False, num_classes=10)`` with
the same stem replacement (checked in the tests) gives the count below in the docs.
"""

from __future__ import annotations

import torch
from torch import nn

from ._layers import scaled


def basic_conv(c_in, c_out, k, padding=0, stride=1):
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, stride, padding, bias=False),
                         nn.BatchNorm2d(c_out, eps=0.001), nn.ReLU(inplace=True))


class Inception(nn.Module):
    def __init__(self, c_in, ch1, ch3red, ch3, ch5red, ch5, pool_proj):
        super().__init__()
        self.branch1 = basic_conv(c_in, ch1, 1)
        self.branch2 = nn.Sequential(basic_conv(c_in, ch3red, 1), basic_conv(ch3red, ch3, 3, 1))
        self.branch3 = nn.Sequential(basic_conv(c_in, ch5red, 1), basic_conv(ch5red, ch5, 3, 1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), basic_conv(c_in, pool_proj, 1))
        self.out_channels = ch1 + ch3 + ch5 + pool_proj

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


# (ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj) per module; "M" = 3x3/2 max-pool
CFG = [(64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64), "M",
       (192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64),
       (112, 144, 288, 32, 64, 64), (256, 160, 320, 32, 128, 128), "M",
       (256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128)]


class GoogLeNet(nn.Module):
    """Input ``[N, C, 32, 32]`` (normalized), output logits ``[N, K]``."""

    def __init__(self, num_classes: int, in_channels: int, width: float, dropout: float = 0.2):
        super().__init__()
        c = scaled(192, width)
        layers = [basic_conv(in_channels, c, 3, 1)]
        for item in CFG:
            if item == "M":
                layers.append(nn.MaxPool2d(3, 2, 1))
            else:
                block = Inception(c, *[scaled(v, width) for v in item])
                layers.append(block)
                c = block.out_channels
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.fc(self.dropout(self.features(x).mean((2, 3))))


def googlenet(num_classes, in_channels, width, *, dropout: float = 0.2):
    return GoogLeNet(num_classes, in_channels, width, dropout)


ARCHS = {"googlenet": (googlenet, "dataset")}
