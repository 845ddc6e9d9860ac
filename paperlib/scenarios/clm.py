"""CLM's random-submodel protocol (Jasser & Garibay, section 3, Fig. 2).

The attacker knows every submodel but not which one answers next: each image is crafted on a
submodel ``m_i`` drawn uniformly at random, then classified by the population (again a random
submodel). Robustness is reported as MRA (eq. 6, :func:`paperlib.metrics.mra`): the accuracy of
every submodel on the whole perturbed set, averaged.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn


def x_adv_of(result) -> torch.Tensor:
    """The adversarial images of an attack's result (a tensor, or a result with ``x_adv``)."""
    return result if torch.is_tensor(result) else result.x_adv


def clm_random_submodel_attack(attack: Callable, models: Sequence[nn.Module], x: torch.Tensor,
                               y: torch.Tensor, *, generator: torch.Generator, per_batch: int = 0,
                               **attack_kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    """Craft every image on a uniformly drawn submodel (white-box on that submodel).

    ``per_batch`` > 0: the paper's public code's variant, one submodel drawn per consecutive
    batch of ``per_batch`` images (its evaluation loop draws one per DataLoader batch); 0 (the
    paper as written, Fig. 2): one draw per image.

    ``attack(model, x, y, **attack_kwargs)`` runs once per submodel on all the images assigned to
    it (a loop over submodels, not images). ``generator`` draws the assignment; pass the attack's
    own generator inside ``attack_kwargs`` if it needs one.
    Returns ``(x_adv (B, C, H, W), source (B,) int64 index of the crafting submodel)``.
    """
    if len(models) == 0:
        raise ValueError("models must not be empty")
    if per_batch < 0:
        raise ValueError(f"per_batch must be >= 0, got {per_batch}")
    if per_batch:
        batches = -(-x.shape[0] // per_batch)
        draws = torch.randint(0, len(models), (batches,), generator=generator, device=generator.device)
        source = draws.repeat_interleave(per_batch)[: x.shape[0]].to(x.device)
    else:
        source = torch.randint(0, len(models), (x.shape[0],), generator=generator,
                               device=generator.device).to(x.device)
    x_adv = x.detach().clone()
    for i, m in enumerate(models):
        rows = (source == i).nonzero().squeeze(1)
        if rows.numel():
            x_adv[rows] = x_adv_of(attack(m, x[rows], y[rows], **attack_kwargs))
    return x_adv, source
