"""Shared fixtures of the frame's tests (paths; the offline mirror)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def mirror_root() -> Path | None:
    env = os.environ.get("PAPERLIB_DATA_MIRROR")
    for candidate in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if (candidate / "README.md").is_file():
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
