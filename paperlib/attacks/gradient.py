"""First-order gradient attacks: FGSM, BIM (I-FGSM), MIM (MI-FGSM), PGD.

All four share one loop (:func:`_iterate`) and the conventions of :mod:`paperlib.attacks._core`:
pixels in [0, 1], budgets in pixel units (a float or one value per image), ``y`` the true labels
(untargeted) or the target labels (``targeted=True``), L-inf or L2 threat model, and a model
that may return a leading draw axis (then the loss is the mean over draws: EOT).

The update rules follow torchattacks 3.3.0 (``attacks/fgsm.py``, ``bim.py``, ``mifgsm.py``,
``pgd.py``, ``pgdl2.py``) step for step, so that on the same model, inputs and budget the
deterministic attacks give the same images (``tests/test_attacks.py`` checks this).

BIM and MIM take their default step size from a named rule (:func:`iterative_step_size`):
``"eps/steps"`` (MI-FGSM's ``eps / T``, Dong et al. 2018; the package's default) or
``"1.5eps/steps"``, the ``alpha = 1.5 * eps / iterations`` that Dong et al. 2020 ("Benchmarking
Adversarial Robustness on Image Classification") use for BIM and MIM in the robustness curves
whose protocol SEM (Qin et al. 2023) follows. An explicit ``step_size`` overrides the rule.
"""

from __future__ import annotations

import torch

from ._core import (Budget, check_images, check_norm, check_positive_int, input_gradient,
                    per_image, project, random_start as _random_start, steepest_step)

STEP_RULES = ("eps/steps", "1.5eps/steps")


def iterative_step_size(eps: Budget, steps: int, rule: str = "eps/steps") -> Budget:
    """The per-iteration step size of BIM / MIM under a named ``rule`` (pixel units, same type
    as ``eps``: a float or a ``(B,)`` tensor).

    * ``"eps/steps"``: ``eps / steps`` (Dong et al. 2018's ``eps / T``; the default);
    * ``"1.5eps/steps"``: ``1.5 * eps / steps`` (Dong et al. 2020, the benchmark whose
      ASR-vs-distortion protocol SEM uses), so the iterates can reach the boundary of the ball
      before the last step.
    """
    check_positive_int(steps, "steps")
    if rule == "eps/steps":
        return eps / steps
    if rule == "1.5eps/steps":
        return 1.5 * eps / steps
    raise ValueError(f"step_rule must be one of {STEP_RULES}, got {rule!r}")


def fgsm(model, x: torch.Tensor, y: torch.Tensor, *, eps: Budget, norm: str = "linf",
         targeted: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015): one step of size ``eps``.

    ``x' = clip_[0,1](x + eps * sign(grad_x L))`` for L-inf (``L`` = cross-entropy of ``y``,
    ascended untargeted, descended towards the target when ``targeted``); for L2 the step is
    ``eps * grad / ||grad||_2``. Returns ``x_adv`` of ``x``'s shape. ``generator`` is unused
    (FGSM is deterministic) and accepted for a uniform signature.
    """
    check_images(x, y)
    check_norm(norm)
    e = per_image(eps, x, "eps")
    grad, _ = input_gradient(model, x, y, targeted)
    return torch.clamp(x.detach() + e * steepest_step(grad, norm), min=0, max=1).detach()


def _iterate(model, x, y, *, eps, steps, step_size, norm, targeted, random_start, generator,
             decay=None):
    check_images(x, y)
    check_norm(norm)
    check_positive_int(steps, "steps")
    e = per_image(eps, x, "eps")
    a = per_image(step_size, x, "step_size")
    x = x.detach()
    x_adv = _random_start(x, e, norm, generator) if random_start else x.clone()
    momentum = torch.zeros_like(x) if decay is not None else None
    for _ in range(steps):
        grad, _ = input_gradient(model, x_adv, y, targeted)
        if decay is not None:
            # Dong et al. 2018 eq. 6 normalizes by the L1 norm; the mean |g| (torchattacks) is the
            # same up to a constant factor shared by every term, so the sign is unchanged.
            grad = grad / grad.abs().mean(dim=tuple(range(1, x.dim())), keepdim=True)
            grad = grad + momentum * decay
            momentum = grad
        x_adv = project(x_adv + a * steepest_step(grad, norm), x, e, norm)
    return x_adv


def bim(model, x: torch.Tensor, y: torch.Tensor, *, eps: Budget, steps: int = 20,
        step_size: Budget | None = None, norm: str = "linf", targeted: bool = False,
        generator: torch.Generator | None = None, step_rule: str = "eps/steps") -> torch.Tensor:
    """Basic iterative method / I-FGSM (Kurakin et al. 2016): ``steps`` FGSM steps of size
    ``step_size``, each projected back onto the ``eps`` ball and [0, 1].

    ``step_size`` defaults to :func:`iterative_step_size` of ``step_rule``: ``"eps/steps"``
    (torchattacks-equal) or ``"1.5eps/steps"`` (Dong et al. 2020); an explicit ``step_size``
    wins over the rule. Deterministic; ``generator`` is unused. Returns ``x_adv``
    ``(B, C, H, W)``.
    """
    check_positive_int(steps, "steps")
    rule_step = iterative_step_size(eps, steps, step_rule)  # validates step_rule either way
    if step_size is None:
        step_size = rule_step
    return _iterate(model, x, y, eps=eps, steps=steps, step_size=step_size, norm=norm,
                    targeted=targeted, random_start=False, generator=None)


def mim(model, x: torch.Tensor, y: torch.Tensor, *, eps: Budget, steps: int = 20,
        step_size: Budget | None = None, decay: float = 1.0, norm: str = "linf",
        targeted: bool = False, generator: torch.Generator | None = None,
        step_rule: str = "eps/steps") -> torch.Tensor:
    """Momentum iterative method / MI-FGSM (Dong et al. 2018, eq. 6-7).

    ``g_{t+1} = decay * g_t + grad / mean|grad|``; ``x_{t+1} = Proj(x_t + step_size * sign(g))``
    (L2: ``g / ||g||_2``). ``step_size`` defaults to :func:`iterative_step_size` of
    ``step_rule``: ``"eps/steps"`` (the paper's ``eps / T``, torchattacks-equal) or
    ``"1.5eps/steps"`` (Dong et al. 2020); an explicit ``step_size`` wins over the rule.
    Deterministic; ``generator`` is unused. Returns ``x_adv`` ``(B, C, H, W)``.
    """
    if not (isinstance(decay, (int, float)) and decay >= 0):
        raise ValueError(f"decay must be a number >= 0, got {decay!r}")
    check_positive_int(steps, "steps")
    rule_step = iterative_step_size(eps, steps, step_rule)  # validates step_rule either way
    if step_size is None:
        step_size = rule_step
    return _iterate(model, x, y, eps=eps, steps=steps, step_size=step_size, norm=norm,
                    targeted=targeted, random_start=False, generator=None, decay=float(decay))


def pgd(model, x: torch.Tensor, y: torch.Tensor, *, eps: Budget, steps: int = 20,
        step_size: Budget | None = None, norm: str = "linf", targeted: bool = False,
        random_start: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
    """Projected gradient descent (Madry et al. 2018): BIM from a random start.

    The start is uniform in the L-inf ball, or for L2 a Gaussian direction scaled to a uniform
    fraction of ``eps``; both drawn from ``generator`` (the global RNG is never used; with
    ``generator=None`` torch's default generator would be, so pass one). ``step_size`` defaults
    to ``2.5 * eps / steps`` (Madry et al.). With ``random_start=False`` PGD equals BIM.
    Returns ``x_adv`` ``(B, C, H, W)``.
    """
    if random_start and generator is None:
        raise ValueError("pgd with random_start=True needs an explicit torch.Generator "
                         "(paperlib.seeding.make_generator(seed, 'attack', ...))")
    check_positive_int(steps, "steps")
    if step_size is None:
        step_size = 2.5 * eps / steps
    return _iterate(model, x, y, eps=eps, steps=steps, step_size=step_size, norm=norm,
                    targeted=targeted, random_start=random_start, generator=generator)
