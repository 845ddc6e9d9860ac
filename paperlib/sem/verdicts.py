"""Checking the SEM paper's statements about Figures 3-8 on our curves (``claims/sem.yaml``).

A claim's ``test`` names its figure, the two curves compared (``compare: [X, Y]``), the budget
window (``small``: ``sem.attack.small_budget``; ``all``: the largest budget the exponential
search tried) and whether the attack is targeted. The quantity is the paired difference of the
two curves' mean ASR over that window (:func:`paperlib.metrics.paired_difference`), one
claims-table row per attack of the figure (``claim_id@pgd``).
"""

from __future__ import annotations

import pandas as pd

from ..claims import Claim
from ..config.sem import AttackParams
from ..metrics import paired_difference


def largest_budget(cfg: AttackParams) -> float:
    """The largest budget the exponential search tries: ``eps_init * 2^(search_steps - 1)``."""
    return cfg.eps_init * 2 ** (cfg.search_steps - 1)


def figure_claims(claims: dict[str, Claim], figure: str) -> list[Claim]:
    return [c for c in claims.values() if c.test.get("figure") == figure]


def evaluate_curve_claims(claims: list[Claim], tables: pd.DataFrame, cfg: AttackParams, *, profile: str,
                          deviations: str, source: str) -> list[dict]:
    """Rows of the claims table for ``claims`` on ``tables`` (columns ``curve, attack, targeted,
    index, min_eps``: the per-image search results of one figure). A claim whose curves or
    targeting the figure did not run is skipped (the report lists only what was measured)."""
    rows = []
    for claim in claims:
        a, b = claim.test["compare"]
        window = claim.test.get("budget", "all")
        budget = cfg.small_budget if window == "small" else largest_budget(cfg)
        targeted = bool(claim.test.get("targeted", False))
        sub = tables[tables.targeted == targeted]
        for attack in sorted(sub.attack.unique()):
            part = sub[sub.attack == attack]
            ta = part[part.curve == a].sort_values("index")
            tb = part[part.curve == b].sort_values("index")
            if ta.empty or tb.empty:
                continue
            if list(ta["index"]) != list(tb["index"]):
                raise ValueError(f"{claim.claim_id}: curves {a} and {b} were measured on different images")
            est, lo, hi = paired_difference(ta.min_eps.to_numpy(), tb.min_eps.to_numpy(), budget)
            row = claim.evaluate(est, lo, hi, profile=profile, deviations=deviations, source=source, variant=attack)
            row["window"] = f"[0, {budget:.4g}]"
            rows.append(row)
    return rows
