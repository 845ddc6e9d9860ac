"""MobileNetV2 (Sandler et al. 2018), CIFAR form.

Reference: huyvnphan/PyTorch_CIFAR10 ``cifar10_models/mobilenetv2.py``: torchvision's
MobileNetV2 with the first convolution and the second stage at stride 1 for 32x32 inputs.
Parameter count at width 1, 10 classes: 2.237 M, identical to torchvision's
``mobilenet_v2(num_classes=10)`` (strides do not change parameters; checked in the tests).
``width`` scales every channel count, the 1280-channel last layer included.
"""

from __future__ import annotations

from torch import nn

from ._layers import scaled

# t (expansion), c (channels), n (blocks), s (stride of the first block)
SETTING = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
           (6, 160, 3, 2), (6, 320, 1, 1)]


def conv_bn_relu(c_in, c_out, k=3, stride=1, groups=1):
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, stride, (k - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, expand: int):
        super().__init__()
        hidden = int(round(c_in * expand))
        self.residual = stride == 1 and c_in == c_out
        layers = [conv_bn_relu(c_in, hidden, 1)] if expand != 1 else []
        layers += [conv_bn_relu(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(nn.Module):
    """Input ``[N, C, 32, 32]`` (normalized), output logits ``[N, K]``."""

    def __init__(self, num_classes: int, in_channels: int, width: float, dropout: float = 0.2):
        super().__init__()
        c = scaled(32, width)
        layers = [conv_bn_relu(in_channels, c, 3, 1)]
        for t, ch, n, s in SETTING:
            out = scaled(ch, width)
            for i in range(n):
                layers.append(InvertedResidual(c, out, s if i == 0 else 1, t))
                c = out
        last = scaled(1280, width)
        layers.append(conv_bn_relu(c, last, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x).mean((2, 3)))


def mobilenetv2(num_classes, in_channels, width, *, dropout: float = 0.2):
    return MobileNetV2(num_classes, in_channels, width, dropout)


ARCHS = {"mobilenetv2": (mobilenetv2, "dataset")}
