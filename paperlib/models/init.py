"""Weight initialization from an explicit ``torch.Generator``.

Models are constructed on the ``meta`` device (no global RNG is touched, no memory used),
materialized with ``to_empty`` and then initialized here. Convolutions and linear layers get
PyTorch's own default (``kaiming_uniform_(a=sqrt(5))``, bias ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``),
which is what the reference CIFAR repositories we follow use; normalization layers get
weight 1, bias 0 and fresh running statistics. A module type not handled here that owns
parameters or buffers is an error, so nothing is ever left uninitialized.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .normalization import Normalize

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)


def _default_linear_init(module: nn.Module, generator: torch.Generator) -> None:
    nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
    if module.bias is not None:
        fan_in, _ = nn.init._calculate_fan_in_and_fan_out(module.weight)
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        nn.init.uniform_(module.bias, -bound, bound, generator=generator)


@torch.no_grad()
def init_weights(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Initialize every parameter and buffer of ``model`` in place from ``generator``.

    Modules are visited in ``named_modules`` order, so the result depends only on the
    architecture and the generator's seed. Returns ``model``.
    """
    for name, module in model.named_modules():
        own_params = list(module.parameters(recurse=False))
        own_buffers = list(module.buffers(recurse=False))
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            _default_linear_init(module, generator)
        elif isinstance(module, _NORMS):
            if getattr(module, "weight", None) is not None:
                module.weight.fill_(1.0)
            if getattr(module, "bias", None) is not None:
                module.bias.zero_()
            if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)) and module.track_running_stats:
                module.reset_running_stats()
        elif isinstance(module, Normalize):
            module.reset_buffers()
        elif hasattr(module, "reset_buffers"):
            module.reset_buffers()
        elif own_params or own_buffers:
            raise TypeError(f"init_weights: no rule for module {name!r} of type "
                            f"{type(module).__name__} with its own parameters/buffers")
    return model
