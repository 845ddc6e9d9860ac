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
Rule = Literal["equivalent", "at_least", "at_most", "above", "below"]


@dataclass(frozen=True)
class Claim:
    """One checkable statement of a paper."""

    paper: str
    claim_id: str
    statement: str
    where: str
    paper_value: float
    rule: Rule
    tolerance: float
    unit: str = "fraction"
    paper_setting: dict[str, Any] = field(default_factory=dict)
    # How an experiment measures the quantity (free-form, read by the notebook that evaluates
    # the claim; e.g. SEM's curve comparisons: {figure: fig4, compare: [A, F], budget: small}).
    test: dict[str, Any] = field(default_factory=dict)

    def verdict(self, ci_low: float, ci_high: float) -> str:
        if not ci_low <= ci_high:
            raise ValueError(f"{self.claim_id}: confidence interval [{ci_low}, {ci_high}] is empty")
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
                 source: str = "", variant: str = "") -> dict:
        """A claims-table row: the paper's value beside ours, the verdict and its context.

        ``variant`` names one of several measurements of the same claim (e.g. ``pgd`` when a
        figure's statement is checked for each attack); it becomes ``claim_id@variant``."""
        return {
            "paper": self.paper,
            "claim_id": f"{self.claim_id}@{variant}" if variant else self.claim_id,
            "statement": self.statement,
            "where": self.where,
            "rule": self.rule,
            "paper_value": self.paper_value,
            "tolerance": self.tolerance,
            "ours": float(estimate),
            "ci_low": float(ci_low),
            "ci_high": float(ci_high),
            "unit": self.unit,
            "verdict": self.verdict(ci_low, ci_high),
            "profile": profile,
            "at_paper_scale": profile == "paper",
            "deviations": deviations,
            "source": source,
        }


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
    claims = {}
    for claim_id, entry in (data.get("claims") or {}).items():
        try:
            claim = Claim(paper=paper, claim_id=claim_id, **entry)
        except TypeError as err:
            raise ValueError(f"{path}: claim {claim_id}: {err}") from None
        for name in ("paper_value", "tolerance"):
            value = getattr(claim, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{path}: claim {claim_id}: {name} must be a number, got {value!r}")
        if claim.rule not in RULES:
            raise ValueError(f"{path}: claim {claim_id}: unknown rule {claim.rule!r}")
        if claim.tolerance < 0:
            raise ValueError(f"{path}: claim {claim_id}: tolerance must be >= 0")
        if not isinstance(claim.test, dict):
            raise ValueError(f"{path}: claim {claim_id}: test must be a mapping, got {claim.test!r}")
        claims[claim_id] = claim
    return claims
