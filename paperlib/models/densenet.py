"""DenseNet-BC: DenseNet100 (CIFAR design) and DenseNet121/161/169 (ImageNet design, CIFAR stem).

References and parameter counts at width 1, 10 classes:
  - ``densenet100``: DenseNet-BC (L=100, k=12) of Huang et al. (2017), Sec. 3 "Implementation
    details" (three dense blocks of 16 bottleneck layers, 2k initial channels, compression 0.5),
    as in bearpaw/pytorch-classification ``models/cifar/densenet.py``: 0.77 M (769,162).
    Option ``depth`` (default 100) gives the shallower DenseNet-BC of the same design
    (``(depth - 4) // 6`` layers per block), e.g. ``depth=40`` for CPU profiles.
  - ``densenet121/161/169``: huyvnphan/PyTorch_CIFAR10 ``cifar10_models/densenet.py``
    (torchvision's DenseNet with a 3x3 stride-1 first convolution): 6.956 M, 26.483 M,
    12.493 M (its README); equal to torchvision's ``densenet121/161/169(num_classes=10)`` with
    the 7x7 stem swapped for a 3x3 convolution (checked in the tests).
``width`` scales the growth rate and the initial channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._layers import scaled


class DenseLayer(nn.Module):
    """BN-ReLU-Conv1x1(bn_size*k)-BN-ReLU-Conv3x3(k), output concatenated to the input."""

    def __init__(self, c_in: int, growth: int, bn_size: int, drop_rate: float):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, bn_size * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)
        self.drop_rate = drop_rate

    def forward(self, x):
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        if self.drop_rate > 0:
            out = F.dropout(out, self.drop_rate, self.training)
        return torch.cat([x, out], 1)


class Transition(nn.Sequential):
    def __init__(self, c_in: int, c_out: int):
        super().__init__(nn.BatchNorm2d(c_in), nn.ReLU(inplace=True),
                         nn.Conv2d(c_in, c_out, 1, bias=False), nn.AvgPool2d(2, 2))


class DenseNet(nn.Module):
    """Generic DenseNet-BC. Input ``[N, C, H, W]`` (normalized), output logits ``[N, K]``."""

    def __init__(self, blocks, growth: int, init_features: int, num_classes: int, in_channels: int,
                 bn_size: int = 4, compression: float = 0.5, drop_rate: float = 0.0,
                 stem_pool: bool = False):
        super().__init__()
        layers = [nn.Conv2d(in_channels, init_features, 3, padding=1, bias=False)]
        if stem_pool:
            layers += [nn.BatchNorm2d(init_features), nn.ReLU(inplace=True),
                       nn.MaxPool2d(3, stride=2, padding=1)]
        c = init_features
        for i, n in enumerate(blocks):
            for _ in range(n):
                layers.append(DenseLayer(c, growth, bn_size, drop_rate))
                c += growth
            if i != len(blocks) - 1:
                c_out = int(c * compression)
                layers.append(Transition(c, c_out))
                c = c_out
        layers += [nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x))


def densenet100(num_classes, in_channels, width, *, depth: int = 100, growth: int = 12,
                drop_rate: float = 0.0):
    """DenseNet-BC for CIFAR (Huang et al. 2017): 3 blocks of ``(depth - 4) // 6`` bottleneck
    layers (two convolutions each, plus the stem, 2 transitions and the classifier: ``depth``
    layers). ``depth`` 100 is the reference (16 per block); a shallower one (e.g. 40, 6 per
    block) lets a CPU profile keep the architecture family."""
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 10 or (depth - 4) % 6:
        raise ValueError(f"densenet100: depth must be an int >= 10 with (depth - 4) % 6 == 0 "
                         f"(DenseNet-BC), got depth={depth!r}")
    k = scaled(growth, width)
    n = (depth - 4) // 6
    return DenseNet((n, n, n), k, 2 * k, num_classes, in_channels, drop_rate=drop_rate)


def _imagenet_style(blocks, growth, init):
    def build(num_classes, in_channels, width, *, drop_rate: float = 0.0):
        # huyvnphan keeps torchvision's stem BN-ReLU-MaxPool after the 3x3 convolution.
        return DenseNet(blocks, scaled(growth, width), scaled(init, width), num_classes, in_channels,
                        drop_rate=drop_rate, stem_pool=True)

    return build


ARCHS = {
    "densenet100": (densenet100, "dataset"),
    "densenet121": (_imagenet_style((6, 12, 24, 16), 32, 64), "dataset"),
    "densenet161": (_imagenet_style((6, 12, 36, 24), 48, 96), "dataset"),
    "densenet169": (_imagenet_style((6, 12, 32, 32), 32, 64), "dataset"),
}
