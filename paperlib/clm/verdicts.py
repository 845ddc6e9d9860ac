"""CLM's claims (``claims/clm.yaml``) judged on the tables' per-image results.

A table item holds, for every cell it regenerates, a ``(n_submodels, N)`` correctness matrix
(:func:`paperlib.clm.evaluation.correctness`) keyed ``(row, column)`` in the paper's layout:
Table 1 ``(population, dataset)``, Tables 2-5 ``(attack, population)``. Every printed number
becomes a claim ``<table>:<row>:<column>`` with the table's rule and tolerance (built by
:func:`paperlib.claims.make_claim`); headline claims of kind ``difference`` and
``attack_difference`` compare two cells of one table on the same images (paired per-image
differences, Student-t), one row per attack or dataset, combined by :func:`paperlib.claims.combine`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from ..claims import Claim, adjusted_confidence, combine, load_claims, load_claims_file, make_claim, parse_budget
from ..metrics.curve_compare import paired_mean_interval

POPULATION_KINDS = {"ULM": "ulm", "CLM": "clm", "ULM-Adv": "ulm_adv", "CLM-Adv": "clm_adv"}
TABLE_KINDS = ("difference", "attack_difference")


def table_spec(table: str, claims_dir=None) -> dict:
    """The transcribed table ``table`` of ``claims/clm.yaml``; KeyError naming the known ones."""
    data = load_claims_file("clm", claims_dir) if claims_dir else load_claims_file("clm")
    tables = data.get("tables") or {}
    if table not in tables:
        raise KeyError(f"claims/clm.yaml has no table {table!r}; known: {sorted(tables)}")
    spec = dict(tables[table])
    spec["eps_value"] = parse_budget(spec.get("eps", 0), f"claims/clm.yaml: tables.{table}.eps")
    return spec


def cell_claims(table: str, spec: Mapping) -> dict[tuple[str, str], Claim]:
    """One claim per printed number of ``table``: ``{(row, column): Claim}``."""
    out = {}
    for row in spec["rows"]:
        for col, value in zip(spec["columns"], spec["values"][row]):
            entry = {"statement": f"{spec['what']}: {row}, {col} = {100 * value:.2f}%", "where": spec["where"],
                     "paper_value": float(value), "rule": spec["rule"], "tolerance": spec["tolerance"],
                     "reason": spec["reason"], "unit": "fraction (MRA)"}
            out[(row, col)] = make_claim("clm", f"{table}:{row}:{col}", entry, "claims/clm.yaml")
    return out


def _scores(correct: torch.Tensor) -> np.ndarray:
    return correct.double().mean(0).cpu().numpy()


def evaluate_cells(table: str, spec: Mapping, cells: Mapping[tuple[str, str], torch.Tensor], *, profile: str,
                   deviations: str, source: str) -> list[dict]:
    """The rows of every printed number of ``table`` that ``cells`` measured (others are skipped)."""
    rows = []
    for key, claim in cell_claims(table, spec).items():
        if key not in cells:
            continue
        s = _scores(cells[key])
        est, lo, hi = paired_mean_interval(s)
        rows.append(claim.evaluate(est, lo, hi, profile=profile, deviations=deviations, source=source, n=len(s)))
    return rows


def headline_claims(table: str, claims: Mapping[str, Claim] | None = None) -> list[Claim]:
    """The headline claims measured on ``table`` (test kinds ``difference``/``attack_difference``)."""
    claims = load_claims("clm") if claims is None else claims
    return [c for c in claims.values() if c.test.get("kind") in TABLE_KINDS and c.test.get("table") == table]


def _pairs(claim: Claim, spec: Mapping) -> list[tuple[str, tuple[str, str], tuple[str, str]]]:
    """(variant, cell a, cell b) for every row of a headline claim."""
    t = claim.test
    if t["kind"] == "attack_difference":
        pop = t["population"]
        return [(f"{t['compare_row']}-{r}", (t["compare_row"], pop), (r, pop)) for r in t["rows"]]
    a, b = t["compare"]
    if a in spec["rows"]:  # populations are rows (Table 1): one row per column
        return [(c, (a, c), (b, c)) for c in t.get("columns", spec["columns"])]
    return [(r, (r, a), (r, b)) for r in t.get("rows", spec["rows"])]


def evaluate_headlines(table: str, spec: Mapping, cells: Mapping[tuple[str, str], torch.Tensor], *, profile: str,
                       deviations: str, source: str, claims: Mapping[str, Claim] | None = None) -> list[dict]:
    """Rows and claim-level rows of the headline claims on ``table``; a claim whose cells the
    table did not measure is skipped (listed in no row)."""
    out = []
    for claim in headline_claims(table, claims):
        pairs = [p for p in _pairs(claim, spec) if p[1] in cells and p[2] in cells]
        if not pairs:
            continue
        level = adjusted_confidence(len(pairs))
        rows = []
        for variant, a, b in pairs:
            d = _scores(cells[a]) - _scores(cells[b])
            est, lo, hi = paired_mean_interval(d)
            _, alo, ahi = paired_mean_interval(d, level)
            rows.append(claim.evaluate(est, lo, hi, profile=profile, deviations=deviations, source=source,
                                       variant=variant, adjusted=(alo, ahi), n=len(d)))
        out.extend(rows)
        out.append(combine(claim, rows))
    return out
