"""LeNet5 for 28x28 MNIST, as the CLM paper describes it (Jasser & Garibay, Sec. 1-1).

"Three convolutional layers followed by a fully connected layer", 6 filters of 5x5 in the
first layer (their Fig. 3). We follow LeCun et al. (1998): C1 6@5x5 (padding 2 so 28x28 keeps
LeCun's 32x32 geometry), pool, C3 16@5x5, pool, C5 120@5x5 (1x1 output), F6 84, output layer.
ReLU and max-pooling replace the original tanh and sub-sampling, as in common PyTorch
re-implementations. Parameter count at width 1: 61,706 (LeCun's C1 156 + C3 2,416 with full
connectivity + C5 48,120 + F6 10,164 + output 850). ``fc_hidden=0`` drops F6 (one fully
connected layer after C5, the paper's literal description).
"""

from __future__ import annotations

from torch import nn

from ._layers import scaled


class LeNet5(nn.Module):
    """Input ``[N, C, 28, 28]`` (normalized), output logits ``[N, K]``."""

    def __init__(self, num_classes: int, in_channels: int, width: float = 1.0, fc_hidden: int = 84):
        super().__init__()
        c1, c3, c5 = scaled(6, width), scaled(16, width), scaled(120, width)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(c1, c3, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(c3, c5, 5), nn.ReLU(inplace=True),
        )
        if fc_hidden:
            h = scaled(fc_hidden, width)
            head = [nn.Flatten(), nn.Linear(c5, h), nn.ReLU(inplace=True), nn.Linear(h, num_classes)]
        else:
            head = [nn.Flatten(), nn.Linear(c5, num_classes)]
        self.classifier = nn.Sequential(*head)

    def forward(self, x):
        return self.classifier(self.features(x))


def lenet5(num_classes: int, in_channels: int, width: float, *, fc_hidden: int = 84) -> LeNet5:
    return LeNet5(num_classes, in_channels, width, fc_hidden)
