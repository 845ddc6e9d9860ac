"""RSE's noisy networks (Liu et al., ECCV 2018, Fig. 1): a Gaussian noise layer before every
convolution, ``noise_init`` before the first one, ``noise_inner`` before all others.

References (xuanqing94/RobustNet, the authors' code):
  - ``rse_vgg16``: ``models/vgg_rse.py``: VGG16 (kuangliu/pytorch-cifar layout: 13 conv3x3-BN-ReLU,
    five max-pools, one linear layer ``512 -> K``). 14,728,266 parameters at width 1, 10 classes
    (kuangliu's VGG16). The released code puts the *init* noise before the second convolution
    (``if i == 1`` on the config index); we follow the paper, which places it before the first.
  - ``rse_resnext``: ``models/resnext_rse.py``: ResNeXt29_2x64d of kuangliu/pytorch-cifar (1x1
    stem, expansion 2, bottleneck width doubled per stage, noise also before shortcut
    convolutions). 9,128,778 parameters at width 1, 10 classes.
Defaults from the paper's Table 1 / Sec. 4.2 (inputs in [0, 1], no normalization):
VGG16 (0.2, 0.1); ResNeXt (0.1, 0.1). Noise is active in train and eval modes (RSE ensembles
over it at test time); see :mod:`paperlib.models.noise` for its generator.

Option ``activation="brelu"`` (with ``brelu_threshold``, default 1, as in RSE's public code
``models/layer.py``) replaces every ReLU by the bounded ReLU ``min(max(0, x), t)``: with both noise
levels 0 it is the network of RSE's "Robust Opt. + BReLU" baseline (``models/vgg_brelu.py``,
``models/resnext_brelu.py``). The default ``"relu"`` builds the same network as before the option.

:func:`add_noise_layers` applies the same transformation to any network of the registry (the SEM
paper's RSE baseline on DenseNet100, ResNet50 and WRN); :class:`paperlib.defenses.RSEEnsemble`
is RSE's inference (ensemble over the noise).
"""

from __future__ import annotations

import itertools

from torch import nn

from ._layers import activation_function, activation_module, scaled
from .noise import GaussianNoise, noise_layers

VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


class _Noises:
    """Hands out noise layers with distinct indices (their own-generator streams)."""

    def __init__(self, init: float, inner: float, seed: int):
        self.init, self.inner, self.seed = init, inner, seed
        self.counter = itertools.count()

    def __call__(self, first: bool = False) -> GaussianNoise:
        i = next(self.counter)
        return GaussianNoise(self.init if first else self.inner, seed=self.seed, index=i)


class RSEVGG(nn.Module):
    """Input ``[N, C, 32, 32]`` pixels (identity normalization by default), logits ``[N, K]``."""

    def __init__(self, num_classes, in_channels, width, noise_init, noise_inner, noise_seed=0,
                 activation="relu", brelu_threshold=1.0):
        super().__init__()
        noises = _Noises(noise_init, noise_inner, noise_seed)
        layers, c = [], in_channels
        for v in VGG16:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                out = scaled(v, width)
                layers += [noises(first=not layers), nn.Conv2d(c, out, 3, padding=1),
                           nn.BatchNorm2d(out), activation_module(activation, brelu_threshold)]
                c = out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


class RSEResNeXtBlock(nn.Module):
    expansion = 2

    def __init__(self, c_in, cardinality, bottleneck_width, stride, noises, activation="relu", brelu_threshold=1.0):
        super().__init__()
        # F.relu (no module) for the default, a BReLU submodule otherwise
        self.act = activation_function(activation, brelu_threshold)
        gw = cardinality * bottleneck_width
        self.noise1, self.conv1, self.bn1 = noises(), nn.Conv2d(c_in, gw, 1, bias=False), nn.BatchNorm2d(gw)
        self.noise2 = noises()
        self.conv2 = nn.Conv2d(gw, gw, 3, stride, 1, groups=cardinality, bias=False)
        self.bn2 = nn.BatchNorm2d(gw)
        self.noise3 = noises()
        self.conv3 = nn.Conv2d(gw, self.expansion * gw, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(self.expansion * gw)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != self.expansion * gw:
            self.shortcut = nn.Sequential(noises(), nn.Conv2d(c_in, self.expansion * gw, 1, stride, bias=False),
                                          nn.BatchNorm2d(self.expansion * gw))

    def forward(self, x):
        out = self.act(self.bn1(self.conv1(self.noise1(x))))
        out = self.act(self.bn2(self.conv2(self.noise2(out))))
        out = self.bn3(self.conv3(self.noise3(out)))
        return self.act(out + self.shortcut(x))


class RSEResNeXt(nn.Module):
    """Input ``[N, C, 32, 32]`` pixels (identity normalization by default), logits ``[N, K]``."""

    def __init__(self, num_classes, in_channels, width, noise_init, noise_inner, noise_seed=0,
                 cardinality=2, bottleneck_width=64, num_blocks=(3, 3, 3), activation="relu", brelu_threshold=1.0):
        super().__init__()
        self.act = activation_function(activation, brelu_threshold)
        noises = _Noises(noise_init, noise_inner, noise_seed)
        stem = scaled(64, width)
        self.init_noise = noises(first=True)
        self.conv1 = nn.Conv2d(in_channels, stem, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        c, bw, layers = stem, max(1, scaled(bottleneck_width, width)), []
        for stage, n in enumerate(num_blocks):
            for i in range(n):
                layers.append(RSEResNeXtBlock(c, cardinality, bw, (1 if stage == 0 else 2) if i == 0 else 1, noises,
                                              activation, brelu_threshold))
                c = RSEResNeXtBlock.expansion * cardinality * bw
            bw *= 2
        self.layers = nn.Sequential(*layers)
        self.linear = nn.Linear(c, num_classes)

    def forward(self, x):
        out = self.act(self.bn1(self.conv1(self.init_noise(x))))
        return self.linear(self.layers(out).mean((2, 3)))


def add_noise_layers(model: nn.Module, noise_init: float, noise_inner: float, seed: int = 0) -> nn.Module:
    """RSE's transformation (Liu et al. 2018, Fig. 1) applied to any network, in place.

    Every ``nn.Conv2d`` of ``model`` becomes ``nn.Sequential(GaussianNoise(sigma), conv)``:
    ``noise_init`` before the first convolution, ``noise_inner`` before all others, "first" being
    module registration order (forward order for the networks of the registry). Each noise layer
    gets a distinct index, so its own-generator stream ``(seed, "rse-noise", index)`` is distinct.
    This is how the SEM paper's RSE baseline is built on DenseNet100, ResNet50 and WRN.

    Wrapping renames the convolutions' parameters (``conv.weight`` -> ``conv.1.weight``), so the
    state_dict of a transformed model only loads into a model transformed the same way. The
    transformation is deterministic (it depends only on the module structure), so the order is:
    build, transform, then train or load (``build(...)`` -> ``add_noise_layers`` ->
    ``load_state_dict``). Weight initialization is unaffected (noise layers own no parameters).

    Units: registry models normalize inside ``forward`` (:class:`ImageClassifier` with
    ``Normalize``), so the first noise layer acts on *normalized* inputs and ``noise_init`` is in
    units of the normalized input (about pixel sigma / 0.25 for CIFAR-10 statistics). RSE's own
    models (:func:`rse_vgg16`, :func:`rse_resnext`) use identity normalization, so their sigma is
    in pixel units; build with ``mean=(0,)*C, std=(1,)*C`` to get the same here.

    Returns ``model``. Raises ``ValueError`` if ``model`` already has noise layers (an RSE model
    or one transformed before) or no convolution.
    """
    if any(True for _ in noise_layers(model)):
        raise ValueError("add_noise_layers: model already has GaussianNoise layers")
    # Collect first (named_modules order), then replace: the tree must not change while walked.
    convs = [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError("add_noise_layers: model has no nn.Conv2d")
    noises = _Noises(noise_init, noise_inner, seed)
    for i, qualified in enumerate(convs):
        parent_name, _, name = qualified.rpartition(".")
        parent = model.get_submodule(parent_name)
        # setattr keeps the child's position in parent._modules (forward order of Sequentials).
        setattr(parent, name, nn.Sequential(noises(first=i == 0), getattr(parent, name)))
    return model


def rse_vgg16(num_classes, in_channels, width, *, noise_init: float = 0.2, noise_inner: float = 0.1,
              noise_seed: int = 0, activation: str = "relu", brelu_threshold: float = 1.0):
    return RSEVGG(num_classes, in_channels, width, noise_init, noise_inner, noise_seed, activation, brelu_threshold)


def rse_resnext(num_classes, in_channels, width, *, noise_init: float = 0.1, noise_inner: float = 0.1,
                noise_seed: int = 0, cardinality: int = 2, bottleneck_width: int = 64, activation: str = "relu",
                brelu_threshold: float = 1.0):
    return RSEResNeXt(num_classes, in_channels, width, noise_init, noise_inner, noise_seed,
                      cardinality, bottleneck_width, activation=activation, brelu_threshold=brelu_threshold)


ARCHS = {"rse_vgg16": (rse_vgg16, "identity"), "rse_resnext": (rse_resnext, "identity")}
