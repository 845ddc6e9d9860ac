"""Shared fixtures of the frame's tests (paths; the offline mirror, where there is one)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def mirror_root() -> Path | None:
    """The offline dataset mirror, chosen as the Makefile chooses it for the pipeline:
    ``PAPERLIB_DATA_MIRROR`` when set (empty, or a folder without the mirror's README, means
    no mirror: download), else ``../shared/data`` when it exists, else none."""
    env = os.environ.get("PAPERLIB_DATA_MIRROR")
    candidate = REPO.parent / "shared" / "data" if env is None else Path(env) if env else None
    if candidate is not None and (candidate / "README.md").is_file():
        return candidate
    return None


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def mirror() -> Path:
    root = mirror_root()
    if root is None:
        pytest.skip("offline dataset mirror not found (set PAPERLIB_DATA_MIRROR)")
    return root
