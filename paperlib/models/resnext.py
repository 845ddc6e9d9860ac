"""ResNeXt-29 (Xie et al., CVPR 2017), CIFAR form.

Reference: the paper's CIFAR design (Sec. 5.3 / Table 7: a 3x3 64-channel stem, three stages of
three bottleneck blocks with output widths 256, 512, 1024, cardinality C and bottleneck width
d at the first stage, doubled per stage) as in bearpaw/pytorch-classification
``models/cifar/resnext.py`` (``widen_factor=4``). ResNeXt-29 8x64d (the default) has 34.4 M
parameters (the paper's Table 7; bearpaw 34.43 M); 16x64d 68.1 M.
``width`` scales every channel count (cardinality fixed). Option ``activation="brelu"`` (with
``brelu_threshold``, default 1) replaces every ReLU by the bounded ReLU ``min(max(0, x), t)`` (RSE's
"Robust Opt. + BReLU" baseline); the default ``"relu"`` builds the same network (same modules,
same outputs) as before the option existed.
"""

from __future__ import annotations

from torch import nn

from ._layers import activation_function, activation_module, scaled


class ResNeXtBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, group_width: int, cardinality: int, stride: int,
                 activation: str = "relu", brelu_threshold: float = 1.0):
        super().__init__()
        # F.relu (no module) for the default, a BReLU submodule otherwise
        self.act = activation_function(activation, brelu_threshold)
        self.conv_reduce = nn.Conv2d(c_in, group_width, 1, bias=False)
        self.bn_reduce = nn.BatchNorm2d(group_width)
        self.conv_group = nn.Conv2d(group_width, group_width, 3, stride, 1, groups=cardinality, bias=False)
        self.bn_group = nn.BatchNorm2d(group_width)
        self.conv_expand = nn.Conv2d(group_width, c_out, 1, bias=False)
        self.bn_expand = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = self.act(self.bn_reduce(self.conv_reduce(x)))
        out = self.act(self.bn_group(self.conv_group(out)))
        out = self.bn_expand(self.conv_expand(out))
        return self.act(out + self.shortcut(x))


class ResNeXt29(nn.Module):
    """Input ``[N, C, 32, 32]`` (normalized), output logits ``[N, K]``."""

    def __init__(self, num_classes: int, in_channels: int, width: float, cardinality: int = 8,
                 base_width: int = 64, blocks_per_stage: int = 3, activation: str = "relu",
                 brelu_threshold: float = 1.0):
        super().__init__()
        stem = scaled(64, width)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, stem, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(stem), activation_module(activation, brelu_threshold))
        layers, c = [], stem
        for stage, (c_out, stride) in enumerate(zip((256, 512, 1024), (1, 2, 2))):
            c_out = scaled(c_out, width)
            # group width a multiple of the cardinality, so grouped convolutions stay valid
            gw = max(cardinality, scaled(cardinality * base_width * 2 ** stage, width) // cardinality * cardinality)
            for i in range(blocks_per_stage):
                layers.append(ResNeXtBlock(c, c_out, gw, cardinality, stride if i == 0 else 1, activation,
                                           brelu_threshold))
                c = c_out
        self.stages = nn.Sequential(*layers)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.fc(self.stages(self.stem(x)).mean((2, 3)))


def resnext(num_classes, in_channels, width, *, cardinality: int = 8, base_width: int = 64,
            activation: str = "relu", brelu_threshold: float = 1.0):
    return ResNeXt29(num_classes, in_channels, width, cardinality, base_width, activation=activation,
                     brelu_threshold=brelu_threshold)


ARCHS = {"resnext": (resnext, "dataset"), "resnext29_8x64d": (resnext, "dataset")}
