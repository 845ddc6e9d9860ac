"""AutoAttack's version for randomized defenses (Croce & Hein 2020, ``version="rand"``), with its
budget as parameters.

The rand version is APGD-CE then APGD-DLR, each with EOT over ``eot_iter`` draws of the defense
per gradient step, the second run only on the points the first left robust. torchattacks'
``AutoAttack(version="rand")`` fixes 100 steps and 20 draws; :func:`autoattack_rand` runs the same
two torchattacks components with ``steps`` and ``eot_iter`` given, so a reduced profile can afford
it (the paper profile uses 100 and 20). Give it the stochastic defense itself (every forward a
fresh draw). The global RNG is left as it was (torchattacks reseeds it; see
:mod:`paperlib.attacks.autoattack`).

The attack runs with ``model`` in eval mode and gives every submodule its own mode back
afterwards (:func:`paperlib.attacks._core.eval_mode`). Without that, a wrapper built fresh
(``nn.Module`` starts in training mode, e.g. :class:`paperlib.defenses.RandomSubmodel` around
frozen networks) had torchattacks call ``model.train()`` after each component: the wrapped
networks' batch norm then used batch statistics and overwrote its running statistics in every
later forward (CLM's ``AutoAttack-rand`` cells before 2026-12-02).
"""

from __future__ import annotations

import torch
from torch import nn

from ._core import check_images, check_positive_int, eval_mode


def autoattack_rand(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int = 100,
                    eot_iter: int = 20, seed: int = 0) -> torch.Tensor:
    """APGD-CE, then APGD-DLR on the points still classified correctly, both with EOT over
    ``eot_iter`` forwards of ``model`` per step; L-inf budget ``eps`` (pixel units). Returns ``x_adv``."""
    check_images(x, y)
    check_positive_int(steps, "steps")
    check_positive_int(eot_iter, "eot_iter")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps!r}")
    devices = [x.device] if x.device.type == "cuda" else []
    with eval_mode(model):
        return _apgd_ce_then_dlr(model, x, y, eps=eps, steps=steps, eot_iter=eot_iter, seed=seed, devices=devices)


def _apgd_ce_then_dlr(model, x, y, *, eps, steps, eot_iter, seed, devices):
    import torchattacks

    with torch.random.fork_rng(devices=devices):
        x_adv = x.detach().clone()
        for loss in ("ce", "dlr"):
            with torch.no_grad():
                robust = (model(x_adv).argmax(-1) == y).nonzero().squeeze(1)
            if robust.numel() == 0:
                break
            atk = torchattacks.APGD(model, norm="Linf", eps=float(eps), steps=steps, n_restarts=1, seed=seed,
                                    loss=loss, eot_iter=eot_iter)
            x_adv[robust] = atk(x[robust].detach(), y[robust]).detach()
        return x_adv
