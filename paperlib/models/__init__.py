"""Model registry: one ``build(arch, num_classes, ...)`` for every architecture of the papers.

Every model takes pixels in [0, 1] (``[N, C, H, W]`` float) and normalizes inside ``forward``
with registered buffers (:class:`~paperlib.models.normalization.ImageClassifier`). Weights are
initialized from ``make_generator(seed, "init", arch)``, never from the global RNG, so the same
``(arch, options, seed)`` gives the same weights on every run.

Each family module names the reference implementation it follows and its parameter count at
full width; ``docs/models_and_training.md`` collects them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .. import cpu_runtime
from ..seeding import make_generator
from . import cw, lenet, resnet
from .init import init_weights
from .normalization import ImageClassifier, Normalize, default_stats


# Every process that builds a model (training, evaluation, attacks) gets the CPU settings of
# paperlib.cpu_runtime: denormals flushed, and an allocator that does not page-fault every pass.
cpu_runtime.apply()


@dataclass(frozen=True)
class _Entry:
    factory: Callable[..., nn.Module]
    # "dataset": CIFAR-10/MNIST statistics by channel count; "identity": mean 0, std 1 (the
    # network sees raw [0, 1] pixels, as RSE's code does, so its sigma is in pixel units).
    default_norm: str = "dataset"


_REGISTRY: dict[str, _Entry] = {
    "resnet18": _Entry(resnet.resnet18),
    "resnet34": _Entry(resnet.resnet34),
    "resnet50": _Entry(resnet.resnet50),
    "lenet5": _Entry(lenet.lenet5),
    "cw_mnist": _Entry(cw.cw_mnist),
    "cw_cifar": _Entry(cw.cw_cifar),
}


def _register_optional() -> None:
    """Families added module by module; each import adds its names to the registry."""
    import importlib

    for mod_name in ("densenet", "wrn", "vgg", "alexnet", "inception", "mobilenet", "resnext",
                     "googlenet", "rse", "stl"):
        try:
            mod = importlib.import_module(f"{__name__}.{mod_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{mod_name}":
                continue
            raise
        for arch, (factory, norm) in mod.ARCHS.items():
            _REGISTRY[arch] = _Entry(factory, norm)


_register_optional()

ARCHITECTURES: tuple[str, ...] = tuple(sorted(_REGISTRY))


def build(arch: str, num_classes: int, in_channels: int = 3, width: float = 1.0, *,
          seed: int = 0, device: torch.device | str | None = None,
          mean=None, std=None, **options) -> ImageClassifier:
    """Build a registered architecture, initialized from the ``(seed, "init", arch)`` stream.

    Args:
        arch: a name of :data:`ARCHITECTURES` (lower case).
        num_classes: number of output logits ``K``.
        in_channels: input channels ``C`` (3 for CIFAR-10/STL-10, 1 for MNIST).
        width: channel multiplier (1.0 = the reference network; 0.25 = a quarter of the
            channels in every layer, the default profile's narrow version).
        seed: base seed of the weight initialization.
        device: where to put the model; ``"meta"`` builds a shape-only model (no init), handy
            for counting parameters of large networks.
        mean, std: per-channel input statistics; default CIFAR-10's for 3 channels, MNIST's
            (0.1307, 0.3081) for 1 channel, and (0, 1) for the RSE models.
        **options: family options (``dropout``, ``depth``/``widen_factor`` for ``wrn``,
            ``noise_init``/``noise_inner`` for RSE models, ``image_size``...), and for every
            family ``logit_scale`` (the logits times this number: temperature-``T`` networks,
            see :class:`~paperlib.models.normalization.ImageClassifier`).

    Returns:
        An :class:`ImageClassifier`: ``[N, C, H, W]`` pixels in [0, 1] -> logits ``[N, K]``.

    Raises:
        ValueError: unknown ``arch``, impossible sizes, or an option the family does not take.
    """
    if not isinstance(arch, str) or arch.lower() not in _REGISTRY:
        raise ValueError(f"unknown architecture {arch!r}; registered: {', '.join(ARCHITECTURES)}")
    arch = arch.lower()
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    if not isinstance(in_channels, int) or isinstance(in_channels, bool) or in_channels < 1:
        raise ValueError(f"in_channels must be a positive int, got {in_channels!r}")
    if not isinstance(width, (int, float)) or isinstance(width, bool) or not width > 0:
        raise ValueError(f"width must be a positive number, got {width!r}")
    entry = _REGISTRY[arch]
    if mean is None or std is None:
        if entry.default_norm == "identity":
            d_mean, d_std = (0.0,) * in_channels, (1.0,) * in_channels
        else:
            d_mean, d_std = default_stats(in_channels)
        mean = d_mean if mean is None else mean
        std = d_std if std is None else std
    if len(mean) != in_channels or len(std) != in_channels:
        raise ValueError(f"mean/std must have in_channels={in_channels} entries, got {mean}, {std}")

    logit_scale = options.pop("logit_scale", 1.0)
    if not isinstance(logit_scale, (int, float)) or isinstance(logit_scale, bool) or not logit_scale > 0:
        raise ValueError(f"logit_scale must be a positive number, got {logit_scale!r}")
    with torch.device("meta"):
        try:
            net = entry.factory(num_classes, in_channels, float(width), **options)
        except TypeError as exc:
            raise ValueError(f"architecture {arch!r} rejected options {sorted(options)}: {exc}") from exc
        model = ImageClassifier(net, Normalize(mean, std), arch=arch, num_classes=num_classes,
                                in_channels=in_channels, width=float(width), logit_scale=logit_scale)
    if device is not None and torch.device(device).type == "meta":
        return model
    model = model.to_empty(device=device or "cpu")
    init_weights(model, make_generator(seed, "init", arch))
    return model


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (works on meta-device models)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["ARCHITECTURES", "build", "count_parameters", "ImageClassifier", "Normalize",
           "init_weights", "default_stats"]
