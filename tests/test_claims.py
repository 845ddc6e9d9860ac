"""Claim verdicts: the equivalence-test rules on closed-form cases, and the claims files."""

from __future__ import annotations

import pytest
import yaml

import numpy as np

from paperlib.claims import CLAIMS_DIR, Claim, adjusted_confidence, combine, load_claims, parse_budget
from paperlib.metrics import difference_to_pooled_networks


def claim(rule, value=0.7, tol=0.05):
    return Claim(paper="p", claim_id="c", statement="s", where="w", paper_value=value, rule=rule, tolerance=tol)


@pytest.mark.parametrize(
    "rule, ci, verdict",
    [
        ("equivalent", (0.66, 0.74), "holds"),
        ("equivalent", (0.60, 0.64), "does not hold"),
        ("equivalent", (0.76, 0.80), "does not hold"),
        ("equivalent", (0.62, 0.70), "inconclusive"),
        ("equivalent", (0.50, 0.90), "inconclusive"),
        ("at_least", (0.65, 0.99), "holds"),
        ("at_least", (0.10, 0.64), "does not hold"),
        ("at_least", (0.60, 0.70), "inconclusive"),
        ("at_most", (0.10, 0.75), "holds"),
        ("at_most", (0.76, 0.90), "does not hold"),
        ("at_most", (0.70, 0.80), "inconclusive"),
        ("above", (0.71, 0.80), "holds"),
        ("above", (0.65, 0.70), "does not hold"),   # equality refutes "strictly above"
        ("above", (0.70, 0.70), "inconclusive"),    # a point interval carries no evidence
        ("equivalent", (0.70, 0.70), "inconclusive"),
        ("above", (0.50, 0.70), "does not hold"),
        ("above", (0.69, 0.75), "inconclusive"),
        ("below", (0.50, 0.69), "holds"),
        ("below", (0.70, 0.75), "does not hold"),
        ("below", (0.65, 0.72), "inconclusive"),
    ],
)
def test_verdicts(rule, ci, verdict):
    assert claim(rule).verdict(*ci) == verdict


def test_evaluate_row_records_scale():
    row = claim("equivalent").evaluate(0.7, 0.68, 0.72, profile="default", deviations="few epochs")
    assert row["verdict"] == "holds" and row["at_paper_scale"] is False and row["deviations"] == "few epochs"
    assert claim("equivalent").evaluate(0.7, 0.68, 0.72, profile="paper")["at_paper_scale"] is True
    with pytest.raises(ValueError, match="empty"):
        claim("equivalent").verdict(0.8, 0.7)


def test_claims_files_hold_numbers():
    files = sorted(CLAIMS_DIR.glob("*.yaml"))
    assert files
    for path in files:
        claims = load_claims(path.stem)
        assert claims, path
        for c in claims.values():
            assert isinstance(c.paper_value, float | int) and not isinstance(c.paper_value, bool)
    assert load_claims("liang_samavi")["cifar10_teacher_accuracy"].paper_value == pytest.approx(0.7242)


def test_a_string_number_is_rejected(tmp_path):
    (tmp_path / "x.yaml").write_text(yaml.safe_dump({"claims": {"c": {
        "statement": "s", "where": "w", "paper_value": "72.42%", "rule": "equivalent", "tolerance": 0.01, "reason": "r"}}}))
    with pytest.raises(ValueError, match="paper_value must be a number"):
        load_claims("x", tmp_path)


def _write(tmp_path, entry):
    (tmp_path / "x.yaml").write_text(yaml.safe_dump({"claims": {"c": {"statement": "s", "where": "w", "paper_value": 0.0, **entry}}}))
    return tmp_path


@pytest.mark.parametrize("entry, message", [
    ({"rule": "at_most", "tolerance": 0.02}, "reason"),                      # a tolerance needs its reason
    ({"rule": "equivalent"}, "tolerance"),                                    # and must be stated
    ({"rule": "above", "tolerance": 0.0}, "takes no tolerance"),              # strict rules reject one
    ({"rule": "below", "tolerance": 0.01, "reason": "r"}, "takes no tolerance"),
    ({"rule": "above", "combine": "most"}, "combine"),
    ({"rule": "above", "test": {"window": [0, "8/0"]}}, "window"),
    ({"rule": "above", "test": {"window": [0.1, 0.05]}}, "window"),
])
def test_claims_file_rules_are_enforced(tmp_path, entry, message):
    with pytest.raises(ValueError, match=message):
        load_claims("x", _write(tmp_path, entry))


def test_every_tolerance_in_the_claims_files_has_a_reason():
    for path in sorted(CLAIMS_DIR.glob("*.yaml")):
        for c in load_claims(path.stem).values():
            assert c.rule in ("above", "below") or c.reason.strip(), (path, c.claim_id)


def test_budgets_are_written_in_epsilon_units():
    assert parse_budget("8/255", "w") == pytest.approx(8 / 255) and parse_budget(0, "w") == 0.0
    with pytest.raises(ValueError, match="p/q"):
        parse_budget("eight", "w")


def _rows(c, intervals):
    m = len(intervals)
    from scipy import stats
    out = []
    for est, half in intervals:  # a normal interval; the adjusted one from the same standard error
        se = half / stats.norm.ppf(0.975)
        adj = stats.norm.ppf(1 - (1 - adjusted_confidence(m)) / 2) * se
        out.append(c.evaluate(est, est - half, est + half, profile="default", variant=f"r{len(out)}",
                              adjusted=(est - adj, est + adj)))
    return out


def test_combine_all_is_intersection_union_and_refutes_at_the_bonferroni_level():
    c = claim("below", value=0.0, tol=0.0)
    assert combine(c, _rows(c, [(-0.2, 0.1), (-0.3, 0.1)]))["verdict"] == "holds"
    assert combine(c, _rows(c, [(-0.2, 0.1), (-0.05, 0.1)]))["verdict"] == "inconclusive"
    # 0.11 above 0 with half-width 0.1 refutes at 95% but not at the 97.5% Bonferroni level.
    rows = _rows(c, [(-0.2, 0.1), (0.11, 0.1)])
    assert rows[1]["verdict"] == "does not hold" and combine(c, rows)["verdict"] == "inconclusive"
    out = combine(c, _rows(c, [(-0.2, 0.1), (0.3, 0.1)]))
    assert out["verdict"] == "does not hold" and out["claim_id"] == "c" and out["level"] == "claim"
    assert out["ours"] == pytest.approx(0.3) and "r1" in out["combine"]
    assert adjusted_confidence(4) == pytest.approx(0.9875)


def test_combine_any_needs_one_row_at_the_adjusted_level():
    c = Claim(paper="p", claim_id="c", statement="s", where="w", paper_value=0.0, rule="at_least", tolerance=0.0,
              reason="r", combine="any")
    assert combine(c, _rows(c, [(-0.3, 0.1), (0.3, 0.1)]))["verdict"] == "holds"
    assert combine(c, _rows(c, [(-0.3, 0.1), (-0.4, 0.1)]))["verdict"] == "does not hold"
    assert combine(c, _rows(c, [(-0.3, 0.1), (0.0, 0.1)]))["verdict"] == "inconclusive"


def test_pooled_difference_interval_carries_the_spread_across_networks():
    """Two-level bootstrap: with identical networks it matches the paired bootstrap over images
    (a t interval, approximately); networks that disagree widen it."""
    rng = np.random.default_rng(0)
    n = 400
    ours = rng.random(n) < 0.8
    same = np.tile(rng.random(n) < 0.6, (5, 1))
    est, lo, hi = difference_to_pooled_networks(ours, same, seed=1)
    d = ours.astype(float) - same[0]
    half = 1.96 * d.std(ddof=1) / np.sqrt(n)
    assert est == pytest.approx(d.mean()) and hi - lo == pytest.approx(2 * half, rel=0.15)
    spread = np.stack([rng.random(n) < p for p in (0.3, 0.45, 0.6, 0.75, 0.9)])
    _, lo2, hi2 = difference_to_pooled_networks(ours, spread, seed=1)
    assert hi2 - lo2 > 2 * (hi - lo)
    with pytest.raises(ValueError):
        difference_to_pooled_networks(ours, same[:, :-1], seed=1)
