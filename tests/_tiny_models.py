"""Tiny, real models for the attack/defense/metric tests (no dependency on paperlib.models).

A small CNN trained for a few seconds on a 5,000-image MNIST training subset and evaluated on
the 10,000 test images. Weights are drawn from explicit generators, so every run trains the same
model; results are cached for the pytest session.

The data comes the way the pipeline gets it: the ``data`` stage's own code
(:func:`paperlib.data.prepare.prepare`) prepares MNIST into a per-session temporary folder from
the offline mirror where there is one (``PAPERLIB_DATA_MIRROR``, else ``../shared/data``; see
``tests/conftest.py::mirror_root``), and otherwise from torchvision's download (cached in
``~/.cache/paperlib/downloads``, where the data stage puts it). The mirror's training split is
itself a 5,000-image subset (500 images per digit, sorted by digit; its README does not say
which 500 of the 60,000, so they cannot be picked out of the full set): with the mirror the
tests use it as it is, and their numbers are the ones they always had. From the full download
they use a class-balanced subset of the same shape (500 per digit, drawn with the seeded stream
``(0, "tests", "mnist-train5k")``, sorted by digit): other images, so a trained model's numbers
differ slightly, and the tests' thresholds hold for both.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from paperlib.data import class_balanced_subset, load_manifest, load_split
from paperlib.seeding import make_generator
from tests.conftest import mirror_root

TRAIN_SUBSET = 5_000  # the mirror's MNIST training subset: 500 images per digit
DOWNLOAD_ROOT = Path.home() / ".cache" / "paperlib" / "downloads"  # the data stage's default


def prepare_mnist(root: Path, *, download_root: Path = DOWNLOAD_ROOT) -> Path:
    """MNIST prepared by the data stage's code into ``root/mnist`` (mirror, else download)."""
    from paperlib.data.prepare import prepare

    out = Path(root) / "mnist"
    if not (out / "manifest.json").is_file():
        prepare("mnist", out, mirror=mirror_root(), download_root=download_root)
    return out


def load_mnist(root: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{"train5k": (x, y), "test": (x, y)}`` from prepared ``root/mnist``: x float (N, 1, 28, 28)
    in [0, 1], y int64; the training split cut to 500 images per digit when it is the full set."""
    out = {}
    for name, split in (("train5k", "train"), ("test", "test")):
        x, y = load_split("mnist", split, root=root)
        if split == "train" and len(y) > TRAIN_SUBSET:
            idx = class_balanced_subset(y, TRAIN_SUBSET, make_generator(0, "tests", "mnist-train5k"))
            idx = idx[torch.sort(y[idx], stable=True).indices]
            x, y = x[idx], y[idx]
        out[name] = (x.float().div_(255), y)
    return out


@functools.lru_cache(maxsize=None)
def _session_data() -> tuple[Path, str]:
    """The per-session prepared MNIST and its source (``mirror`` or ``torchvision``)."""
    root = Path(tempfile.mkdtemp(prefix="paperlib-tests-data-"))
    atexit.register(shutil.rmtree, root, True)
    prepare_mnist(root)
    return root, load_manifest("mnist", root)["source"]


@functools.lru_cache(maxsize=None)
def mnist(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)``: x float (N, 1, 28, 28) in [0, 1], y int64. split: 'train5k' or 'test'."""
    if split not in ("train5k", "test"):
        raise ValueError(f"split must be 'train5k' or 'test', got {split!r}")
    return load_mnist(_session_data()[0])[split]


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
    source = "" if _session_data()[1] == "mirror" else "download_"  # other training images
    cache = Path(tempfile.gettempdir()) / f"paperlib_tiny_{source}{seed}_{sigma}_{width}_{epochs}.pt"
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
