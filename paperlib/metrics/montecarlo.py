"""Monte Carlo prediction of a stochastic defense and SEM's attack-success rule.

``monte_carlo_counts`` draws the defense ``n`` times per image, batched: the ``n * B`` draws are
stacked and cut into chunks of ``chunk`` rows (each row an independent draw, per the
:class:`~paperlib.defenses.StochasticDefense` contract). The chunk size is a measured choice:
on this CPU one forward of 2,560 images ran slower than ten of 256
(``benchmarks/attack_throughput.py`` measures ours).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import binomtest

from ..defenses.base import call_module

AUTO_ROWS = 256


def auto_chunk(batch: int, rows: int = AUTO_ROWS) -> int:
    """Rows per forward pass for ``batch`` images: whole draws of the batch, about ``rows`` rows,
    never fewer than the batch (``batch * max(1, rows // batch)``).

    Measured against a per-draw loop (``benchmarks/results/mc_chunk.json``, the default profile's
    SEM members, Gaussian smoothing): for a small batch (24 images) stacking draws amortizes
    per-operator overhead, 1.2-2.8x faster than the loop at 128-1,024 rows; once the batch alone
    is a few hundred images, stacking more draws was no faster and sometimes slower (ResNet18 at
    200 images: 0.86-0.97x at 256-512 rows), and chunks smaller than the batch were slower still
    (0.69-0.99x). So the rule stacks draws only up to about 256 rows and otherwise forwards
    exactly the loop's shape; a fixed 256-row chunk had run at 0.91x of the loop for 64 images on
    a Zen 5 EPYC (``attack_throughput.py``)."""
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be an int >= 1, got {batch!r}")
    return batch * max(1, rows // batch)


def monte_carlo_counts(defense, x: torch.Tensor, n: int, generator: torch.Generator | None = None,
                       chunk: int | None = None, num_classes: int | None = None) -> torch.Tensor:
    """Class counts of ``n`` hard predictions per image: ``(B, K)`` int64, rows sum to ``n``.

    ``defense``: a stochastic defense (called with ``generator``) or any model (then all draws
    are equal). The draw-major stacking means draw ``d`` of image ``i`` is row ``d * B + i``.
    Runs under ``torch.inference_mode``. ``chunk``: rows per forward (default
    :func:`auto_chunk` of the batch).
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    if chunk is None:
        chunk = auto_chunk(x.shape[0])
    if not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be an int >= 1, got {chunk!r}")
    b = x.shape[0]
    total = n * b
    preds = []
    with torch.inference_mode():
        for start in range(0, total, chunk):
            rows = torch.arange(start, min(start + chunk, total), device=x.device) % b
            z = call_module(defense, x.index_select(0, rows), generator)
            if num_classes is None:
                num_classes = z.shape[-1]
            preds.append(z.argmax(-1))
        pred = torch.cat(preds)
        img = torch.arange(total, device=x.device) % b
        counts = torch.bincount(img * num_classes + pred, minlength=b * num_classes)
    return counts.view(b, num_classes).clone()


def top_class(counts: torch.Tensor) -> torch.Tensor:
    """The most frequent class per image ``(B,)`` (ties: the lowest class index)."""
    return counts.argmax(1)


def sem_attack_success(counts: torch.Tensor, y: torch.Tensor, alpha: float = 0.3,
                       targeted: bool = False, y_target: torch.Tensor | None = None) -> torch.Tensor:
    """Attack success with abstention threshold ``alpha`` (SEM journal eq. 6), ``(B,)`` bool.

    With ``c_j`` the share of the ``N`` Monte Carlo predictions that are class ``j``:

    * untargeted: the top class is not ``y``, or ``max_{j != y} c_j >= alpha``;
    * targeted: the top class is ``y_target``, or ``c_{y_target} >= alpha``.

    ``alpha = 1`` recovers eq. 5 up to ties (the paper uses alpha = 0.3). ``y`` are the true
    labels; ``y_target`` the targets (required when ``targeted``).
    """
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
    n = counts.sum(1, keepdim=True).clamp_min(1)
    share = counts.double() / n
    top = top_class(counts)
    if targeted:
        if y_target is None:
            raise ValueError("targeted success needs y_target")
        return (top == y_target) | (share.gather(1, y_target[:, None]).squeeze(1) >= alpha)
    others = share.scatter(1, y[:, None], -1.0)
    return (top != y) | (others.max(1).values >= alpha)


def binomial_test(successes, trials, p: float = 0.5, alternative: str = "two-sided") -> np.ndarray:
    """Exact binomial test p-values, elementwise (``scipy.stats.binomtest``; the removed
    ``binom_test`` is not used). Each distinct ``(successes, trials)`` pair is computed once."""
    k = np.asarray(torch.as_tensor(successes).cpu(), dtype=np.int64)
    n = np.asarray(torch.as_tensor(trials).cpu(), dtype=np.int64)
    k, n = np.broadcast_arrays(k, n)
    pairs, inverse = np.unique(np.stack([k.ravel(), n.ravel()], 1), axis=0, return_inverse=True)
    vals = np.array([binomtest(int(a), int(b), p, alternative=alternative).pvalue if b > 0 else 1.0
                     for a, b in pairs])
    return vals[inverse.ravel()].reshape(k.shape)


def success_pvalue(counts: torch.Tensor, y: torch.Tensor, rho: float = 0.5,
                   targeted: bool = False, y_target: torch.Tensor | None = None) -> np.ndarray:
    """Two-sided binomial test of SEM section 4.1: ``n_succ ~ Binomial(N, rho)``, where
    ``n_succ`` counts the draws landing on a successful class (any class but ``y``; or
    ``y_target`` when targeted). Returns one p-value per image."""
    n = counts.sum(1)
    if targeted:
        if y_target is None:
            raise ValueError("targeted needs y_target")
        k = counts.gather(1, y_target[:, None]).squeeze(1)
    else:
        k = n - counts.gather(1, y[:, None]).squeeze(1)
    return binomial_test(k, n, rho)
