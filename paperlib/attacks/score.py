"""Score-based (query) attacks: NES (Ilyas et al. 2018) and SPSA (Uesato et al. 2018).

Both see the defense only through ``probs_fn(x) -> (N, K)`` class probabilities (SEM's
attacker E and contrasts J-M): no gradients, no logits. A stochastic defense answers every query
with a fresh draw (each row of a batch an independent draw), so the attack sees exactly the noise
a user would. Each image has its own query budget ``max_queries``.

Stop rule. Every success check queries the current ``x_adv`` ``stop_draws`` times (N fresh
draws) and judges them like the evaluation does: with ``stop_alpha`` set, SEM's abstention rule
(journal eq. 6, :func:`paperlib.metrics.sem_attack_success`, the same function the judge applies
to :func:`paperlib.metrics.monte_carlo_counts`) on the counts of the N per-draw argmax classes:
untargeted, success iff the top class is not ``y`` or some other class has a share
``>= stop_alpha``; targeted, iff the top class is the target or the target's share is
``>= stop_alpha`` (SEM's judge: N Monte Carlo draws, alpha = 0.3). With ``stop_alpha=None`` the check is the argmax of the mean of the N
probability vectors (``stop_draws=1``: one noisy query, the original rule). An image stops once a
check says success (``early_stop``; ``early_stop=False`` never stops early, the checks still run
and give ``success``) or once the next iteration would overrun its budget.

Gradient estimates. Every perturbed point is queried ``query_repeats`` times and the
probabilities are averaged before the objective, so the variance a stochastic target's noise
adds to the estimate shrinks by ``1 / query_repeats`` (to first order: the objective is not linear
in the probabilities); a deterministic target gives the one-query estimate up to rounding.

Query count per image, exactly: ``stop_draws`` for the check of the clean image, then per
iteration ``samples * query_repeats`` for the estimate plus ``stop_draws`` for the check; an
iteration runs only if all of it fits in ``max_queries``. ``QueryResult.queries`` equals the rows
``probs_fn`` received for that image.

Batched: the perturbed copies of every active image, times their repeats (repeat-major: repeat
``r`` of row ``j`` is row ``r * M + j`` of the virtual stack), and the ``stop_draws`` copies of a
check go to ``probs_fn`` in chunks of ``chunk`` rows, never one image at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..metrics.montecarlo import sem_attack_success
from ._core import Budget, check_images, check_norm, check_positive_int, per_image, project, steepest_step

ProbsFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class QueryResult:
    """x_adv ``(B, C, H, W)``; queries ``(B,)`` int64 spent per image (all of them: estimates and
    checks); success ``(B,)`` bool as judged by the last success check of each image
    (``stop_draws`` draws under the stop rule, see the module docstring)."""

    x_adv: torch.Tensor
    queries: torch.Tensor
    success: torch.Tensor


def _query(probs_fn: ProbsFn, x: torch.Tensor, chunk: int, repeats: int = 1) -> torch.Tensor:
    """``(repeats, M, K)`` probabilities: every row of ``x`` ``(M, ...)`` queried ``repeats``
    times. The ``repeats * M`` rows are stacked repeat-major and sent in chunks of ``chunk`` rows;
    only one chunk of copies exists at a time."""
    m = x.shape[0]
    with torch.no_grad():
        if repeats == 1:
            out = [probs_fn(c).float() for c in x.split(chunk)]
        else:
            total = repeats * m
            out = [probs_fn(x.index_select(0, torch.arange(s, min(s + chunk, total),
                                                            device=x.device) % m)).float()
                   for s in range(0, total, chunk)]
    p = torch.cat(out)
    return p.view(repeats, m, p.shape[-1])


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


def _check(probs_fn, x, y, targeted, draws, alpha, chunk):
    """The stop rule on ``draws`` fresh queries of each image of ``x``: ``(B,)`` bool."""
    p = _query(probs_fn, x, chunk, draws)  # (draws, B, K)
    if alpha is None:
        return _succeeded(p.mean(0), y, targeted)
    k = p.shape[-1]
    counts = torch.nn.functional.one_hot(p.argmax(-1), k).sum(0)  # (B, K), rows sum to draws
    return sem_attack_success(counts, y, alpha, targeted=targeted, y_target=y if targeted else None)


def _estimate(probs_fn, x, y, targeted, sigma, samples, chunk, generator, objective, dist, repeats=1):
    """Antithetic finite-difference gradient estimate ``(B, C, H, W)`` from ``samples`` points
    per image, each queried ``repeats`` times (probabilities averaged before the objective):
    ``sum_i [L(x + s u_i) - L(x - s u_i)] u_i / (samples * s)``."""
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
    p = _query(probs_fn, q, chunk, repeats).mean(0)
    obj = objective(p, y.repeat(2 * half), targeted).view(2, half, b)
    diff = (obj[0] - obj[1]).view(half, b, *([1] * (x.dim() - 1)))
    return (diff * u).sum(0) / (2 * half * sigma)


def _check_alpha(stop_alpha):
    if stop_alpha is None:
        return None
    if isinstance(stop_alpha, bool) or not isinstance(stop_alpha, (int, float)) or not 0 < stop_alpha <= 1:
        raise ValueError(f"stop_alpha must be None or a number in (0, 1], got {stop_alpha!r}")
    return float(stop_alpha)


def _run(probs_fn, x, y, *, eps, norm, targeted, max_queries, samples, sigma, step_size,
         chunk, generator, early_stop, objective, dist, adam, query_repeats, stop_draws, stop_alpha):
    check_images(x, y)
    check_norm(norm)
    check_positive_int(max_queries, "max_queries")
    check_positive_int(samples, "samples", 2)
    check_positive_int(chunk, "chunk")
    check_positive_int(query_repeats, "query_repeats")
    check_positive_int(stop_draws, "stop_draws")
    stop_alpha = _check_alpha(stop_alpha)
    if samples % 2:
        raise ValueError(f"samples must be even (antithetic pairs), got {samples}")
    if stop_draws > max_queries:
        raise ValueError(f"stop_draws ({stop_draws}) must be <= max_queries ({max_queries}): the "
                         "clean image's success check alone would overrun the budget")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma!r}")
    if generator is None:
        raise ValueError("score attacks draw their search directions from an explicit "
                         "torch.Generator; pass generator=make_generator(seed, 'attack', ...)")
    x = x.detach()
    e = per_image(eps, x, "eps")
    a = per_image(step_size if step_size is not None else eps / 10, x, "step_size")
    b = x.shape[0]
    per_iteration = samples * query_repeats + stop_draws
    x_adv = x.clone()
    queries = torch.zeros(b, dtype=torch.long, device=x.device)
    success = _check(probs_fn, x_adv, y, targeted, stop_draws, stop_alpha, chunk)
    queries += stop_draws
    m = torch.zeros_like(x)
    v = torch.zeros_like(x)
    t = torch.zeros(b, device=x.device, dtype=x.dtype)
    while True:
        active = queries + per_iteration <= max_queries
        if early_stop:
            active &= ~success
        idx = active.nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        xa, ya = x_adv[idx], y[idx]
        g = _estimate(probs_fn, xa, ya, targeted, sigma, samples, chunk, generator, objective, dist,
                      query_repeats)
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
        success[idx] = _check(probs_fn, x_new, ya, targeted, stop_draws, stop_alpha, chunk)
        queries[idx] += per_iteration
    return QueryResult(x_adv=x_adv, queries=queries, success=success)


def nes(probs_fn: ProbsFn, x: torch.Tensor, y: torch.Tensor, *, eps: Budget,
        max_queries: int = 5000, samples: int = 50, sigma: float = 1e-3,
        step_size: Budget | None = None, norm: str = "linf", targeted: bool = False,
        chunk: int = 256, early_stop: bool = True, query_repeats: int = 1,
        stop_draws: int = 1, stop_alpha: float | None = None,
        generator: torch.Generator | None = None) -> QueryResult:
    """NES attack (Ilyas et al. 2018, Algorithm 1 gradient estimate + projected sign steps).

    Gradient of the cross-entropy objective estimated with ``samples / 2`` antithetic Gaussian
    pairs of scale ``sigma`` (pixel units); step ``x <- Proj(x + step_size * sign(g))`` (L2:
    ``g / ||g||``); ``step_size`` defaults to ``eps / 10``. SEM's query budget is 5,000.
    Returns a :class:`QueryResult`.

    ``query_repeats``, ``stop_draws``, ``stop_alpha``, ``early_stop``: the stochastic-target
    rules and the query count of the module docstring (defaults: the single-query behaviour).
    """
    return _run(probs_fn, x, y, eps=eps, norm=norm, targeted=targeted, max_queries=max_queries,
                samples=samples, sigma=sigma, step_size=step_size, chunk=chunk,
                generator=generator, early_stop=early_stop, objective=_ce_objective,
                dist="gauss", adam=False, query_repeats=query_repeats, stop_draws=stop_draws,
                stop_alpha=stop_alpha)


def spsa(probs_fn: ProbsFn, x: torch.Tensor, y: torch.Tensor, *, eps: Budget,
         max_queries: int = 5000, samples: int = 128, sigma: float = 1e-2,
         step_size: Budget | None = 1e-2, norm: str = "linf", targeted: bool = False,
         chunk: int = 256, early_stop: bool = True, query_repeats: int = 1,
         stop_draws: int = 1, stop_alpha: float | None = None,
         generator: torch.Generator | None = None) -> QueryResult:
    """SPSA attack (Uesato et al. 2018, Algorithm 1): Rademacher perturbations of size
    ``sigma`` (their delta = 0.01), antithetic pairs, the margin objective, Adam with learning
    rate ``step_size`` (their 0.01) on the perturbation, projection on the ``eps`` ball.
    Returns a :class:`QueryResult`.

    ``query_repeats``, ``stop_draws``, ``stop_alpha``, ``early_stop``: the stochastic-target
    rules and the query count of the module docstring (defaults: the single-query behaviour).
    """
    return _run(probs_fn, x, y, eps=eps, norm=norm, targeted=targeted, max_queries=max_queries,
                samples=samples, sigma=sigma, step_size=step_size, chunk=chunk,
                generator=generator, early_stop=early_stop, objective=_margin_objective,
                dist="rademacher", adam=True, query_repeats=query_repeats, stop_draws=stop_draws,
                stop_alpha=stop_alpha)

