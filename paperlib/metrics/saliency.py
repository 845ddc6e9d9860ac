"""Saliency maps and their pairwise cosine similarity (CLM, Jasser & Garibay, eq. 7-8)."""

from __future__ import annotations

from itertools import combinations
from typing import Sequence

import torch
from torch import nn


def saliency_map(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                 output: str = "logits") -> torch.Tensor:
    """``s_m = d f_m(x)[y] / d x`` (eq. 8), per image; shape of ``x``.

    ``output="logits"`` differentiates the class score before softmax, ``"probs"`` after it
    (the paper says "the submodel output"). The sum over the batch is differentiated, which
    gives each image its own gradient (images do not interact in eval mode).
    """
    if output not in ("logits", "probs"):
        raise ValueError(f"output must be 'logits' or 'probs', got {output!r}")
    x = x.detach().requires_grad_(True)
    z = model(x)
    if output == "probs":
        z = z.softmax(-1)
    (g,) = torch.autograd.grad(z.gather(1, y[:, None]).sum(), x)
    return g.detach()


def pairwise_cosine_similarity(saliencies: Sequence[torch.Tensor] | torch.Tensor):
    """Cosine similarity (eq. 7) between the saliency maps of every pair of models, per image.

    ``saliencies``: ``(n_models, B, ...)`` (or a list of ``(B, ...)``). Returns
    ``(pairs, sims)``: the ``(n^2 - n) / 2`` index pairs ``(i, j)``, ``i < j``, and a
    ``(n_pairs, B)`` tensor of similarities (0 where a map is all zeros).
    """
    s = torch.stack(list(saliencies)) if not torch.is_tensor(saliencies) else saliencies
    if s.dim() < 2 or s.shape[0] < 2:
        raise ValueError("need saliency maps of at least two models, shape (n_models, B, ...)")
    flat = s.flatten(2)
    unit = flat / flat.norm(dim=2, keepdim=True).clamp_min(1e-12)
    pairs = list(combinations(range(s.shape[0]), 2))
    i = torch.tensor([p[0] for p in pairs])
    j = torch.tensor([p[1] for p in pairs])
    sims = (unit[i] * unit[j]).sum(-1)
    return pairs, sims
