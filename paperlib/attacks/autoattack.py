"""AutoAttack (Croce & Hein 2020) through torchattacks 3.3.0, a maintained implementation.

``version="standard"``: APGD-CE, APGD-T, FAB-T, Square (5,000 queries), each run only on the
points still robust. ``version="rand"``: the version for randomized defenses, APGD-CE and
APGD-DLR with EOT over 20 draws per gradient step; give it the stochastic defense itself (every
forward a fresh draw), not a frozen realization.

torchattacks reseeds torch's *global* generator inside APGD (``torch.random.manual_seed``).
House rule: library code leaves the global RNG alone, so the call runs inside
``torch.random.fork_rng`` and the caller's global RNG state is unchanged afterwards. The run is
reproducible from ``seed``.
"""

from __future__ import annotations

import torch
from torch import nn

from ._core import check_images, check_norm, eval_mode

VERSIONS = ("standard", "plus", "rand")


def autoattack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float,
               norm: str = "linf", version: str = "standard", seed: int = 0,
               n_classes: int | None = None) -> torch.Tensor:
    """Run torchattacks' AutoAttack; returns ``x_adv`` ``(B, C, H, W)`` (untargeted only).

    Args:
        model: maps [0, 1] pixels to logits; must have parameters (torchattacks reads the device
            from them). For ``version="rand"`` a stochastic defense drawing fresh noise per call.
        eps: budget in pixel units; norm: ``"linf"`` or ``"l2"``.
        seed: seed of the attack's random starts (torchattacks' ``seed``).
        n_classes: number of classes; read from one forward when ``None``.
    """
    import torchattacks

    check_images(x, y)
    check_norm(norm)
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {VERSIONS}, got {version!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps!r}")
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), eval_mode(model):  # eval_mode: see paperlib.attacks._core
        if n_classes is None:
            with torch.no_grad():
                n_classes = int(model(x[:1]).shape[-1])
        atk = torchattacks.AutoAttack(model, norm={"linf": "Linf", "l2": "L2"}[norm],
                                      eps=float(eps), version=version, n_classes=n_classes,
                                      seed=seed, verbose=False)
        return atk(x.detach(), y).detach()
