"""Carlini-Wagner L2 attack (Carlini & Wagner 2017, section V; their ``l2_attack.py``).

minimize ``||x' - x||_2^2 + c * f(x')`` over ``x' = (tanh(w) + 1) / 2`` (the change of variables
keeps pixels in [0, 1]), with Adam on ``w`` and

* untargeted: ``f(x') = max(Z(x')_y - max_{j != y} Z(x')_j, -kappa)``
* targeted:   ``f(x') = max(max_{j != t} Z(x')_j - Z(x')_t, -kappa)``

(``Z`` = logits; eq. of their objective function f6). A binary search over ``c`` per image
(``binary_steps`` rounds; ``c`` times 10 while no success has been seen, bisection afterwards)
keeps the smallest-distortion success. Adam restarts from ``x`` at every round, as in the
reference code. The model may return a draw axis ``(k, B, K)``; then ``f`` is averaged over the
draws (EOT).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ._core import check_images, check_positive_int, draw_mean

_UPPER = 1e10
_TANH_LIMIT = 1 - 1e-6  # keeps atanh finite at pixels 0 and 1


@dataclass(frozen=True)
class CWResult:
    """Output of :func:`carlini_wagner_l2`.

    x_adv: ``(B, C, H, W)`` best adversarial example per image (``x`` itself where none found).
    c: ``(B,)`` the constant of the round that produced ``x_adv`` (NaN where none found).
    l2: ``(B,)`` L2 norm ``||x_adv - x||_2`` in pixel units (``inf`` where none found).
    success: ``(B,)`` bool, whether an adversarial example (with margin ``kappa``) was found.
    """

    x_adv: torch.Tensor
    c: torch.Tensor
    l2: torch.Tensor
    success: torch.Tensor


def _to_tanh_space(x: torch.Tensor) -> torch.Tensor:
    return torch.atanh(torch.clamp(x * 2 - 1, -_TANH_LIMIT, _TANH_LIMIT))


def _from_tanh_space(w: torch.Tensor) -> torch.Tensor:
    return 0.5 * (torch.tanh(w) + 1)


def _f(logits: torch.Tensor, y: torch.Tensor, targeted: bool, kappa: float) -> torch.Tensor:
    def per_draw(z, t):
        real = z.gather(1, t[:, None]).squeeze(1)
        other = z.masked_fill(torch.nn.functional.one_hot(t, z.shape[1]).bool(),
                              float("-inf")).amax(1)
        diff = other - real if targeted else real - other
        return torch.clamp(diff, min=-kappa)

    return draw_mean(per_draw, logits, y)


def _succeeds(logits: torch.Tensor, y: torch.Tensor, targeted: bool, kappa: float) -> torch.Tensor:
    """Carlini's ``compare``: success with margin kappa, on the (draw-averaged) logits."""
    z = logits.mean(0) if logits.dim() == 3 else logits
    z = z.clone()
    onehot = torch.nn.functional.one_hot(y, z.shape[1]).bool()
    z[onehot] = z[onehot] + (-kappa if targeted else kappa)
    pred = z.argmax(1)
    return pred == y if targeted else pred != y


def carlini_wagner_l2(model, x: torch.Tensor, y: torch.Tensor, *, targeted: bool = False,
                      c_init: float = 1e-3, binary_steps: int = 9, steps: int = 1000,
                      lr: float = 1e-2, kappa: float = 0.0, abort_early: bool = True,
                      generator: torch.Generator | None = None) -> CWResult:
    """Carlini-Wagner L2 attack with a binary search over ``c``; see the module docstring.

    Args:
        x: ``(B, C, H, W)`` pixels in [0, 1]; y: ``(B,)`` true labels, or targets if ``targeted``.
        c_init: first constant (the reference code's ``initial_const`` 1e-3).
        binary_steps: rounds of the search over c (reference: 9); 1 = a fixed-c attack.
        steps: Adam iterations per round (reference: 10,000; 1,000 is common).
        lr: Adam learning rate (reference: 1e-2). kappa: confidence margin (>= 0).
        abort_early: stop a round when the total loss has not improved by 0.01% over the last
            ``steps // 10`` iterations (reference rule).
        generator: unused (the attack is deterministic); accepted for a uniform signature.
    Returns:
        :class:`CWResult` (x_adv, c, l2, success).
    """
    check_images(x, y)
    check_positive_int(binary_steps, "binary_steps")
    check_positive_int(steps, "steps")
    if not c_init > 0:
        raise ValueError(f"c_init must be > 0, got {c_init!r}")
    if not kappa >= 0:
        raise ValueError(f"kappa must be >= 0, got {kappa!r}")
    x = x.detach()
    b = x.shape[0]
    dev, dt = x.device, x.dtype
    view = (-1,) + (1,) * (x.dim() - 1)
    lower = torch.zeros(b, device=dev, dtype=dt)
    upper = torch.full((b,), _UPPER, device=dev, dtype=dt)
    const = torch.full((b,), float(c_init), device=dev, dtype=dt)
    best_l2sq = torch.full((b,), float("inf"), device=dev, dtype=dt)
    best_c = torch.full((b,), float("nan"), device=dev, dtype=dt)
    best_adv = x.clone()
    w0 = _to_tanh_space(x)
    for _ in range(binary_steps):
        w = w0.clone().requires_grad_(True)
        opt = torch.optim.Adam([w], lr=lr)
        round_best = torch.full((b,), float("inf"), device=dev, dtype=dt)
        round_success = torch.zeros(b, dtype=torch.bool, device=dev)
        prev = float("inf")
        check_every = max(steps // 10, 1)
        for it in range(steps):
            x_adv = _from_tanh_space(w)
            l2sq = (x_adv - x).flatten(1).pow(2).sum(1)
            logits = model(x_adv)
            loss = (l2sq + const * _f(logits, y, targeted, kappa)).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                ok = _succeeds(logits.detach(), y, targeted, kappa)
                l2d = l2sq.detach()
                round_success |= ok
                round_best = torch.where(ok & (l2d < round_best), l2d, round_best)
                better = ok & (l2d < best_l2sq)
                best_l2sq = torch.where(better, l2d, best_l2sq)
                best_c = torch.where(better, const, best_c)
                best_adv = torch.where(better.view(view), x_adv.detach(), best_adv)
            if abort_early and it % check_every == 0:
                lv = float(loss.detach())
                if lv > prev * 0.9999:
                    break
                prev = lv
        # Carlini's update of the constant, per image.
        upper = torch.where(round_success, torch.minimum(upper, const), upper)
        lower = torch.where(round_success, lower, torch.maximum(lower, const))
        bisect = upper < 1e9
        const = torch.where(bisect, (lower + upper) / 2, const * 10)
    success = torch.isfinite(best_l2sq)
    return CWResult(x_adv=best_adv.detach(), c=best_c, l2=best_l2sq.sqrt(), success=success)

