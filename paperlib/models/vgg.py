"""VGG11/13/16/19 with batch normalization, CIFAR-10 form.

Reference: huyvnphan/PyTorch_CIFAR10 ``cifar10_models/vgg.py`` (torchvision's VGG adapted to
32x32; the SEM paper's Table 1 accuracies match this repository's), with the classifier
``512 -> 4096 -> 4096 -> K`` (dropout 0.5) after a 1x1 average pool. Parameter counts at width 1,
10 classes (its README): vgg11_bn 28.150 M, vgg13_bn 28.334 M, vgg16_bn 33.647 M,
vgg19_bn 38.959 M. ``width`` scales the convolutions and the 4096-unit hidden layers. Option ``activation="brelu"``
(with ``brelu_threshold``, default 1) replaces every ReLU, the classifier's too, by the bounded ReLU
``min(max(0, x), t)`` (RSE's "Robust Opt. + BReLU" baseline, Zantedeschi et al. 2017); the default
``"relu"`` builds the same network as before the option existed.
"""

from __future__ import annotations

from torch import nn

from ._layers import activation_module, scaled

CFGS = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}


def make_features(cfg, in_channels: int, width: float, activation: str = "relu",
                  brelu_threshold: float = 1.0) -> tuple[nn.Sequential, int]:
    """Conv3x3-BN-activation stack with 2x2 max-pools at ``"M"``; returns (layers, out channels)."""
    layers, c = [], in_channels
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            out = scaled(v, width)
            layers += [nn.Conv2d(c, out, 3, padding=1), nn.BatchNorm2d(out),
                       activation_module(activation, brelu_threshold)]
            c = out
    return nn.Sequential(*layers), c


class VGG(nn.Module):
    """Input ``[N, C, 32, 32]`` (normalized), output logits ``[N, K]``."""

    def __init__(self, cfg, num_classes: int, in_channels: int, width: float, hidden: int = 4096,
                 dropout: float = 0.5, activation: str = "relu", brelu_threshold: float = 1.0):
        super().__init__()
        self.features, c = make_features(cfg, in_channels, width, activation, brelu_threshold)
        h = scaled(hidden, width)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c, h), activation_module(activation, brelu_threshold), nn.Dropout(dropout),
            nn.Linear(h, h), activation_module(activation, brelu_threshold), nn.Dropout(dropout),
            nn.Linear(h, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)))


def _factory(name):
    def build(num_classes, in_channels, width, *, hidden: int = 4096, dropout: float = 0.5,
              activation: str = "relu", brelu_threshold: float = 1.0):
        return VGG(CFGS[name], num_classes, in_channels, width, hidden, dropout, activation, brelu_threshold)

    build.__name__ = name
    return build


ARCHS = {name: (_factory(name), "dataset") for name in CFGS}
