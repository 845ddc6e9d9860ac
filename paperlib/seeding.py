"""Named, independent random streams.

Every random choice in the package draws from a ``torch.Generator`` made here, never from
the global RNG. A stream is identified by the run's base seed and a name (``"data-order"``,
``"init"``, ``"defense-noise"``, ``"attack"``...), so adding draws to one stream (say an extra
attack restart) never shifts another (the defense's noise). Library code never calls
``torch.manual_seed``.
"""

from __future__ import annotations

import hashlib

import torch


def derive_seed(seed: int, *names: object) -> int:
    """Return a 63-bit seed derived from ``seed`` and the stream ``names``.

    SHA-256 of the joined parts, so streams are independent of each other and of the order in
    which they are created, and identical on every machine.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    text = "/".join([str(seed), *(str(n) for n in names)])
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def make_generator(seed: int, *names: object, device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded for the stream ``(seed, *names)``."""
    gen = torch.Generator(device=device)
    gen.manual_seed(derive_seed(seed, *names))
    return gen
