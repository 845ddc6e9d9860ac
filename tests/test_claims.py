"""Claim verdicts: the equivalence-test rules on closed-form cases, and the claims files."""

from __future__ import annotations

import pytest
import yaml

from paperlib.claims import CLAIMS_DIR, Claim, load_claims


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
        ("above", (0.70, 0.70), "does not hold"),   # equality refutes "strictly above"
        ("above", (0.50, 0.70), "does not hold"),
        ("above", (0.69, 0.75), "inconclusive"),
        ("below", (0.50, 0.69), "holds"),
        ("below", (0.70, 0.70), "does not hold"),
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
        "statement": "s", "where": "w", "paper_value": "72.42%", "rule": "equivalent", "tolerance": 0.01}}}))
    with pytest.raises(ValueError, match="paper_value must be a number"):
        load_claims("x", tmp_path)
