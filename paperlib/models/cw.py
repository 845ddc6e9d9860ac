"""The Carlini-Wagner CNNs for MNIST and CIFAR-10.

Reference: Carlini & Wagner (2017), "Towards Evaluating the Robustness of Neural Networks",
Table 1, as released in ``carlini/nn_robust_attacks/train_models.py`` and reused by Liang &
Samavi (Table 1a): four 3x3 convolutions (valid padding) with ReLU, a 2x2 max-pool after each
pair, two fully connected layers and the output layer, dropout 0.5 after the first fully
connected layer (as in the released code).

Channels: MNIST (32, 32, 64, 64), FC 200-200; CIFAR-10 (64, 64, 128, 128), FC 256-256.
Parameter counts at width 1: MNIST 312,202; CIFAR-10 1,147,978 (Keras ``model.summary()`` of
the reference code gives the same numbers). Liang & Samavi's transcribed Table 1a lists equal
channels in all four convolutions; the text says the networks are Carlini-Wagner's, which we
follow (pass ``channels=(32, 32, 32, 32)`` to get the table's literal reading).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ._layers import scaled


class CWNet(nn.Module):
    """Carlini-Wagner CNN. Input ``[N, C, H, W]`` (normalized), output logits ``[N, K]``."""

    def __init__(self, num_classes: int, in_channels: int, image_size: int,
                 channels: Sequence[int], hidden: Sequence[int], dropout: float = 0.5):
        super().__init__()
        c1, c2, c3, c4 = channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3), nn.ReLU(inplace=True),
            nn.Conv2d(c1, c2, 3), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(c2, c3, 3), nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, 3), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        side = ((image_size - 4) // 2 - 4) // 2
        h1, h2 = hidden
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c4 * side * side, h1), nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(h1, h2), nn.ReLU(inplace=True),
            nn.Linear(h2, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


def cw_mnist(num_classes: int, in_channels: int, width: float, *, image_size: int = 28,
             channels: Sequence[int] = (32, 32, 64, 64), hidden: Sequence[int] = (200, 200),
             dropout: float = 0.5) -> CWNet:
    return CWNet(num_classes, in_channels, image_size, [scaled(c, width) for c in channels],
                 [scaled(h, width) for h in hidden], dropout)


def cw_cifar(num_classes: int, in_channels: int, width: float, *, image_size: int = 32,
             channels: Sequence[int] = (64, 64, 128, 128), hidden: Sequence[int] = (256, 256),
             dropout: float = 0.5) -> CWNet:
    return CWNet(num_classes, in_channels, image_size, [scaled(c, width) for c in channels],
                 [scaled(h, width) for h in hidden], dropout)
