"""Shared pieces of the attacks: budgets as per-image tensors, losses, projections.

Conventions used by every attack of this package
-------------------------------------------------
* Images ``x`` are float tensors ``(B, C, H, W)`` with pixels in [0, 1]; budgets (``eps``,
  ``step_size``) are in pixel units, either a Python float or a tensor of shape ``(B,)`` (one
  budget per image, which the ASR-vs-distortion search needs).
* ``y`` holds the true labels (untargeted) or the target labels (``targeted=True``), ``(B,)``.
* A model maps ``(B, C, H, W)`` to logits ``(B, K)``. A model may also return logits with a
  leading draw axis, ``(k, B, K)``: k realizations of a stochastic defense seen at once. Every
  loss then averages the per-draw losses over that axis, so the gradient is the expectation of
  the gradient over the k draws (expectation over transformation, Athalye et al. 2018). This is
  how :func:`paperlib.attacks.eot.eot` turns any attack of this package into its EOT version.
* Every attack calls the model exactly once per iteration, so an attacker view that changes its
  realization "every P queries" changes it every P iterations.
* Per-image losses are summed over the batch (not averaged), so an image's gradient does not
  depend on which other images share its batch; sign and L2-normalized steps are unaffected.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Union

import torch
import torch.nn.functional as F

Budget = Union[float, torch.Tensor]

NORMS = ("linf", "l2")


def check_norm(norm: str) -> str:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    return norm


def check_images(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.dim() != 4:
        raise ValueError(f"x must have shape (B, C, H, W), got {tuple(x.shape)}")
    if y.shape != (x.shape[0],):
        raise ValueError(f"y must have shape ({x.shape[0]},), got {tuple(y.shape)}")
    if not torch.is_floating_point(x):
        raise TypeError(f"x must be a float tensor of pixels in [0, 1], got dtype {x.dtype}")


def per_image(value: Budget, x: torch.Tensor, name: str) -> torch.Tensor:
    """``value`` (float or ``(B,)`` tensor) as a ``(B, 1, 1, 1)`` tensor on ``x``'s device."""
    t = torch.as_tensor(value, dtype=x.dtype, device=x.device)
    if t.dim() == 0:
        t = t.expand(x.shape[0])
    if t.shape != (x.shape[0],):
        raise ValueError(f"{name} must be a float or a tensor of shape ({x.shape[0]},), "
                         f"got shape {tuple(t.shape)}")
    if bool((t < 0).any()) or not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite and >= 0")
    return t.view(-1, *([1] * (x.dim() - 1)))


def check_positive_int(value: int, name: str, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def draw_mean(fn, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Apply the per-sample loss ``fn(logits (N, K), y (N,)) -> (N,)``; average a draw axis."""
    if logits.dim() == 2:
        return fn(logits, y)
    if logits.dim() == 3:
        k, b, c = logits.shape
        return fn(logits.reshape(k * b, c), y.repeat(k)).view(k, b).mean(0)
    raise ValueError(f"model output must be (B, K) or (k, B, K) logits, got {tuple(logits.shape)}")


def ce_loss(logits: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
    """Per-image loss the attack *ascends*: CE(y) untargeted, -CE(target) targeted. ``(B,)``."""
    loss = draw_mean(lambda z, t: F.cross_entropy(z, t, reduction="none"), logits, y)
    return -loss if targeted else loss


def predicted_probs(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities ``(B, K)``; the mean over a draw axis if there is one."""
    p = logits.float().softmax(-1)
    return p.mean(0) if p.dim() == 3 else p


def input_gradient(model, x: torch.Tensor, y: torch.Tensor, targeted: bool):
    """Gradient of the summed CE loss w.r.t. the input, and the detached logits."""
    x = x.detach().requires_grad_(True)
    logits = model(x)
    loss = ce_loss(logits, y, targeted).sum()
    (grad,) = torch.autograd.grad(loss, x)
    return grad, logits.detach()


def flat_norm(t: torch.Tensor) -> torch.Tensor:
    """Per-image L2 norm, shape ``(B, 1, 1, 1)``."""
    return t.flatten(1).norm(p=2, dim=1).view(-1, *([1] * (t.dim() - 1)))


def project(x_adv: torch.Tensor, x: torch.Tensor, eps: torch.Tensor, norm: str) -> torch.Tensor:
    """Project ``x_adv`` onto the ``norm`` ball of radius ``eps`` (B,1,1,1) around ``x``, then
    onto the box [0, 1] (the order torchattacks uses)."""
    delta = x_adv - x
    if norm == "linf":
        delta = torch.clamp(delta, min=-eps, max=eps)
    else:
        factor = torch.minimum(eps / flat_norm(delta), torch.ones_like(eps))
        delta = delta * factor
    return torch.clamp(x + delta, min=0, max=1).detach()


def steepest_step(grad: torch.Tensor, norm: str) -> torch.Tensor:
    """The unit-norm steepest-ascent direction: sign (L-inf) or grad / ||grad||_2 (L2)."""
    if norm == "linf":
        return grad.sign()
    return grad / (flat_norm(grad) + 1e-10)


def random_start(x: torch.Tensor, eps: torch.Tensor, norm: str,
                 generator: torch.Generator | None) -> torch.Tensor:
    """A uniform point of the L-inf ball, or a Gaussian direction with a uniform radius fraction
    in the L2 ball (torchattacks' PGDL2 rule), clipped to [0, 1]."""
    if norm == "linf":
        u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        delta = (2 * u - 1) * eps
    else:
        d = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        r = torch.rand((x.shape[0],), generator=generator, device=x.device, dtype=x.dtype)
        delta = d / flat_norm(d) * r.view_as(eps) * eps
    return torch.clamp(x + delta, min=0, max=1).detach()


@contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """``model`` in eval mode for the block; afterwards every submodule gets its own mode back.

    torchattacks calls ``model.train()`` after an attack when it found ``model`` in training mode
    (a wrapper built fresh, e.g. a defense around frozen networks, starts there): the wrapped
    networks' batch norm would then use batch statistics and overwrite its running statistics in
    every later forward. Restoring module by module (not one recursive ``train()``) keeps frozen
    networks frozen inside a wrapper that is in training mode.
    """
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training

