"""Datasets: the registry, the ``data`` stage, and loading prepared arrays as tensors.

Prepared arrays (``data/<name>/{train,test}_{x,y}.npy``) are loaded once as uint8 tensors and
moved to the device whole; conversion to float happens per batch on the device.
"""

from __future__ import annotations

import json
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

from paperlib.data.mirror import DataSourceError
from paperlib.data.registry import DATASETS, DatasetSpec, get_spec

if TYPE_CHECKING:
    import torch

__all__ = ["DATASETS", "DataSourceError", "DatasetSpec", "get_spec", "load_split", "load_manifest", "class_balanced_subset"]


def load_manifest(name: str, root: str | Path = "data") -> dict:
    path = Path(root) / name / "manifest.json"
    if not path.is_file():
        raise DataSourceError(f"{path}: missing; run the data stage first (dvc repro data@{name})")
    return json.loads(path.read_text())


def load_split(name: str, split: str, root: str | Path = "data", device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Prepared split as ``(x uint8 [N, C, H, W], y int64 [N])`` on ``device``."""
    import torch  # here, not at module level: params validation imports this package (no torch there)

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = Path(root) / name
    arrays = []
    for suffix in ("x", "y"):
        path = folder / f"{split}_{suffix}.npy"
        if not path.is_file():
            raise DataSourceError(f"{path}: missing; run the data stage first (dvc repro data@{name})")
        arrays.append(torch.from_numpy(np.load(path, allow_pickle=False)))
    x, y = arrays
    return x.to(device), y.to(device)


def class_balanced_subset(y: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """Indices of ``n`` examples, as equal per class as possible, chosen at random by ``generator``.

    ``n = 0`` or ``n >= len(y)`` means all examples (in a random order). Vectorized: a random
    permutation, stably sorted by class, keeps each class's first ``ceil(n / classes)`` draws;
    the final order is by position in the permutation.
    """
    import torch

    total = len(y)
    perm = torch.randperm(total, generator=generator, device=generator.device).to(y.device)
    if n <= 0 or n >= total:
        return perm
    labels = y[perm]
    num_classes = int(y.max().item()) + 1
    order = torch.sort(labels, stable=True).indices
    sorted_labels = labels[order]
    starts = torch.searchsorted(sorted_labels, torch.arange(num_classes, device=y.device))
    rank = torch.arange(total, device=y.device) - starts[sorted_labels]
    per_class = -(-n // num_classes)
    keep_sorted = order[rank < per_class]
    keep = torch.sort(keep_sorted).values[:n]
    return perm[keep]
