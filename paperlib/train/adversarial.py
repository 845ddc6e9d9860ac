"""Minimal default attacks for adversarial *training* only: factories returning
``attack(model, x, y, generator)``.

These exist so that the training engine has a working default; the attacks library proper
(targeted variants, other norms, EOT, evaluation) is ``paperlib.attacks``, and any function
with the same signature can be passed to :class:`~paperlib.train.config.AdvTrainConfig`.
The names end in ``_training_attack`` because they are factories with another signature than
``paperlib.attacks.fgsm`` / ``pgd`` (``attack(model, x, y, *, eps, ...)``): one name, one idea.
Inputs are pixels in [0, 1] ``[B, C, H, W]``; ``eps`` and ``step_size`` are in pixel units;
the returned tensor is detached and clipped to the eps-ball and to [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def fgsm_training_attack(eps: float):
    """FGSM (Goodfellow et al. 2015): ``x + eps * sign(grad_x CE)``, L-inf, untargeted."""

    def attack(model, x, y, generator=None):
        x = x.detach().clone().requires_grad_(True)
        loss = F.cross_entropy(model(x).float(), y)
        (grad,) = torch.autograd.grad(loss, x)
        return (x + eps * grad.sign()).clamp(0, 1).detach()

    attack.__name__ = f"fgsm_training_attack(eps={eps})"
    return attack


def pgd_linf_training_attack(eps: float, step_size: float, steps: int, random_start: bool = True):
    """L-inf PGD (Madry et al. 2018, Eq. 2.1): uniform start in the ball, ``steps`` signed steps."""

    def attack(model, x, y, generator=None):
        x0 = x.detach()
        if random_start:
            noise = torch.rand(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
            xa = (x0 + eps * (2 * noise - 1)).clamp(0, 1)
        else:
            xa = x0.clone()
        for _ in range(steps):
            xa.requires_grad_(True)
            loss = F.cross_entropy(model(xa).float(), y)
            (grad,) = torch.autograd.grad(loss, xa)
            xa = xa.detach() + step_size * grad.sign()
            xa = torch.min(torch.max(xa, x0 - eps), x0 + eps).clamp(0, 1)
        return xa.detach()

    attack.__name__ = f"pgd_linf_training_attack(eps={eps},step_size={step_size},steps={steps})"
    return attack
