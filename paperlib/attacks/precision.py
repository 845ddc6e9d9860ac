"""Reduced-precision execution of a model for attacks: bf16 autocast + channels_last.

On CPUs with AMX-BF16 (this machine) PGD-20 on ResNet18 width 1/4 runs about 2x faster this way
(``../shared/MEASUREMENTS.md``; our numbers in ``benchmarks/results/attack_throughput.json``).
The attack itself stays in fp32: only the model's forward runs under autocast, and its logits are
cast back to fp32, so projections and budgets are exact. The change in attack success it causes
is measured by the benchmark.
"""

from __future__ import annotations

import torch
from torch import nn


class Bf16ChannelsLast(nn.Module):
    """Wraps ``model``: inputs to channels_last, forward under bf16 autocast on the input's
    device type, logits returned as fp32. Converts ``model``'s parameters to channels_last in
    place (harmless for fp32 use)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16):
            out = self.model(x.contiguous(memory_format=torch.channels_last))
        return out.float()
