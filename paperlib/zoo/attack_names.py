"""The attack names every paper's params may use, and what access each needs (torch-free).

``"gradient"`` attacks need a differentiable ``nn.Module`` view of the defense;
``"query"`` attacks need only a ``probs_fn`` (score-based black box). Params validation
(:mod:`paperlib.config`) reads these names without importing torch; the callables live in
:mod:`paperlib.zoo.attacks`, whose registry is built from :data:`ATTACK_KINDS` so the two
cannot disagree.
"""

from __future__ import annotations

ATTACK_KINDS: dict[str, str] = {
    "fgsm": "gradient",
    "bim": "gradient",
    "mim": "gradient",
    "pgd": "gradient",
    "nes": "query",
    "spsa": "query",
}
GRADIENT_ATTACKS: tuple[str, ...] = tuple(n for n, k in ATTACK_KINDS.items() if k == "gradient")
QUERY_ATTACKS: tuple[str, ...] = tuple(n for n, k in ATTACK_KINDS.items() if k == "query")


def attack_kind(name: str) -> str:
    """``"gradient"`` or ``"query"``; ValueError listing the known names for any other ``name``."""
    try:
        return ATTACK_KINDS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown attack {name!r}; known: {list(ATTACK_KINDS)}") from None
