"""Checking the SEM paper's statements about Figures 3-8 on our curves (``claims/sem.yaml``).

A claim's ``test`` says what its statement compares, in the claims file and nowhere else:

``figure``    the figure whose searches it reads (``fig4``);
``compare``   one pair ``[X, Y]`` or a list of pairs; the quantity is ``mean ASR(X) - mean ASR(Y)``.
              An element is a curve (``A``), optionally pinned to an attack and a targeting:
              ``D@pgd``, ``E:targeted``, ``C@mim:untargeted``. Unpinned elements run over
              ``attacks`` and ``targeted``, one row each;
``window``    the budget window ``[low, high]`` in the attack norm's units (``[0, 8/255]``),
              fixed in epsilon units so that a claim means the same at every profile; the
              profile's search must reach ``high`` (else the evaluation stops with an error);
``targeted``  ``false``, ``true`` or both (``[false, true]``); ``attacks``: a subset of the
              figure's attacks (default: all of them).

Each row is the paired difference of the two curves' mean ASR over the window, on the images
that *both* compared defenses classify correctly when clean (column ``clean_correct`` of the
searches), with a 95% Student-t interval and the interval at the Bonferroni level of the
claim's row count; :func:`paperlib.claims.combine` makes the claim's verdict from its rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..claims import CONFIDENCE, Claim, adjusted_confidence, combine, parse_window
from ..config.sem import AttackParams
from ..metrics import paired_mean_interval, window_broken_share


def largest_budget(cfg: AttackParams) -> float:
    """The largest budget the exponential search tries: ``eps_init * 2^(search_steps - 1)``."""
    return cfg.eps_init * 2 ** (cfg.search_steps - 1)


def figure_claims(claims: dict[str, Claim], figure: str) -> list[Claim]:
    return [c for c in claims.values() if c.test.get("figure") == figure]


@dataclass(frozen=True)
class CurveRef:
    """One side of a comparison: a curve, and the attack / targeting it is pinned to (or None)."""

    curve: str
    attack: str | None = None
    targeted: bool | None = None

    @classmethod
    def parse(cls, text: str, where: str) -> "CurveRef":
        if not isinstance(text, str) or not text:
            raise ValueError(f"{where}: a compared curve must be a name such as 'A', 'D@pgd' or 'E:targeted', got {text!r}")
        head, _, tail = text.partition(":")
        curve, _, attack = head.partition("@")
        targeted = None
        if tail:
            if tail not in ("targeted", "untargeted"):
                raise ValueError(f"{where}: {text!r}: the part after ':' must be 'targeted' or 'untargeted'")
            targeted = tail == "targeted"
        return cls(curve, attack or None, targeted)

    def resolve(self, attack: str, targeted: bool) -> tuple[str, str, bool]:
        return (self.curve, self.attack or attack, self.targeted if self.targeted is not None else targeted)


def comparison_pairs(claim: Claim) -> list[tuple[CurveRef, CurveRef]]:
    """The claim's ``compare`` as pairs of :class:`CurveRef` (one pair or a list of pairs)."""
    where = f"claims/sem.yaml: claim {claim.claim_id}: test.compare"
    comp = claim.test.get("compare")
    if isinstance(comp, list) and len(comp) == 2 and all(isinstance(c, str) for c in comp):
        comp = [comp]
    if not isinstance(comp, list) or not comp or not all(isinstance(p, list) and len(p) == 2 for p in comp):
        raise ValueError(f"{where}: must be [X, Y] or a list of [X, Y] pairs, got {comp!r}")
    return [(CurveRef.parse(a, where), CurveRef.parse(b, where)) for a, b in comp]


def claim_window(claim: Claim) -> tuple[float, float]:
    if "window" not in claim.test:
        raise ValueError(f"claims/sem.yaml: claim {claim.claim_id}: test.window is required (e.g. [0, 8/255])")
    return parse_window(claim.test["window"], f"claims/sem.yaml: claim {claim.claim_id}: test.window")


def _targetings(claim: Claim) -> list[bool]:
    t = claim.test.get("targeted", False)
    return [bool(v) for v in t] if isinstance(t, list) else [bool(t)]


def _searches(tables: pd.DataFrame) -> dict[tuple[str, str, bool], pd.DataFrame]:
    """The per-image searches by ``(curve, attack, targeted)``, each sorted by image, split once."""
    return {(c, a, bool(t)): part.sort_values("index")
            for (c, a, t), part in tables.groupby(["curve", "attack", "targeted"], sort=False)}


def _label(key: tuple[str, str, bool]) -> str:
    return f"{key[0]}@{key[1]}:{'targeted' if key[2] else 'untargeted'}"


def claim_rows(claim: Claim, searches: dict) -> list[tuple[tuple, tuple]]:
    """The ``(left, right)`` curve keys ``(curve, attack, targeted)`` of every row of ``claim``
    that ``searches`` (a figure's, by :func:`_searches`) can measure, without duplicates."""
    attacks = claim.test.get("attacks") or sorted({a for _, a, _ in searches})
    keys = []
    for left, right in comparison_pairs(claim):
        for targeted in _targetings(claim):
            for attack in attacks:
                pair = (left.resolve(attack, targeted), right.resolve(attack, targeted))
                if pair not in keys and pair[0] in searches and pair[1] in searches:
                    keys.append(pair)
    return keys


def evaluate_curve_claims(claims: list[Claim], tables: pd.DataFrame, cfg: AttackParams, *, profile: str,
                          deviations: str, source: str) -> list[dict]:
    """Rows of the claims table for ``claims`` on ``tables`` (columns ``curve, attack, targeted,
    index, min_eps, clean_correct``: the per-image search results of one figure): one row per
    comparison, then the claim's combined row. A claim whose curves the figure did not run is
    skipped (the report lists only what was measured). ValueError when a claim's window ends
    beyond the budgets the profile searched."""
    if "clean_correct" not in tables.columns:
        raise ValueError("the searches lack column clean_correct (rerun the figure stage)")
    out = []
    searches = _searches(tables)
    top = largest_budget(cfg)
    for claim in claims:
        low, high = claim_window(claim)
        if high > top * (1 + 1e-9):
            raise ValueError(f"claims/sem.yaml: claim {claim.claim_id}: window [{low:.4g}, {high:.4g}] ends beyond the "
                             f"largest searched budget {top:.4g} (sem.attack.eps_init x 2^(search_steps - 1)); "
                             "raise sem.attack.search_steps")
        keys = claim_rows(claim, searches)
        if not keys:
            continue
        level = adjusted_confidence(len(keys), CONFIDENCE)
        rows = []
        for left, right in keys:
            ta, tb = searches[left], searches[right]
            if list(ta["index"]) != list(tb["index"]):
                raise ValueError(f"{claim.claim_id}: curves {_label(left)} and {_label(right)} were measured on different images")
            both = ta.clean_correct.to_numpy(bool) & tb.clean_correct.to_numpy(bool)
            d = (window_broken_share(ta.min_eps.to_numpy()[both], low, high)
                 - window_broken_share(tb.min_eps.to_numpy()[both], low, high))
            if d.size >= 2:
                est, lo, hi = paired_mean_interval(d, CONFIDENCE)
                _, alo, ahi = paired_mean_interval(d, level)
            else:  # too few images both defenses classify correctly: no evidence either way
                est, lo, hi, alo, ahi = (float(d.mean()) if d.size else float("nan")), -np.inf, np.inf, -np.inf, np.inf
            variant = f"{_label(left)}-vs-{_label(right)}"
            row = claim.evaluate(est, lo, hi, profile=profile, deviations=deviations, source=source, variant=variant,
                                 adjusted=(alo, ahi), n=int(both.sum()), window=f"[{low:.4g}, {high:.4g}]")
            rows.append(row)
        out.extend(rows)
        out.append(combine(claim, rows))
    return out
