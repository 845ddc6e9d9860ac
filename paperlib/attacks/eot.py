"""Expectation over transformation (Athalye et al. 2018) as one wrapper for every attack.

:class:`ExpectationView` shows an attack ``k`` independent draws of a stochastic defense at
once: its forward returns logits ``(k, B, K)``, and every loss of :mod:`paperlib.attacks`
averages over that leading axis, so each attack step follows the mean of the k per-draw
gradients. :func:`eot` wraps an attack function into its EOT version.

Batched, not looped: the k copies of the batch go through the defense as one stacked batch,
cut into chunks of ``chunk`` images (on this CPU one forward of 2,560 images ran slower than ten
of 256, so the chunk size is a measured choice, see ``benchmarks/attack_throughput.py``).
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from ._core import check_positive_int


class ExpectationView(nn.Module):
    """``k`` fresh draws of ``defense`` per call, logits ``(k, B, K)``.

    ``defense`` must accept ``defense(x, generator=g)`` and draw independently for every row of
    ``x`` (the :class:`paperlib.defenses.StochasticDefense` contract). Draws come from
    ``generator`` only. Differentiable with respect to ``x``.
    """

    def __init__(self, defense: nn.Module, k: int, generator: torch.Generator | None,
                 chunk: int | None = None):
        super().__init__()
        check_positive_int(k, "k")
        if chunk is not None:
            check_positive_int(chunk, "chunk")
        self.defense = defense
        self.k = k
        self.generator = generator
        self.chunk = chunk

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        stacked = x.repeat(self.k, *([1] * (x.dim() - 1)))  # draw-major: row d*B + i
        chunk = self.chunk or stacked.shape[0]
        out = torch.cat([self.defense(c, generator=self.generator) for c in stacked.split(chunk)])
        return out.view(self.k, b, -1)


def eot(attack, defense: nn.Module, k: int, *, generator: torch.Generator | None,
        chunk: int | None = None):
    """The EOT version of ``attack``: ``eot(pgd, defense, 10, generator=g)(x, y, eps=...)``.

    Returns a callable ``(x, y, **attack_kwargs)`` that runs ``attack`` against an
    :class:`ExpectationView` of ``defense`` with ``k`` draws per step. ``generator`` drives the
    defense's draws; the attack's own randomness (e.g. PGD's random start) still comes from the
    ``generator=`` keyword passed to the returned callable, so the two streams stay independent.
    """
    view = ExpectationView(defense, k, generator, chunk)

    @functools.wraps(attack)
    def attack_eot(x: torch.Tensor, y: torch.Tensor, **kwargs):
        return attack(view, x, y, **kwargs)

    attack_eot.view = view  # type: ignore[attr-defined]
    return attack_eot
