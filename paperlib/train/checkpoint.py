"""Atomic checkpoint and JSON writes; loading with ``weights_only=True``.

Layout of a run directory:
  - ``checkpoint.pt``: resumable state (model, optimizer, generators, history, epoch),
    rewritten every ``checkpoint_every`` epochs;
  - ``model.pt``: the final ``state_dict`` (written once training is complete);
  - ``history.json``: per-epoch loss, accuracies, learning rate and wall time, plus the
    resolved config and seed.
Every file is written to a temporary name in the same directory and renamed into place, so
a killed run never leaves a truncated file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch

CHECKPOINT_NAME = "checkpoint.pt"
MODEL_NAME = "model.pt"
HISTORY_NAME = "history.json"


def _atomic(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_atomic(obj, path: str | os.PathLike) -> None:
    """``torch.save(obj, path)`` via a temporary file and ``os.replace``."""
    _atomic(Path(path), lambda fh: torch.save(obj, fh))


def write_json_atomic(obj, path: str | os.PathLike) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    data = (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode("utf-8")
    _atomic(Path(path), lambda fh: fh.write(data))


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint file with ``weights_only=True`` (no arbitrary unpickling).

    ``path`` may be a ``model.pt`` file or a run directory (its ``model.pt`` is read).
    Returns the stored dict (for ``model.pt``: the model's ``state_dict``).
    """
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return torch.load(path, map_location=map_location, weights_only=True)
