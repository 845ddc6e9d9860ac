"""Training losses over one or several members: ``loss(logits_list, y) -> scalar``.

``logits_list`` holds one ``[B, K]`` float tensor per member (already divided by the
temperature); ``y`` is int64 ``[B]`` class indices or float ``[B, K]`` soft labels.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def cross_entropy(label_smoothing: float = 0.0):
    """Sum over members of the mean softmax cross-entropy (independent members)."""

    def loss(logits_list: Sequence[torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        return sum(F.cross_entropy(z, y, label_smoothing=label_smoothing) for z in logits_list)

    loss.__name__ = "cross_entropy"
    return loss


def adp_loss(alpha: float = 2.0, beta: float = 0.5, det_offset: float = 1e-6):
    """Adaptive Diversity Promoting loss (Pang et al., ICML 2019, Eq. 6 and Sec. 3.2).

    ``L = sum_i CE(F_i, y) - alpha * H(mean_i F_i) - beta * log ED``, with ``F_i`` the softmax of
    member ``i``, ``H`` the Shannon entropy (ensemble entropy), and the ensemble diversity
    ``ED = det(M^T M + det_offset * I)``, ``M`` the ``[K-1, n]`` matrix of the members'
    non-maximal predictions (true class removed), each column L2-normalized. Defaults
    ``alpha=2, beta=0.5, det_offset=1e-6`` are the released code's (ADP_2_0.5). Needs at
    least 2 members and hard labels.
    """

    def loss(logits_list: Sequence[torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        if len(logits_list) < 2:
            raise ValueError("adp_loss needs at least 2 members")
        if y.dtype != torch.int64:
            raise ValueError("adp_loss needs int64 class labels")
        ce = sum(F.cross_entropy(z, y) for z in logits_list)
        probs = torch.stack([z.softmax(-1) for z in logits_list], dim=-1)  # [B, K, n]
        mean = probs.mean(-1)
        entropy = -(mean * torch.log(mean + 1e-20)).sum(-1)  # [B]
        b, k, n = probs.shape
        keep = torch.ones(b, k, dtype=torch.bool, device=y.device)
        keep[torch.arange(b, device=y.device), y] = False
        nonmax = probs[keep].view(b, k - 1, n)
        nonmax = nonmax / nonmax.norm(dim=1, keepdim=True).clamp_min(1e-20)
        # float64: with near-identical members the Gram matrix is nearly singular and a float32
        # determinant of ~1e-6 loses several digits
        nonmax = nonmax.double()
        gram = nonmax.transpose(1, 2) @ nonmax + det_offset * torch.eye(n, device=y.device, dtype=torch.float64)
        log_det = torch.logdet(gram).to(probs.dtype)  # [B]
        return ce - alpha * entropy.mean() - beta * log_det.mean()

    loss.__name__ = f"adp_loss(alpha={alpha},beta={beta})"
    return loss
