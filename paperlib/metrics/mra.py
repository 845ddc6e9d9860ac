"""Model robustness average (CLM, Jasser & Garibay, eq. 6)."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


def mra(models: Sequence[nn.Module], x_adv: torch.Tensor, y: torch.Tensor,
        chunk: int = 256) -> tuple[float, torch.Tensor]:
    """``MRA = 1/n sum_i (1/N sum_j rho(m_i, x'_j))``: the accuracy of every submodel ``m_i`` on
    the whole perturbed set ``x_adv`` ``(N, C, H, W)`` (each image crafted on a random submodel,
    see :func:`paperlib.scenarios.clm_random_submodel_attack`), averaged over the submodels.

    Returns ``(mra, per-model accuracy (n,))`` with accuracies in [0, 1].
    """
    if len(models) == 0:
        raise ValueError("models must not be empty")
    accs = []
    with torch.inference_mode():
        for m in models:
            pred = torch.cat([m(c).argmax(-1) for c in x_adv.split(chunk)])
            accs.append((pred == y).double().mean())
    per_model = torch.stack(accs)
    return float(per_model.mean()), per_model
