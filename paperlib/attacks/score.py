"""Score-based (query) attacks: NES (Ilyas et al. 2018) and SPSA (Uesato et al. 2018).

Both see the defense only through ``probs_fn(x) -> (N, K)`` class probabilities (SEM's
attacker E and contrasts J-M): no gradients, no logits. A stochastic defense answers every query
with a fresh draw, so the attack sees exactly the noise a user would. Each image has its own
query budget ``max_queries``; an image stops once it succeeds (``early_stop``) or its budget is
spent. Queries are counted per image: ``samples`` per gradient estimate plus one per iteration to
check success.

Batched: the ``samples`` perturbed copies of every active image go to ``probs_fn`` in chunks of
``chunk`` images, never one image at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ._core import Budget, check_images, check_norm, check_positive_int, per_image, project, steepest_step

ProbsFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class QueryResult:
    """x_adv ``(B, C, H, W)``; queries ``(B,)`` int64 spent per image; success ``(B,)`` bool as
    judged by the last single query of each image."""

    x_adv: torch.Tensor
    queries: torch.Tensor
    success: torch.Tensor


def _query(probs_fn: ProbsFn, x: torch.Tensor, chunk: int) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([probs_fn(c).float() for c in x.split(chunk)])


def _log_probs(p: torch.Tensor) -> torch.Tensor:
    return p.clamp_min(1e-12).log()


def _ce_objective(p: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
    """Objective ascended by NES: -log p_y (untargeted) or log p_t (targeted), Ilyas et al."""
    lp = _log_probs(p).gather(1, y[:, None]).squeeze(1)
    return lp if targeted else -lp


def _margin_objective(p: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
    """Objective ascended by SPSA: the logit margin (Uesato et al. eq. 3). Computed on log-probs,
    which differ from the logits by a per-query constant, so the margin is the logit margin."""
    lp = _log_probs(p)
    real = lp.gather(1, y[:, None]).squeeze(1)
    other = lp.masked_fill(torch.nn.functional.one_hot(y, lp.shape[1]).bool(), float("-inf")).amax(1)
    return real - other if targeted else other - real


def _succeeded(p: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
    pred = p.argmax(1)
    return pred == y if targeted else pred != y


def _estimate(probs_fn, x, y, targeted, sigma, samples, chunk, generator, objective, dist):
    """Antithetic finite-difference gradient estimate ``(B, C, H, W)`` from ``samples`` queries
    per image: ``sum_i [L(x + s u_i) - L(x - s u_i)] u_i / (samples * s)``."""
    b = x.shape[0]
    half = samples // 2
    shape = (half, b) + tuple(x.shape[1:])
    if dist == "gauss":
        u = torch.randn(shape, generator=generator, device=x.device, dtype=x.dtype)
    else:
        u = torch.randint(0, 2, shape, generator=generator, device=x.device).to(x.dtype) * 2 - 1
    q = torch.cat([x[None] + sigma * u, x[None] - sigma * u])  # (2*half, B, ...)
    # Queries are clipped to the valid image box, as a deployed classifier would require.
    q = q.clamp(0, 1).reshape((2 * half * b,) + tuple(x.shape[1:]))
    p = _query(probs_fn, q, chunk)
    obj = objective(p, y.repeat(2 * half), targeted).view(2, half, b)
    diff = (obj[0] - obj[1]).view(half, b, *([1] * (x.dim() - 1)))
    return (diff * u).sum(0) / (2 * half * sigma)


def _run(probs_fn, x, y, *, eps, norm, targeted, max_queries, samples, sigma, step_size,
         chunk, generator, early_stop, objective, dist, adam):
    check_images(x, y)
    check_norm(norm)
    check_positive_int(max_queries, "max_queries")
    check_positive_int(samples, "samples", 2)
    check_positive_int(chunk, "chunk")
    if samples % 2:
        raise ValueError(f"samples must be even (antithetic pairs), got {samples}")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma!r}")
    if generator is None:
        raise ValueError("score attacks draw their search directions from an explicit "
                         "torch.Generator; pass generator=make_generator(seed, 'attack', ...)")
    x = x.detach()
    e = per_image(eps, x, "eps")
    a = per_image(step_size if step_size is not None else eps / 10, x, "step_size")
    b = x.shape[0]
    x_adv = x.clone()
    queries = torch.zeros(b, dtype=torch.long, device=x.device)
    p0 = _query(probs_fn, x_adv, chunk)
    queries += 1
    success = _succeeded(p0, y, targeted)
    m = torch.zeros_like(x)
    v = torch.zeros_like(x)
    t = torch.zeros(b, device=x.device, dtype=x.dtype)
    while True:
        active = queries + samples + 1 <= max_queries
        if early_stop:
            active &= ~success
        idx = active.nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        xa, ya = x_adv[idx], y[idx]
        g = _estimate(probs_fn, xa, ya, targeted, sigma, samples, chunk, generator, objective, dist)
        if adam:  # Uesato et al. use Adam on the perturbation (cleverhans SPSAAdam defaults).
            b1, b2 = 0.9, 0.999
            t[idx] += 1
            m[idx] = b1 * m[idx] + (1 - b1) * g
            v[idx] = b2 * v[idx] + (1 - b2) * g * g
            tt = t[idx].view(-1, *([1] * (x.dim() - 1)))
            mhat = m[idx] / (1 - b1 ** tt)
            vhat = v[idx] / (1 - b2 ** tt)
            direction = mhat / (vhat.sqrt() + 1e-8)
            if norm == "l2":
                direction = steepest_step(direction, norm)
        else:
            direction = steepest_step(g, norm)
        x_new = project(xa + a[idx] * direction, x[idx], e[idx], norm)
        x_adv[idx] = x_new
        p = _query(probs_fn, x_new, chunk)
        queries[idx] += samples + 1
        success[idx] = _succeeded(p, ya, targeted)
    return QueryResult(x_adv=x_adv, queries=queries, success=success)


def nes(probs_fn: ProbsFn, x: torch.Tensor, y: torch.Tensor, *, eps: Budget,
        max_queries: int = 5000, samples: int = 50, sigma: float = 1e-3,
        step_size: Budget | None = None, norm: str = "linf", targeted: bool = False,
        chunk: int = 256, early_stop: bool = True,
        generator: torch.Generator | None = None) -> QueryResult:
    """NES attack (Ilyas et al. 2018, Algorithm 1 gradient estimate + projected sign steps).

    Gradient of the cross-entropy objective estimated with ``samples / 2`` antithetic Gaussian
    pairs of scale ``sigma`` (pixel units); step ``x <- Proj(x + step_size * sign(g))`` (L2:
    ``g / ||g||``); ``step_size`` defaults to ``eps / 10``. SEM's query budget is 5,000.
    Returns a :class:`QueryResult`.
    """
    return _run(probs_fn, x, y, eps=eps, norm=norm, targeted=targeted, max_queries=max_queries,
                samples=samples, sigma=sigma, step_size=step_size, chunk=chunk,
                generator=generator, early_stop=early_stop, objective=_ce_objective,
                dist="gauss", adam=False)


def spsa(probs_fn: ProbsFn, x: torch.Tensor, y: torch.Tensor, *, eps: Budget,
         max_queries: int = 5000, samples: int = 128, sigma: float = 1e-2,
         step_size: Budget | None = 1e-2, norm: str = "linf", targeted: bool = False,
         chunk: int = 256, early_stop: bool = True,
         generator: torch.Generator | None = None) -> QueryResult:
    """SPSA attack (Uesato et al. 2018, Algorithm 1): Rademacher perturbations of size
    ``sigma`` (their delta = 0.01), antithetic pairs, the margin objective, Adam with learning
    rate ``step_size`` (their 0.01) on the perturbation, projection on the ``eps`` ball.
    Returns a :class:`QueryResult`.
    """
    return _run(probs_fn, x, y, eps=eps, norm=norm, targeted=targeted, max_queries=max_queries,
                samples=samples, sigma=sigma, step_size=step_size, chunk=chunk,
                generator=generator, early_stop=early_stop, objective=_margin_objective,
                dist="rademacher", adam=True)
