"""Noise-based single-model defenses: Gaussian input smoothing (Cohen et al. 2019) and Noisy
Logit (Liang & Samavi 2021)."""

from __future__ import annotations

import torch
from torch import nn

from .base import StochasticDefense, call_module
from ..models.noise_space import add_gaussian_noise, check_std


def _check_sigma(sigma: float, name: str = "sigma") -> float:
    if not isinstance(sigma, (int, float)) or isinstance(sigma, bool) or sigma < 0:
        raise ValueError(f"{name} must be a number >= 0, got {sigma!r}")
    return float(sigma)


class GaussianSmoothing(StochasticDefense):
    """Base classifier ``f`` on a noisy input: one draw is ``f(x + delta)``, ``delta ~ N(0,
    sigma^2 I)`` (Cohen et al. 2019, SEM eq. 1 inside the expectation). ``sigma`` in pixel units:
    a float, or a per-channel sequence ``(s_1, ..., s_C)`` (``delta_c ~ N(0, s_c^2)``; e.g. a sigma
    meant after the input normalization, :func:`paperlib.models.noise_space.pixel_noise_std`
    with ``"normalized"``). A float draws exactly what it always drew.
    The smoothed classifier ``g`` (the majority over draws) is
    :func:`paperlib.metrics.monte_carlo_counts` / :class:`paperlib.metrics.Smooth` on top.
    ``model`` may itself be a stochastic defense (it then draws from the same generator).
    """

    def __init__(self, model: nn.Module, sigma, generator: torch.Generator | None = None):
        super().__init__(generator)
        self.model = model
        self.sigma = check_std(sigma, "sigma")  # float, or a tuple of floats per channel

    def sample(self, x, generator):
        x = add_gaussian_noise(x, self.sigma, generator)
        return call_module(self.model, x, generator)


class NoisyLogit(StochasticDefense):
    """Noisy Logit (Liang & Samavi 2021, eq. 6-8): the answer to every query is the logit of a
    noisy input, ``F(x + g)``, ``g ~ N(0, sigma^2 I)`` (``site="input"``, the paper's choice: noise
    at the input so averaging many answers does not reveal the genuine logit; their sigma = 0.5
    on MNIST, 0.03 on CIFAR-10).

    ``site="logits"`` adds the noise to the logits instead, ``F(x) + g`` with ``g ~ N(0, sigma^2)``
    per class: the simpler variant the paper argues against (repeated queries average it away);
    kept for comparison.
    """

    SITES = ("input", "logits")

    def __init__(self, model: nn.Module, sigma: float, site: str = "input",
                 generator: torch.Generator | None = None):
        super().__init__(generator)
        if site not in self.SITES:
            raise ValueError(f"site must be one of {self.SITES}, got {site!r}")
        self.model = model
        self.sigma = _check_sigma(sigma)
        self.site = site

    def sample(self, x, generator):
        if self.site == "input":
            return call_module(self.model, add_gaussian_noise(x, self.sigma, generator), generator)
        z = call_module(self.model, x, generator)
        # logits: always drawn, also at sigma 0 (as before), so the stream does not depend on sigma
        return z + self.sigma * torch.randn(z.shape, generator=generator, device=z.device,
                                            dtype=z.dtype)
