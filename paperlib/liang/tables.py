"""Liang & Samavi's Tables 2, 4 and 5 and their claims, from the per-test arrays of
:mod:`paperlib.liang.attacks`.

Cells are named as in ``claims/liang_samavi.yaml``: ``<table>:<dataset>_<row>:<column>``.

* accuracy tables (2a, 4b, 5b): ``ensemble`` (plain members, plain vote), ``ensemble_nl`` (examples
  crafted on noisy members, judged by the noisy vote), ``ensemble_nl_rv`` (the same with Rank
  Verification; accuracy over the tests it does not abstain on); columns ``clean`` (the tests'
  clean inputs) and ``attack``.
* single-network tables (4a, 5a): ``single`` / ``single_nl``: every member's accuracy on the tests,
  averaged over members.
* breakdowns (2b, 4c, 5c): the vote's share of correct / target / other answers on the adversarial
  inputs; perturbations (2c, 4d, 5d): the mean eq. 14 perturbation of each group.

Every cell is a ratio of sums over the tests, which come in clusters by clean input (one input gives
9 targets x m members of SN tests). Intervals are percentile bootstraps that resample inputs
(clusters) and, for the single-network averages, members too: what varies where the paper averages
(:class:`Bootstrap`). Differences of cells (the headline claims) are taken replicate by replicate,
so cells of one attack are compared on the same resampled inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch

from ..claims import Claim, combine, make_claim
from ..metrics.certify import ABSTAIN
from .attacks import TestSet
from .transfer import networks_changed, outcome

ATTACK_TABLES = {"sn": {"accuracy": "table2a", "breakdown": "table2b", "perturbation": "table2c"},
                 "si2": {"single": "table4a", "accuracy": "table4b", "breakdown": "table4c", "perturbation": "table4d"},
                 "si3": {"single": "table5a", "accuracy": "table5b", "breakdown": "table5c", "perturbation": "table5d"}}
OUTCOME_COLUMNS = ("correct", "target", "other")


@dataclass(frozen=True)
class Ratio:
    """A cell ``sum(num) / sum(den)``: per input ``(I,)`` (an ensemble's rate), or per member and
    input ``(L, I)``: a member's rate, averaged over members (the single-network cells)."""

    num: np.ndarray
    den: np.ndarray
    inputs: int

    @property
    def per_member(self) -> bool:
        return self.num.ndim == 2


def _per_input(values: torch.Tensor, input_of: torch.Tensor, inputs: int) -> np.ndarray:
    return np.bincount(input_of.numpy(), weights=values.double().numpy(), minlength=inputs)


def _ensemble(indicator: torch.Tensor, mask: torch.Tensor, t: TestSet, inputs: int) -> Ratio:
    return Ratio(_per_input(indicator & mask, t.input_of, inputs), _per_input(mask, t.input_of, inputs), inputs)


def cells_of(tests: Mapping[tuple[str, str], TestSet], dataset: str, inputs: Mapping[str, int]) -> dict[str, Ratio]:
    """Every cell that the tests ``{(attack, condition): TestSet}`` of one dataset measure."""
    out: dict[str, Ratio] = {}
    for attack, tables in ATTACK_TABLES.items():
        k = inputs[attack]
        for cond in ("plain", "nl"):
            t = tests.get((attack, cond))
            if t is None:
                continue
            nl = "_nl" if cond == "nl" else ""
            every = torch.ones_like(t.label, dtype=torch.bool)
            acc = tables["accuracy"]
            for col, v in (("clean", t.vote_clean), ("attack", t.vote_adv)):
                out[f"{acc}:{dataset}_ensemble{nl}:{col}"] = _ensemble(v == t.label, every, t, k)
            if cond == "nl":
                for col, rv in (("clean", t.rv_clean), ("attack", t.rv_adv)):
                    out[f"{acc}:{dataset}_ensemble_nl_rv:{col}"] = _ensemble(rv == t.label, rv != ABSTAIN, t, k)
            if "single" in tables:
                for col, m in (("clean", t.member_clean), ("attack", t.member_adv)):
                    ok = (m == t.label[None]).double().numpy()
                    num = np.stack([np.bincount(t.input_of.numpy(), weights=r, minlength=k) for r in ok])
                    den = np.broadcast_to(np.bincount(t.input_of.numpy(), minlength=k).astype(float), num.shape).copy()
                    out[f"{tables['single']}:{dataset}_single{nl}:{col}"] = Ratio(num, den, k)
            o = outcome(t.vote_adv, t.label, t.target)
            for j, col in enumerate(OUTCOME_COLUMNS):
                out[f"{tables['breakdown']}:{dataset}_ensemble{nl}:{col}"] = _ensemble(o == j, every, t, k)
                group = o == j
                out[f"{tables['perturbation']}:{dataset}_ensemble{nl}:{col}"] = Ratio(
                    _per_input(t.p.double() * group, t.input_of, k), _per_input(group, t.input_of, k), k)
    return out


class Bootstrap:
    """Replicate weights: for each number of inputs ``k``, multinomial counts over the ``k`` inputs;
    for the members, counts over the ``members``. Replicate 0 is the estimate itself (all ones)."""

    def __init__(self, members: int, reps: int = 2000, seed: int = 0):
        self.members, self.reps = members, reps
        self.rng = np.random.default_rng(seed)
        self._inputs: dict[int, np.ndarray] = {}
        self.net = self._draw(members)

    def _draw(self, k: int) -> np.ndarray:
        w = self.rng.multinomial(k, np.full(k, 1.0 / k), size=self.reps).astype(float)
        return np.vstack([np.ones(k), w])

    def inputs(self, k: int) -> np.ndarray:
        if k not in self._inputs:
            self._inputs[k] = self._draw(k)
        return self._inputs[k]

    def value(self, r: Ratio) -> np.ndarray:
        """``(reps + 1,)``: the cell in every replicate (NaN where its denominator is empty)."""
        w = self.inputs(r.inputs)
        with np.errstate(invalid="ignore", divide="ignore"):
            if not r.per_member:
                return (w @ r.num) / (w @ r.den)
            per = (w @ r.num.T) / (w @ r.den.T)                 # (R, L)
            return (per * self.net).sum(1) / self.net.sum(1)


def interval(reps: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """Estimate (replicate 0) and the percentile interval of the others (NaN replicates dropped)."""
    est, rest = float(reps[0]), reps[1:][np.isfinite(reps[1:])]
    if not np.isfinite(est) or len(rest) == 0:
        return est, float("nan"), float("nan")
    lo, hi = np.quantile(rest, [(1 - confidence) / 2, (1 + confidence) / 2])
    return est, float(lo), float(hi)


def cell_claims(spec: Mapping) -> dict[str, Claim]:
    """One claim per legible printed cell of every table of ``claims/liang_samavi.yaml``."""
    out = {}
    for table, t in spec["tables"].items():
        for row in t["rows"]:
            for col, value in zip(t["columns"], t["values"][row]):
                if value is None:
                    continue
                entry = {"statement": f"{t['what']}: {row}, {col} = {100 * value:.3f}%", "where": t["where"],
                         "paper_value": float(value), "rule": t["rule"], "tolerance": t["tolerance"],
                         "reason": t["reason"], "unit": "fraction"}
                out[f"{table}:{row}:{col}"] = make_claim("liang_samavi", f"{table}:{row}:{col}", entry,
                                                         "claims/liang_samavi.yaml")
    return out


def cell_table(spec: Mapping, values: Mapping[str, np.ndarray], tests_of: Mapping[str, int]) -> list[dict]:
    """Every printed cell (legible or not) beside ours: ``table, row, column, paper, ours, ci_low,
    ci_high, tests``; a cell the run does not measure has NaN."""
    rows = []
    for table, t in spec["tables"].items():
        for row in t["rows"]:
            for col, value in zip(t["columns"], t["values"][row]):
                name = f"{table}:{row}:{col}"
                est, lo, hi = interval(values[name]) if name in values else (float("nan"),) * 3
                rows.append({"table": table, "row": row, "column": col, "cell": name,
                             "paper": np.nan if value is None else value, "ours": est, "ci_low": lo, "ci_high": hi,
                             "garbled": t.get("garbled", {}).get(row, {}).get(col, ""),
                             "tests": tests_of.get(name, 0)})
    return rows


def transfer_difference(plain: TestSet, nl: TestSet, w_in: np.ndarray, n_bins: int = 40) -> np.ndarray:
    """Figure 1a/3a's gap per replicate: over the common perturbation bins, the mean over bins of
    (mean number of members changed to the target with NL) minus (without NL), eq. 15."""
    p = torch.cat([plain.p, nl.p]).double()
    lo, hi = float(p.min()), float(p.max())
    hi = hi if hi > lo else lo + 1e-12

    def per_bin(t: TestSet) -> tuple[np.ndarray, np.ndarray]:
        to_target, _ = networks_changed(t.member_clean, t.member_adv, t.target)
        b = ((t.p.double() - lo) / (hi - lo) * n_bins).floor().long().clamp_(0, n_bins - 1).numpy()
        w = w_in[:, t.input_of.numpy()]                       # (R, E)
        num = np.zeros((len(w_in), n_bins)); den = np.zeros((len(w_in), n_bins))
        for j in range(n_bins):
            sel = b == j
            if sel.any():
                num[:, j] = w[:, sel] @ to_target.double().numpy()[sel]
                den[:, j] = w[:, sel].sum(1)
        return num, den

    (n1, d1), (n2, d2) = per_bin(plain), per_bin(nl)
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = n2 / d2 - n1 / d1
        return np.nanmean(np.where((d1 > 0) & (d2 > 0), gap, np.nan), axis=1)


def mean_shift(plain: TestSet, nl: TestSet, w_in: np.ndarray) -> np.ndarray:
    """Mean eq. 14 perturbation with NL minus without, per replicate (weights by input)."""
    def mean(t):
        w = w_in[:, t.input_of.numpy()]
        return (w @ t.p.double().numpy()) / w.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return mean(nl) - mean(plain)


def claim_rows(claim: Claim, reps_by_row: Mapping[str, np.ndarray], *, profile: str, deviations: str, source: str,
               n: int | None = None, expected: int | None = None) -> tuple[list[dict], str]:
    """The rows of ``claim``: one per measured comparison, and the claim's own row (:func:`combine`)
    when every one of its ``expected`` comparisons (default: those given) was measured. A claim
    measured on only some of its comparisons gets its claim row only when the measured rows decide
    it whatever the others say (an ``all`` claim refuted, an ``any`` claim proven); otherwise the
    second value says why it has no verdict ("" when it has one)."""
    rows = []
    variants = list(reps_by_row)
    m = expected if expected is not None else len(variants)
    for v in variants:
        est, lo, hi = interval(reps_by_row[v])
        if not np.isfinite(lo):
            continue
        adj = interval(reps_by_row[v], 1 - 0.05 / m)[1:] if m > 1 else None
        rows.append(claim.evaluate(est, lo, hi, profile=profile, deviations=deviations, source=source,
                                   variant=v if m > 1 else "", adjusted=adj, n=n))
    if m <= 1 or not rows:
        return rows, "" if rows else "not measured"
    if len(rows) == m:
        return rows + [combine(claim, rows)], ""
    decided = combine(claim, rows)
    if (claim.combine == "all" and decided["verdict"] == "does not hold") or \
            (claim.combine == "any" and decided["verdict"] == "holds"):
        return rows + [decided], ""
    return rows, f"partly measured ({len(rows)} of {m} comparisons; the others compare a cell this run left empty)"
