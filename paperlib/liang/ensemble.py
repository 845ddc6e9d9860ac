"""Liang & Samavi's ensemble: ``m`` Carlini-Wagner networks at temperatures ``T_l`` (their Table 1),
trained by the shared zoo layer, and the batched views of it that the attacks and the votes use.

* :func:`member_jobs` -- one :class:`~paperlib.zoo.training.NetworkJob` per member: temperature
  ``T_l``, MNIST's disjoint partition ``l`` (``Run.partition``) or CIFAR-10's shared subset.
* :func:`load_members` -- the trained members back, frozen.
* :class:`PerNetwork` -- all members as one module: its input is ``L`` equal blocks, block ``l``
  goes through member ``l`` (optionally with Noisy Logit's input noise, a fresh draw per call).
  One C&W run then attacks every member at once: the binary search and the Adam steps are shared
  Python work, only the convolutions are per member.
* :func:`member_predictions` -- every member's label for every input ``(L, N)``, with or without
  Noisy Logit (eq. 6-8: each member its own noise draw per query).
* :func:`vote_counts` -- Ensemble Voting (eq. 10): the votes per class ``(N, K)``; ``F*`` is their
  argmax (ties to the lowest class, as :class:`paperlib.defenses.EnsembleVote`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from ..config.liang import EnsembleParams
from ..models.noise_space import add_gaussian_noise
from ..zoo.store import load_trained
from ..zoo.training import NetworkJob, Run


def member_name(i: int) -> str:
    """``member_01`` ...: the directory of member ``i`` (0-based) under the ensemble's root."""
    return f"member_{i + 1:02d}"


def member_jobs(ens: EnsembleParams, out_dir: str | Path, key: str) -> list[NetworkJob]:
    """One job per member; ``seeds=("liang", dataset, member)``, the subset stream ``"liang"`` is
    shared, so MNIST partitions are disjoint and CIFAR-10 members share their subset."""
    jobs = []
    for i, (t, scale) in enumerate(zip(ens.temperatures, ens.logit_scales())):
        name = member_name(i)
        if ens.partition:
            run = Run(".", {**ens.train, "temperature": float(t)}, ens.partition, key=f"{key}.train",
                      partition=(i, ens.members))
        else:
            run = Run(".", {**ens.train, "temperature": float(t)}, ens.train_images, key=f"{key}.train")
        jobs.append(NetworkJob(name=name, arch=ens.arch, width=ens.width, out_dir=str(Path(out_dir) / name),
                               seeds=("liang", ens.dataset, name), runs=(run,),
                               options={"logit_scale": scale} if scale != 1 else {}))
    return jobs


def load_members(ens: EnsembleParams, root: str | Path, num_classes: int, in_channels: int) -> list[nn.Module]:
    """The ``ens.members`` trained networks under ``root`` (frozen, eval mode)."""
    out = []
    for i, scale in enumerate(ens.logit_scales()):
        options = {"logit_scale": scale} if scale != 1 else {}
        out.append(load_trained(Path(root) / member_name(i), ens.arch, num_classes, in_channels=in_channels,
                                width=ens.width, options=options).model)
    return out


class PerNetwork(nn.Module):
    """Member ``l`` on block ``l`` of the input: ``(L * B, C, H, W) -> (L * B, K)``.

    ``sigma > 0`` adds Noisy Logit's input noise ``N(0, sigma^2)`` (pixel units, clipped to
    nothing: the paper adds it to the input as is) with a fresh draw from ``generator`` per call."""

    def __init__(self, members: Sequence[nn.Module], sigma: float = 0.0, generator: torch.Generator | None = None):
        super().__init__()
        if len(members) == 0:
            raise ValueError("members must not be empty")
        if sigma < 0 or (sigma > 0 and generator is None):
            raise ValueError(f"sigma must be >= 0, with a generator when > 0; got sigma {sigma!r}")
        self.members = nn.ModuleList(members)
        self.sigma = float(sigma)
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        L = len(self.members)
        if x.shape[0] % L:
            raise ValueError(f"the batch ({x.shape[0]}) must be {L} equal blocks, one per member")
        if self.sigma > 0:
            x = add_gaussian_noise(x, self.sigma, self.generator)
        return torch.cat([m(block) for m, block in zip(self.members, x.chunk(L))])


@torch.no_grad()
def member_predictions(members: Sequence[nn.Module], x: torch.Tensor, *, sigma: float = 0.0,
                       generator: torch.Generator | None = None, batch_size: int = 1000) -> torch.Tensor:
    """``(L, N)`` int64: member ``l``'s label of input ``n`` (pixels in [0, 1]); with ``sigma > 0``
    each (member, input) gets its own Noisy Logit draw."""
    if sigma > 0 and generator is None:
        raise ValueError("Noisy Logit (sigma > 0) needs a generator")
    out = []
    for m in members:
        labels = []
        for xb in x.split(batch_size):
            if sigma > 0:
                xb = add_gaussian_noise(xb, sigma, generator)
            labels.append(m(xb).argmax(1))
        out.append(torch.cat(labels))
    return torch.stack(out)


def vote_counts(pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Ensemble Voting (eq. 10): ``(N, K)`` vote counts from member labels ``(L, N)``."""
    return torch.nn.functional.one_hot(pred, num_classes).sum(0)


def vote(counts: torch.Tensor) -> torch.Tensor:
    """``F*``: the class with most votes ``(N,)`` (ties to the lowest class index)."""
    return counts.argmax(1)
