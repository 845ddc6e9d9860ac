"""ResNet18/34/50 in their CIFAR form.

Reference: kuangliu/pytorch-cifar ``models/resnet.py`` (He et al. 2016 with a 3x3 stride-1
stem and no max-pool for 32x32 inputs). Parameter counts at width 1, 10 classes:
ResNet18 11,173,962; ResNet34 21,282,122; ResNet50 23,520,842. These equal torchvision's
``resnet18/34/50(num_classes=10)`` once its 7x7 stem is swapped for a 3x3 convolution and its
max-pool removed (checked in the tests). ``width`` scales every channel count.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from ._layers import scaled


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False),
                                          nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        out_planes = self.expansion * planes
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != out_planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, out_planes, 1, stride, bias=False),
                                          nn.BatchNorm2d(out_planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """CIFAR ResNet. Input ``[N, C, H, W]`` (normalized), output logits ``[N, K]``."""

    def __init__(self, block, num_blocks, num_classes: int, in_channels: int, width: float):
        super().__init__()
        planes = [scaled(p, width) for p in (64, 128, 256, 512)]
        self.in_planes = planes[0]
        self.conv1 = nn.Conv2d(in_channels, planes[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes[0])
        self.layer1 = self._make_layer(block, planes[0], num_blocks[0], 1)
        self.layer2 = self._make_layer(block, planes[1], num_blocks[1], 2)
        self.layer3 = self._make_layer(block, planes[2], num_blocks[2], 2)
        self.layer4 = self._make_layer(block, planes[3], num_blocks[3], 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(planes[3] * block.expansion, num_classes)

    def _make_layer(self, block, planes, n, stride):
        layers = []
        for s in [stride] + [1] * (n - 1):
            layers.append(block(self.in_planes, planes, s))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.linear(self.pool(out).flatten(1))


def resnet18(num_classes: int, in_channels: int, width: float) -> ResNet:
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes, in_channels, width)


def resnet34(num_classes: int, in_channels: int, width: float) -> ResNet:
    return ResNet(BasicBlock, (3, 4, 6, 3), num_classes, in_channels, width)


def resnet50(num_classes: int, in_channels: int, width: float) -> ResNet:
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes, in_channels, width)
