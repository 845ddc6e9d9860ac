"""Tiny, real models for the attack/defense/metric tests (no dependency on paperlib.models).

A small CNN trained for a few seconds on the 5,000-image MNIST training subset of the offline
mirror (``../shared/data/mnist``) and evaluated on test images. Weights are drawn from explicit
generators, so every run trains the same model; results are cached for the pytest session.
"""

from __future__ import annotations

import functools
import gzip
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from paperlib.seeding import make_generator

MIRROR = Path(os.environ.get("PAPERLIB_DATA_MIRROR", Path(__file__).resolve().parents[2] / "shared" / "data"))


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


@functools.lru_cache(maxsize=None)
def mnist(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)``: x float (N, 1, 28, 28) in [0, 1], y int64. split: 'train5k' or 'test'."""
    stem = {"train5k": "train-5k", "test": "t10k"}[split]
    x = _read_idx(MIRROR / "mnist" / f"{stem}-images-idx3-ubyte.gz")
    y = _read_idx(MIRROR / "mnist" / f"{stem}-labels-idx1-ubyte.gz")
    return (torch.from_numpy(x.copy()).float().div_(255).unsqueeze(1),
            torch.from_numpy(y.copy()).long())


class TinyCNN(nn.Module):
    def __init__(self, width: int = 16):
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 5, stride=2, padding=2)
        self.conv2 = nn.Conv2d(width, 2 * width, 5, stride=2, padding=2)
        self.fc = nn.Linear(2 * width * 7 * 7, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x - 0.13))
        x = F.relu(self.conv2(x))
        return self.fc(x.flatten(1))


def _init(model: nn.Module, gen: torch.Generator) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) * (2.0 / fan_in) ** 0.5)


@functools.lru_cache(maxsize=None)
def trained_cnn(seed: int = 0, sigma: float = 0.0, width: int = 8, epochs: int = 1) -> TinyCNN:
    """A TinyCNN trained on MNIST train-5k (Gaussian input noise ``sigma`` if > 0), eval mode."""
    model = TinyCNN(width)
    cache = Path(tempfile.gettempdir()) / f"paperlib_tiny_{seed}_{sigma}_{width}_{epochs}.pt"
    if cache.exists():  # a deterministic training run, cached across pytest sessions
        model.load_state_dict(torch.load(cache, weights_only=True))
        return _frozen(model)
    x, y = mnist("train5k")
    _init(model, make_generator(seed, "init", "tiny", width))
    g = make_generator(seed, "data-order", "tiny", sigma)
    gn = make_generator(seed, "train-noise", "tiny", sigma)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for idx in perm.split(50):
            xb = x[idx]
            if sigma > 0:
                xb = xb + sigma * torch.randn(xb.shape, generator=gn)
            loss = F.cross_entropy(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, cache)
    return _frozen(model)


def _frozen(model: nn.Module) -> nn.Module:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def correct_test_batch(model: nn.Module, n: int, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` test images (from ``offset``) that ``model`` classifies correctly."""
    x, y = mnist("test")
    x, y = x[offset: offset + 4 * n], y[offset: offset + 4 * n]
    with torch.no_grad():
        ok = model(x).argmax(1) == y
    return x[ok][:n], y[ok][:n]
