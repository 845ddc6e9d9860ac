"""The space a Gaussian noise sigma is measured in, and the one function that adds input noise.

Every model here takes pixels in [0, 1] and normalizes inside ``forward``
(:mod:`paperlib.models.normalization`: ``(x - mean_c) / std_c`` per channel), so noise is always
*added* to pixels. A paper's sigma may nevertheless be meant in one of two spaces:

* ``"pixel"``: ``delta ~ N(0, sigma^2 I)`` on the [0, 1] pixels (Cohen et al. 2019; the default,
  and the only space before this setting existed);
* ``"normalized"``: the noise is added after the normalization, ``Normalize(x) + sigma * z``.
  Since ``Normalize(x + std_c * sigma * z) = (x - mean_c) / std_c + sigma * z``, this equals pixel
  noise of per-channel std ``sigma * std_c`` (CIFAR-10: std_c ~ 0.25, so sigma 1.5 normalized is
  about 0.37-0.39 in pixels). Implementations that feed a normalized tensor to the noisy model
  (a ``transforms.Normalize`` in the data pipeline, noise added in the training loop) use it.

:func:`pixel_noise_std` turns a sigma and its space into the per-channel pixel std;
:func:`add_gaussian_noise` adds noise of a scalar or per-channel std from an explicit generator.
With a scalar std it draws exactly what ``x + std * torch.randn(x.shape, generator=g, ...)`` draws
(the code it replaces), so the pixel default keeps every random stream and result bit for bit.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
from torch import nn

from .normalization import Normalize, default_stats

NOISE_SPACES = ("pixel", "normalized")

Std = float | Sequence[float] | torch.Tensor


def check_noise_space(space: str, key: str = "noise_space") -> str:
    """``space`` if it is one of :data:`NOISE_SPACES`; else ValueError naming ``key``."""
    if space not in NOISE_SPACES:
        raise ValueError(f"{key} must be one of {NOISE_SPACES}, got {space!r}")
    return space


def normalization_std(model: nn.Module) -> tuple[float, ...] | None:
    """The per-channel std of the first :class:`~paperlib.models.normalization.Normalize` layer of
    ``model`` (every registry model has one), or ``None`` if it has none."""
    for module in model.modules():
        if isinstance(module, Normalize):
            return tuple(module.std_values)
    return None


def _channel_std(std) -> tuple[float, ...]:
    """The normalization std per channel from ``None`` / a channel count / a sequence / a model."""
    if std is None:
        return default_stats(3)[1]
    if isinstance(std, nn.Module):
        found = normalization_std(std)
        if found is None:
            raise ValueError(f"{type(std).__name__} has no Normalize layer: pass its normalization std "
                             "or its channel count instead")
        return found
    if isinstance(std, int) and not isinstance(std, bool):
        if std < 1:
            raise ValueError(f"in_channels must be >= 1, got {std!r}")
        return default_stats(std)[1]
    values = _std_values(std, "std")
    if isinstance(values, float) or not all(v > 0 for v in values):
        raise ValueError(f"std must be a sequence of positive per-channel stds, got {std!r}")
    return values


def pixel_noise_std(sigma: float, space: str, std=None) -> tuple[float, ...]:
    """Per-channel std, in pixel units ([0, 1] scale), of Gaussian noise of std ``sigma`` in ``space``.

    ``"pixel"``: ``(sigma,) * C``. ``"normalized"``: ``sigma * std_c`` (see the module docstring).
    ``std`` says the normalization and the channel count ``C``: ``None`` (CIFAR-10's std,
    3 channels), an int ``C`` (:func:`paperlib.models.normalization.default_stats`), a sequence of
    ``C`` positive floats, or a model (the std of its ``Normalize`` layer).
    ValueError for an unknown space, a negative or non-finite sigma, or a bad ``std``.
    """
    check_noise_space(space, "space")
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not math.isfinite(sigma) or sigma < 0:
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")
    channel_std = _channel_std(std)
    if space == "pixel":
        return (float(sigma),) * len(channel_std)
    return tuple(float(sigma) * s for s in channel_std)


def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _std_values(std: Std, name: str = "std") -> float | tuple[float, ...]:
    """``std`` as a float (scalar) or a tuple of floats (per channel), each finite and >= 0."""
    if isinstance(std, torch.Tensor) or (hasattr(std, "ndim") and hasattr(std, "tolist")):  # torch / numpy
        if std.ndim > 1:
            raise ValueError(f"{name} must be a scalar or a 1-D per-channel tensor, got shape {tuple(std.shape)}")
        std = std.tolist()  # a number (0-d) or a list
    if _is_number(std):
        values: float | tuple[float, ...] = float(std)
        check = (values,)
    elif isinstance(std, Sequence) and not isinstance(std, str) and len(std) > 0 and all(map(_is_number, std)):
        values = tuple(float(v) for v in std)
        check = values
    else:
        raise ValueError(f"{name} must be a number or a per-channel sequence of numbers, got {std!r}")
    if not all(math.isfinite(v) and v >= 0 for v in check):
        raise ValueError(f"{name} must be >= 0 and finite, got {std!r}")
    return values


def check_std(std: Std, name: str = "sigma") -> float | tuple[float, ...]:
    """Validate a noise std (scalar or per channel) and return it as a float or a tuple of floats;
    ValueError naming ``name`` otherwise. A per-channel tuple is kept as a tuple even if its
    values are equal (they draw the same noise as the scalar, see :func:`add_gaussian_noise`)."""
    return _std_values(std, name)


def add_gaussian_noise(x: torch.Tensor, std: Std, generator: torch.Generator) -> torch.Tensor:
    """``x + std * z``, ``z ~ N(0, I)`` of ``x``'s shape, drawn with one ``torch.randn`` call from
    ``generator`` on ``x``'s device in ``x``'s dtype (batched: every row gets its own noise).

    ``x``: ``(N, C, ...)``, pixels in [0, 1] (no clipping). ``std``: in pixel units, a float (every
    element) or per channel (a sequence of ``C`` floats or a 1-D tensor, channel dimension 1), e.g.
    from :func:`pixel_noise_std`. A per-channel std whose values are all equal draws and adds
    exactly what the scalar does; an all-zero std returns ``x`` itself and draws nothing (the
    generator is not advanced), as the code before it did for ``sigma = 0``.
    """
    values = _std_values(std)
    if isinstance(values, tuple):
        if x.dim() < 2 or x.shape[1] != len(values):
            raise ValueError(f"per-channel std has {len(values)} channels but x has shape {tuple(x.shape)} "
                             "(channels in dimension 1)")
        if all(v == values[0] for v in values):
            values = values[0]
    if isinstance(values, float):
        if values == 0:
            return x
        return x + values * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    if all(v == 0 for v in values):
        return x
    scale = torch.tensor(values, dtype=x.dtype, device=x.device).view(1, -1, *([1] * (x.dim() - 2)))
    return x + scale * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
