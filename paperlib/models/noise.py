"""RSE's Gaussian noise layer (Liu et al., ECCV 2018, Sec. 3.1 and Fig. 1).

``x -> x + eps``, ``eps ~ N(0, sigma^2)`` drawn afresh at every forward pass, in training and
at test time (RSE ensembles over the noise at inference). The samples come from an explicit
``torch.Generator``: the one attached with :func:`attach_noise_generator` (the training
engine attaches its own named stream), otherwise one the layer owns, created lazily per
device from ``(seed, "rse-noise", index)``. ``enabled=False`` makes the layer the identity.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from ..seeding import make_generator


class GaussianNoise(nn.Module):
    """Additive Gaussian noise of std ``sigma`` (units of the layer's input)."""

    def __init__(self, sigma: float, *, seed: int = 0, index: int = 0):
        super().__init__()
        if not sigma >= 0:
            raise ValueError(f"sigma must be >= 0, got {sigma!r}")
        self.sigma = float(sigma)
        self.enabled = True
        self.generator: torch.Generator | None = None
        self._seed, self._index = seed, index
        self._own: dict[str, torch.Generator] = {}

    def _gen(self, device: torch.device) -> torch.Generator:
        if self.generator is not None:
            return self.generator
        key = str(device)
        if key not in self._own:
            self._own[key] = make_generator(self._seed, "rse-noise", self._index, device=device)
        return self._own[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled or self.sigma == 0:
            return x
        noise = torch.randn(x.shape, generator=self._gen(x.device), device=x.device, dtype=torch.float32)
        return x + (self.sigma * noise).to(x.dtype)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}, enabled={self.enabled}"


def noise_layers(model: nn.Module) -> Iterator[GaussianNoise]:
    """All :class:`GaussianNoise` layers of ``model`` in module order."""
    return (m for m in model.modules() if isinstance(m, GaussianNoise))


def attach_noise_generator(model: nn.Module, generator: torch.Generator | None) -> None:
    """Make every noise layer of ``model`` draw from ``generator`` (``None``: their own)."""
    for layer in noise_layers(model):
        layer.generator = generator


def set_noise_enabled(model: nn.Module, enabled: bool) -> None:
    """Switch every noise layer of ``model`` on or off."""
    for layer in noise_layers(model):
        layer.enabled = bool(enabled)
