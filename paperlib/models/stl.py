"""RSE's STL-10 "Model A" (Liu et al., ECCV 2018, Sec. 4 and footnote 4).

Reference: xuanqing94/RobustNet ``models/stl10_model_rse.py``, itself aaron-xichen/pytorch-playground's
``stl10`` model with ``n_channel=32``: six conv3x3 layers (32, 64, 128, 128 with padding 1 and a
2x2 max-pool after each; 256, 256 with padding 0, then a max-pool), BatchNorm without affine
parameters, ReLU, one linear layer ``256 -> K``; 96x96 inputs. A noise layer precedes every
convolution (``noise_init`` = 0.2 first, ``noise_inner`` = 0.1 others, Table 1); set both to
0 for the plain model. Parameters at width 1, 10 classes: 1,128,650. Option ``activation="brelu"``
(with ``brelu_threshold``, default 1) replaces every ReLU by the bounded ReLU ``min(max(0, x), t)``
(RSE's ``models/stl10_model_brelu.py``); the default ``"relu"`` is the network as before the option.
"""

from __future__ import annotations

from torch import nn

from ._layers import activation_module, scaled
from .noise import GaussianNoise


class STL10ModelA(nn.Module):
    """Input ``[N, C, 96, 96]`` pixels (identity normalization by default), logits ``[N, K]``."""

    def __init__(self, num_classes, in_channels, width, noise_init=0.2, noise_inner=0.1, noise_seed=0,
                 n_channel=32, activation="relu", brelu_threshold=1.0):
        super().__init__()
        n = scaled(n_channel, width)
        cfg = [(n, 1), "M", (2 * n, 1), "M", (4 * n, 1), "M", (4 * n, 1), "M", (8 * n, 0), (8 * n, 0), "M"]
        layers, c, idx = [], in_channels, 0
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            out, pad = v
            sigma = noise_init if idx == 0 else noise_inner
            layers += [GaussianNoise(sigma, seed=noise_seed, index=idx), nn.Conv2d(c, out, 3, padding=pad),
                       nn.BatchNorm2d(out, affine=False), activation_module(activation, brelu_threshold)]
            c, idx = out, idx + 1
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)  # 96x96 input: already 1x1
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


def stl10_model_a(num_classes, in_channels, width, *, noise_init: float = 0.2, noise_inner: float = 0.1,
                  noise_seed: int = 0, activation: str = "relu", brelu_threshold: float = 1.0):
    return STL10ModelA(num_classes, in_channels, width, noise_init, noise_inner, noise_seed, activation=activation,
                       brelu_threshold=brelu_threshold)


ARCHS = {"stl10_model_a": (stl10_model_a, "identity")}
