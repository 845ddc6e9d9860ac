"""The common interface of stochastic defenses (``../shared/DESIGN.md``, "defenses").

A stochastic defense is an ``nn.Module`` whose every random choice comes from a
``torch.Generator``: the one passed to ``forward`` or, when none is passed, the one it owns
(``generator=`` at construction; needed by code that calls ``model(x)``, such as torchattacks).

Contract of :class:`StochasticDefense`:

* ``forward(x, generator=None) -> logits (B, K)``: a fresh draw, independent for every row of
  ``x``. Row independence is what lets Monte Carlo prediction and EOT stack many copies of an
  image into one batch and still get independent draws.
* ``condition(generator) -> StochasticDefense``: draws the defense's discrete attributes (which
  members, which smoothing sigmas) once and returns the defense conditioned on them; what stays
  random is the continuous noise. Defenses without discrete attributes return ``self``. Used by
  attacker views that know "the current ensemble attributes" (SEM attackers A and B).
* ``draw(generator) -> nn.Module``: a frozen realization: attributes and noise both fixed, a
  deterministic, differentiable ``model(x) -> logits`` (the same input gives the same output).
* ``probs(x, n=1, generator=None, chunk=None) -> (B, K)``: the probability vector a user gets,
  averaged over ``n`` draws (``n=1``: one query).

Generators must live on ``x``'s device (``make_generator(seed, "defense-noise", device=...)``).
"""

from __future__ import annotations

import torch
from torch import nn


def draw_seed(generator: torch.Generator) -> int:
    """A 62-bit integer drawn from ``generator`` (seeds the noise of a frozen realization)."""
    return int(torch.randint(0, 2**62, (1,), generator=generator,
                             device=generator.device).item())


def call_module(module: nn.Module, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """``module(x, generator=...)`` for a stochastic defense, ``module(x)`` for a plain model."""
    if isinstance(module, StochasticDefense):
        return module(x, generator=generator)
    return module(x)


class StochasticDefense(nn.Module):
    """Base class; subclasses implement :meth:`sample` (and :meth:`condition` if they have
    discrete attributes). See the module docstring for the contract."""

    def __init__(self, generator: torch.Generator | None = None):
        super().__init__()
        self.generator = generator

    def _gen(self, generator: torch.Generator | None) -> torch.Generator:
        g = generator if generator is not None else self.generator
        if g is None:
            raise ValueError(f"{type(self).__name__} needs a torch.Generator: pass generator= to "
                             "the call or to the constructor (paperlib.seeding.make_generator)")
        return g

    def sample(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One independent draw per row of ``x``; logits ``(B, K)``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.sample(x, self._gen(generator))

    def condition(self, generator: torch.Generator | None = None) -> "StochasticDefense":
        return self

    def draw(self, generator: torch.Generator | None = None) -> nn.Module:
        g = self._gen(generator)
        conditioned = self.condition(g)
        return FrozenDraw(conditioned, draw_seed(g))

    def probs(self, x: torch.Tensor, n: int = 1, generator: torch.Generator | None = None,
              chunk: int | None = None) -> torch.Tensor:
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be an int >= 1, got {n!r}")
        g = self._gen(generator)
        b = x.shape[0]
        stacked = x.repeat(n, *([1] * (x.dim() - 1)))
        chunk = chunk or stacked.shape[0]
        p = torch.cat([self.sample(c, g).float().softmax(-1) for c in stacked.split(chunk)])
        return p.view(n, b, -1).mean(0)


class FrozenDraw(nn.Module):
    """A frozen realization of ``defense``: every call replays the noise of one seed.

    ``forward(x)`` seeds a fresh generator on ``x``'s device with ``seed`` and calls
    ``defense(x, generator=...)``, so equal inputs give equal outputs (deterministic) and
    gradients flow to ``x``. Row ``i`` of a batch of shape ``S`` always gets the same noise.
    """

    def __init__(self, defense: StochasticDefense, seed: int):
        super().__init__()
        self.defense = defense
        self.seed = int(seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = torch.Generator(device=x.device)
        g.manual_seed(self.seed)
        return self.defense(x, generator=g)
