"""Liang & Samavi's attacks on a voting ensemble (sections "Random Single Network Attack" and
"Superimposition Attacks").

* Single network: an adversarial example ``A(F^l, s, t)`` is crafted on one network ``F^l`` of
  the ensemble (C&W L2, targeted, in the paper) and then shown to every network and to the vote.
* Superimposition: for a sample and a target, the ``m`` (2 or 3) successful single-network
  examples with the smallest perturbation ratio (eq. 14) are superimposed,
  ``x + sum_i (a_i - x)``, clipped to [0, 1] ("greedy type superimposition").
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from .clm import x_adv_of


def craft_per_network(attack: Callable, networks: Sequence[nn.Module], x: torch.Tensor,
                      y: torch.Tensor, **attack_kwargs) -> torch.Tensor:
    """``A(F^l, x, y)`` for every network: ``(L, B, C, H, W)`` (a loop over networks)."""
    if len(networks) == 0:
        raise ValueError("networks must not be empty")
    return torch.stack([x_adv_of(attack(net, x, y, **attack_kwargs)) for net in networks])


def perturbation_ratio(a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``p(a; s) = ||a - s||_2 / ||s||_2`` (Liang & Samavi eq. 14), per image; broadcasts a
    leading network axis of ``a``."""
    return (a - s).flatten(-3).norm(dim=-1) / s.flatten(-3).norm(dim=-1).clamp_min(1e-12)


def superimpose(x: torch.Tensor, advs: torch.Tensor) -> torch.Tensor:
    """``clip(x + sum_i (advs[i] - x), 0, 1)``; ``advs`` is ``(m, B, C, H, W)``."""
    return torch.clamp(x + (advs - x[None]).sum(0), 0, 1)


def greedy_superimposition(x: torch.Tensor, advs: torch.Tensor, success: torch.Tensor,
                           m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Superimpose, per image, the ``m`` successful examples of smallest ratio (eq. 14).

    advs: ``(L, B, C, H, W)`` single-network examples; success: ``(L, B)`` bool (did ``a`` fool
    its own network). Images with fewer than ``m`` successes use the ones they have (none: ``x``).
    Returns ``(x_super (B, C, H, W), chosen (m, B) network indices, -1 where unused)``.
    """
    if not isinstance(m, int) or m < 1 or m > advs.shape[0]:
        raise ValueError(f"m must be an int in [1, {advs.shape[0]}], got {m!r}")
    ratio = perturbation_ratio(advs, x[None]).masked_fill(~success, float("inf"))
    order = ratio.argsort(0)[:m]  # (m, B)
    valid = torch.isfinite(ratio.gather(0, order))
    picked = advs.gather(0, order.view(m, -1, 1, 1, 1).expand(m, *advs.shape[1:]))
    picked = torch.where(valid.view(m, -1, 1, 1, 1), picked, x[None])
    return superimpose(x, picked), order.masked_fill(~valid, -1)
