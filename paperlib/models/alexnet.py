"""AlexNet in its CIFAR form.

Reference: bearpaw/pytorch-classification ``models/cifar/alexnet.py`` (the SEM paper's 77.2%
matches that repository's CIFAR-10 AlexNet): five convolutions (64@11x11 stride 4 padding 5,
192@5x5, 384, 256, 256 @3x3), max-pools after the 1st, 2nd and 5th, one linear layer
``256 -> K``. Parameter count at width 1, 10 classes: 2.47 M (2,472,266).
"""

from __future__ import annotations

from torch import nn

from ._layers import scaled


class AlexNet(nn.Module):
    """Input ``[N, C, 32, 32]`` (normalized), output logits ``[N, K]``."""

    def __init__(self, num_classes: int, in_channels: int, width: float):
        super().__init__()
        c = [scaled(v, width) for v in (64, 192, 384, 256, 256)]
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c[0], 11, stride=4, padding=5), nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(c[0], c[1], 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2),
            nn.Conv2d(c[1], c[2], 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c[2], c[3], 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c[3], c[4], 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)  # 32x32 input: already 1x1, keeps other sizes valid
        self.classifier = nn.Linear(c[4], num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


def alexnet(num_classes, in_channels, width):
    return AlexNet(num_classes, in_channels, width)


ARCHS = {"alexnet": (alexnet, "dataset")}
