"""Each paper's printed numbers, transcribed once, and the rules that compare ours to them.

Claims live as data in ``claims/<paper>.yaml`` (numbers as numbers). An experiment measures an
estimate with a 95% confidence interval and calls :meth:`Claim.evaluate`; the verdict follows
an equivalence-test logic (two one-sided tests), so that a small sample gives *inconclusive*
rather than a verdict the data cannot carry:

``equivalent``  the paper's value ``v`` reproduces within tolerance ``t``: *holds* when our CI
                lies inside ``[v - t, v + t]``, *does not hold* when it lies wholly outside,
                *inconclusive* otherwise.
``at_least``    our quantity is at least ``v - t``: holds when CI low >= v - t, does not hold when
                CI high < v - t.
``at_most``     our quantity is at most ``v + t``: holds when CI high <= v + t, does not hold when
                CI low > v + t.
``above``       strictly above ``v`` (a claim that something is worse, larger, more vulnerable):
                holds when CI low > v, does not hold when CI high <= v (equality refutes it).
``below``       strictly below ``v``: holds when CI high < v, does not hold when CI low >= v.

Rules of the house, the same for every paper and every profile:

* Every ``tolerance`` lives in the claims file beside a one-line ``reason``; ``above`` and
  ``below`` take no tolerance (a file that gives one is rejected).
* An interval of zero width (e.g. a paired difference whose per-image differences are all
  equal) carries no evidence about sampling error: the verdict is *inconclusive*.
* A claim measured on several rows (one per attack, or per pair of curves) is combined by one
  stated rule, :data:`COMBINE_RULES`: ``all`` (every row must hold; an intersection-union test,
  each row at 95%, Berger 1982) or ``any`` (one row suffices). A row refutes an ``all`` claim (and
  one row proves an ``any`` claim) only at the Bonferroni level ``1 - 0.05 / m`` for ``m`` rows,
  which for "at least one" equals Holm's first step. :func:`combine` gives the claim's own row.

Every row also says whether it was measured at the paper's scale (profile ``paper``) and what
deviated, because a verdict on a scaled-down run is evidence about the trend, not a test of
the printed number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

CLAIMS_DIR = Path(__file__).resolve().parent.parent / "claims"
VERDICTS = ("holds", "does not hold", "inconclusive")
RULES = ("equivalent", "at_least", "at_most", "above", "below")
TOLERANT_RULES = ("equivalent", "at_least", "at_most")
COMBINE_RULES = ("all", "any")
CONFIDENCE = 0.95
Rule = Literal["equivalent", "at_least", "at_most", "above", "below"]


@dataclass(frozen=True)
class Claim:
    """One checkable statement of a paper.

    ``tolerance`` and its one-line ``reason`` belong to the rules that take one
    (:data:`TOLERANT_RULES`); ``combine`` says how the rows of a claim measured several times
    (per attack, per pair of curves) make its verdict (:func:`combine`)."""

    paper: str
    claim_id: str
    statement: str
    where: str
    paper_value: float
    rule: Rule
    tolerance: float = 0.0
    reason: str = ""
    unit: str = "fraction"
    combine: str = "all"
    paper_setting: dict[str, Any] = field(default_factory=dict)
    # How an experiment measures the quantity (free-form, read by the notebook that evaluates
    # the claim; e.g. SEM's curve comparisons: {figure: fig4, compare: [A, F], window: [0, 8/255]}).
    test: dict[str, Any] = field(default_factory=dict)

    def verdict(self, ci_low: float, ci_high: float) -> str:
        if not ci_low <= ci_high:
            raise ValueError(f"{self.claim_id}: confidence interval [{ci_low}, {ci_high}] is empty")
        if ci_low == ci_high:
            return "inconclusive"  # a point interval says nothing about sampling error
        lo_band, hi_band = self.paper_value - self.tolerance, self.paper_value + self.tolerance
        if self.rule == "equivalent":
            if lo_band <= ci_low and ci_high <= hi_band:
                return "holds"
            if ci_high < lo_band or ci_low > hi_band:
                return "does not hold"
            return "inconclusive"
        if self.rule == "at_least":
            return "holds" if ci_low >= lo_band else ("does not hold" if ci_high < lo_band else "inconclusive")
        if self.rule == "at_most":
            return "holds" if ci_high <= hi_band else ("does not hold" if ci_low > hi_band else "inconclusive")
        if self.rule == "above":
            v = self.paper_value
            return "holds" if ci_low > v else ("does not hold" if ci_high <= v else "inconclusive")
        if self.rule == "below":
            v = self.paper_value
            return "holds" if ci_high < v else ("does not hold" if ci_low >= v else "inconclusive")
        raise ValueError(f"{self.claim_id}: unknown rule {self.rule!r}")

    def evaluate(self, estimate: float, ci_low: float, ci_high: float, *, profile: str, deviations: str = "",
                 source: str = "", variant: str = "", adjusted: tuple[float, float] | None = None,
                 n: int | None = None, window: str = "") -> dict:
        """A claims-table row: the paper's value beside ours, the verdict and its context.

        ``variant`` names one of several measurements of the same claim (e.g. ``pgd`` when a
        figure's statement is checked for each attack); it becomes ``claim_id@variant``.
        ``adjusted``: the row's interval at the multiplicity-adjusted level that :func:`combine`
        uses (default: the 95% interval, for a claim measured once). ``n``: the sample the
        estimate rests on (images); ``window``: the budget window of a curve comparison."""
        adj_low, adj_high = adjusted if adjusted is not None else (ci_low, ci_high)
        return {
            "paper": self.paper,
            "claim_id": f"{self.claim_id}@{variant}" if variant else self.claim_id,
            "level": "row" if variant else "claim",
            "statement": self.statement,
            "where": self.where,
            "rule": self.rule,
            "paper_value": self.paper_value,
            "tolerance": self.tolerance,
            "reason": self.reason,
            "ours": float(estimate),
            "ci_low": float(ci_low),
            "ci_high": float(ci_high),
            "adj_low": float(adj_low),
            "adj_high": float(adj_high),
            "unit": self.unit,
            "window": window,
            "n": n,
            "verdict": self.verdict(ci_low, ci_high),
            "combine": "",
            "profile": profile,
            "at_paper_scale": profile == "paper",
            "deviations": deviations,
            "source": source,
        }


def adjusted_confidence(rows: int, confidence: float = CONFIDENCE) -> float:
    """The Bonferroni level ``1 - (1 - confidence) / rows`` at which one of ``rows`` rows may
    decide a combined claim on its own."""
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    return 1 - (1 - confidence) / rows


def combine(claim: Claim, rows: list[dict]) -> dict:
    """The claim-level row of ``claim`` from its per-row results (each with ``ci_low/ci_high`` at
    95% and ``adj_low/adj_high`` at :func:`adjusted_confidence` of ``len(rows)``).

    ``all``: holds when every row holds at 95% (intersection-union test); does not hold when
    some row does not hold at the adjusted level; else inconclusive. ``any``: holds when some
    row holds at the adjusted level; does not hold when every row does not hold at 95%.
    ``ours``/``ci_*`` are those of the deciding row (the refuting or proving one, or the row
    closest to failing), so the table shows the number behind the verdict."""
    if not rows:
        raise ValueError(f"{claim.claim_id}: no rows to combine")
    m = len(rows)
    at95 = [r["verdict"] for r in rows]
    adjusted = [claim.verdict(r["adj_low"], r["adj_high"]) for r in rows]
    if claim.combine == "all":
        if all(v == "holds" for v in at95):
            verdict, decider = "holds", _closest_to_failing(claim, rows)
        elif "does not hold" in adjusted:
            verdict, decider = "does not hold", adjusted.index("does not hold")
        else:
            verdict, decider = "inconclusive", next(i for i, v in enumerate(at95) if v != "holds")
    elif claim.combine == "any":
        if "holds" in adjusted:
            verdict, decider = "holds", adjusted.index("holds")
        elif all(v == "does not hold" for v in at95):
            verdict, decider = "does not hold", _closest_to_failing(claim, rows)
        else:
            verdict, decider = "inconclusive", next(i for i, v in enumerate(at95) if v != "does not hold")
    else:
        raise ValueError(f"{claim.claim_id}: unknown combine rule {claim.combine!r}")
    d = rows[decider]
    out = dict(d)
    out.update(claim_id=claim.claim_id, level="claim", verdict=verdict,
               combine=(f"{claim.combine} of {m} rows (each at 95%; one row decides alone at "
                        f"{100 * adjusted_confidence(m):.4g}%, Bonferroni = Holm's first step); deciding row: "
                        f"{d['claim_id']}"))
    return out


def _closest_to_failing(claim: Claim, rows: list[dict]) -> int:
    """Index of the row whose 95% interval comes nearest to the claim's boundary."""
    lo_band, hi_band = claim.paper_value - claim.tolerance, claim.paper_value + claim.tolerance

    def margin(r):
        if claim.rule in ("at_least", "above"):
            return r["ci_low"] - lo_band
        if claim.rule in ("at_most", "below"):
            return hi_band - r["ci_high"]
        return min(r["ci_low"] - lo_band, hi_band - r["ci_high"])

    return min(range(len(rows)), key=lambda i: margin(rows[i]))


def parse_budget(value, where: str) -> float:
    """A budget written in a claims file: a number or a fraction string such as ``"8/255"``."""
    if isinstance(value, bool):
        raise ValueError(f"{where}: a budget must be a number or 'p/q', got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value.count("/") == 1:
        num, den = value.split("/")
        try:
            n, d = float(num), float(den)
        except ValueError:
            pass
        else:
            if d > 0:
                return n / d
    raise ValueError(f"{where}: a budget must be a number or 'p/q' (e.g. 8/255), got {value!r}")


def parse_window(value, where: str) -> tuple[float, float]:
    """A claim's budget window ``[low, high]`` in the attack norm's units (``[0, 8/255]``)."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{where}: window must be [low, high], e.g. [0, 8/255], got {value!r}")
    low, high = parse_budget(value[0], where), parse_budget(value[1], where)
    if not 0 <= low < high:
        raise ValueError(f"{where}: window must satisfy 0 <= low < high, got [{low}, {high}]")
    return low, high


def make_claim(paper: str, claim_id: str, entry: dict, path: Path | str) -> Claim:
    """A validated :class:`Claim` from one mapping of a claims file; errors name the file and
    the claim. Used for every claim, including those built from transcribed tables."""
    where = f"{path}: claim {claim_id}"
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a mapping, got {entry!r}")
    rule = entry.get("rule")
    if rule not in RULES:
        raise ValueError(f"{where}: unknown rule {rule!r}; known: {list(RULES)}")
    if rule in TOLERANT_RULES:
        if "tolerance" not in entry or not str(entry.get("reason", "")).strip():
            raise ValueError(f"{where}: rule {rule!r} needs a tolerance and a one-line reason for it")
    elif "tolerance" in entry or "reason" in entry:
        raise ValueError(f"{where}: rule {rule!r} is strict and takes no tolerance (nor its reason)")
    try:
        claim = Claim(paper=paper, claim_id=claim_id, **entry)
    except TypeError as err:
        raise ValueError(f"{where}: {err}") from None
    for name in ("paper_value", "tolerance"):
        value = getattr(claim, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where}: {name} must be a number, got {value!r}")
    if claim.tolerance < 0:
        raise ValueError(f"{where}: tolerance must be >= 0")
    if claim.combine not in COMBINE_RULES:
        raise ValueError(f"{where}: combine must be one of {list(COMBINE_RULES)}, got {claim.combine!r}")
    if not isinstance(claim.test, dict):
        raise ValueError(f"{where}: test must be a mapping, got {claim.test!r}")
    if "window" in claim.test:
        parse_window(claim.test["window"], f"{where}: test.window")
    return claim


def load_claims_file(paper: str, claims_dir: Path = CLAIMS_DIR) -> dict:
    """The raw mapping of ``claims/<paper>.yaml`` (claims plus transcribed tables)."""
    path = Path(claims_dir) / f"{paper}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no claims file for paper {paper!r}")
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return data


def load_claims(paper: str, claims_dir: Path = CLAIMS_DIR) -> dict[str, Claim]:
    """The claims of ``claims/<paper>.yaml`` by id; errors name the file and the claim."""
    path = Path(claims_dir) / f"{paper}.yaml"
    data = load_claims_file(paper, claims_dir)
    return {claim_id: make_claim(paper, claim_id, entry, path)
            for claim_id, entry in (data.get("claims") or {}).items()}
