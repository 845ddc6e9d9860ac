"""Small helpers shared by the model families."""

from __future__ import annotations


def scaled(channels: int, width: float) -> int:
    """Channel count ``channels * width``, rounded, at least 1 (the width multiplier)."""
    return max(1, int(round(channels * width)))
