"""Inception v3 (Szegedy et al. 2016), CIFAR form.

Reference: huyvnphan/PyTorch_CIFAR10 ``cifar10_models/inception.py``: torchvision's
Inception3 without the auxiliary head, the five-convolution stem replaced by one 3x3
stride-1 convolution to 192 channels, then Mixed_5b ... Mixed_7c unchanged (32 -> 15 -> 7
spatially). Parameter count at width 1, 10 classes: 21.640 M (its README); equal to
torchvision's ``inception_v3(aux_logits=False, init_weights=False, num_classes=10)`` with the
stem replaced the same way (checked in the tests). ``width`` scales every channel count.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._layers import scaled


class BasicConv(nn.Sequential):
    def __init__(self, c_in, c_out, k, stride=1, padding=0):
        super().__init__(nn.Conv2d(c_in, c_out, k, stride, padding, bias=False),
                         nn.BatchNorm2d(c_out, eps=0.001), nn.ReLU(inplace=True))


class InceptionA(nn.Module):
    def __init__(self, c_in, pool_features, s):
        super().__init__()
        self.b1 = BasicConv(c_in, s(64), 1)
        self.b5 = nn.Sequential(BasicConv(c_in, s(48), 1), BasicConv(s(48), s(64), 5, padding=2))
        self.b3 = nn.Sequential(BasicConv(c_in, s(64), 1), BasicConv(s(64), s(96), 3, padding=1),
                                BasicConv(s(96), s(96), 3, padding=1))
        self.bp = BasicConv(c_in, pool_features, 1)
        self.out_channels = s(64) + s(64) + s(96) + pool_features

    def forward(self, x):
        pool = self.bp(F.avg_pool2d(x, 3, 1, 1))
        return torch.cat([self.b1(x), self.b5(x), self.b3(x), pool], 1)


class InceptionB(nn.Module):
    def __init__(self, c_in, s):
        super().__init__()
        self.b3 = BasicConv(c_in, s(384), 3, stride=2)
        self.b3dbl = nn.Sequential(BasicConv(c_in, s(64), 1), BasicConv(s(64), s(96), 3, padding=1),
                                   BasicConv(s(96), s(96), 3, stride=2))
        self.out_channels = s(384) + s(96) + c_in

    def forward(self, x):
        return torch.cat([self.b3(x), self.b3dbl(x), F.max_pool2d(x, 3, 2)], 1)


class InceptionC(nn.Module):
    def __init__(self, c_in, c7, s):
        super().__init__()
        self.b1 = BasicConv(c_in, s(192), 1)
        self.b7 = nn.Sequential(BasicConv(c_in, c7, 1), BasicConv(c7, c7, (1, 7), padding=(0, 3)),
                                BasicConv(c7, s(192), (7, 1), padding=(3, 0)))
        self.b7dbl = nn.Sequential(
            BasicConv(c_in, c7, 1), BasicConv(c7, c7, (7, 1), padding=(3, 0)),
            BasicConv(c7, c7, (1, 7), padding=(0, 3)), BasicConv(c7, c7, (7, 1), padding=(3, 0)),
            BasicConv(c7, s(192), (1, 7), padding=(0, 3)))
        self.bp = BasicConv(c_in, s(192), 1)
        self.out_channels = 4 * s(192)

    def forward(self, x):
        pool = self.bp(F.avg_pool2d(x, 3, 1, 1))
        return torch.cat([self.b1(x), self.b7(x), self.b7dbl(x), pool], 1)


class InceptionD(nn.Module):
    def __init__(self, c_in, s):
        super().__init__()
        self.b3 = nn.Sequential(BasicConv(c_in, s(192), 1), BasicConv(s(192), s(320), 3, stride=2))
        self.b7 = nn.Sequential(
            BasicConv(c_in, s(192), 1), BasicConv(s(192), s(192), (1, 7), padding=(0, 3)),
            BasicConv(s(192), s(192), (7, 1), padding=(3, 0)), BasicConv(s(192), s(192), 3, stride=2))
        self.out_channels = s(320) + s(192) + c_in

    def forward(self, x):
        return torch.cat([self.b3(x), self.b7(x), F.max_pool2d(x, 3, 2)], 1)


class InceptionE(nn.Module):
    def __init__(self, c_in, s):
        super().__init__()
        self.b1 = BasicConv(c_in, s(320), 1)
        self.b3_1 = BasicConv(c_in, s(384), 1)
        self.b3_2a = BasicConv(s(384), s(384), (1, 3), padding=(0, 1))
        self.b3_2b = BasicConv(s(384), s(384), (3, 1), padding=(1, 0))
        self.b3dbl_1 = nn.Sequential(BasicConv(c_in, s(448), 1), BasicConv(s(448), s(384), 3, padding=1))
        self.b3dbl_3a = BasicConv(s(384), s(384), (1, 3), padding=(0, 1))
        self.b3dbl_3b = BasicConv(s(384), s(384), (3, 1), padding=(1, 0))
        self.bp = BasicConv(c_in, s(192), 1)
        self.out_channels = s(320) + 4 * s(384) + s(192)

    def forward(self, x):
        b3 = self.b3_1(x)
        b3d = self.b3dbl_1(x)
        pool = self.bp(F.avg_pool2d(x, 3, 1, 1))
        return torch.cat([self.b1(x), self.b3_2a(b3), self.b3_2b(b3), self.b3dbl_3a(b3d),
                          self.b3dbl_3b(b3d), pool], 1)


class InceptionV3(nn.Module):
    """Input ``[N, C, 32, 32]`` (normalized), output logits ``[N, K]``."""

    def __init__(self, num_classes: int, in_channels: int, width: float, dropout: float = 0.5):
        super().__init__()

        def s(c):
            return scaled(c, width)

        blocks = [BasicConv(in_channels, s(192), 3, padding=1)]
        c = s(192)
        for make in (lambda c: InceptionA(c, s(32), s), lambda c: InceptionA(c, s(64), s),
                     lambda c: InceptionA(c, s(64), s), lambda c: InceptionB(c, s),
                     lambda c: InceptionC(c, s(128), s), lambda c: InceptionC(c, s(160), s),
                     lambda c: InceptionC(c, s(160), s), lambda c: InceptionC(c, s(192), s),
                     lambda c: InceptionD(c, s), lambda c: InceptionE(c, s), lambda c: InceptionE(c, s)):
            block = make(c)
            blocks.append(block)
            c = block.out_channels
        self.features = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.fc(self.dropout(self.features(x).mean((2, 3))))


def inceptionv3(num_classes, in_channels, width, *, dropout: float = 0.5):
    return InceptionV3(num_classes, in_channels, width, dropout)


ARCHS = {"inceptionv3": (inceptionv3, "dataset")}
