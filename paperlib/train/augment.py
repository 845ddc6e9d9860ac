"""Data augmentation on batched tensors on the device (no per-image Python work).

The standard CIFAR recipe (He et al. 2016): zero-pad by ``padding`` pixels, take a random
``H x W`` crop, flip horizontally with probability 1/2. Works on uint8 or float tensors
``[B, C, H, W]``; all randomness comes from the ``generator`` (which must live on ``x``'s device).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Random ``H x W`` crop of ``x`` zero-padded by ``padding``: ``[B,C,H,W] -> [B,C,H,W]``.

    Each image gets its own offsets ``(dy, dx)`` uniform in ``{0..2*padding}``; implemented
    with two ``gather`` calls over index grids, so the cost is two memory passes.
    """
    if padding == 0:
        return x
    b, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    offsets = torch.randint(0, 2 * padding + 1, (2, b), generator=generator, device=x.device)
    rows = offsets[0, :, None] + torch.arange(h, device=x.device)  # [B, H]
    cols = offsets[1, :, None] + torch.arange(w, device=x.device)  # [B, W]
    wp = w + 2 * padding
    out = padded.gather(2, rows[:, None, :, None].expand(b, c, h, wp))
    return out.gather(3, cols[:, None, None, :].expand(b, c, h, w))


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flip each image of ``[B, C, H, W]`` left-right with probability 1/2."""
    flip = torch.rand(x.shape[0], generator=generator, device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def crop_flip(x: torch.Tensor, padding: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """:func:`random_crop` then (if ``flip``) :func:`random_flip`, same generator."""
    x = random_crop(x, padding, generator)
    return random_flip(x, generator) if flip else x
