"""Sections and the report: what a notebook writes is what the page and the claims CSV show."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import pytest

from paperlib.claims import Claim
from paperlib.report import build_report, write_section


def _section(folder, profile="smoke", verdict_ci=(0.68, 0.72)):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    c = Claim(paper="p", claim_id="acc", statement="accuracy is 70%", where="Table 1", paper_value=0.7, rule="equivalent", tolerance=0.05)
    write_section(folder, title="A section", paper="P (2020)", profile=profile, deviations=["fewer epochs"],
                  tables={"t": ("A table", pd.DataFrame({"model": ["a"], "ours": [0.7], "paper": [0.71]}))},
                  figures={"f": ("A figure", fig)}, claims=[c.evaluate(0.7, *verdict_ci, profile=profile)])
    plt.close(fig)


def test_section_files_and_report(tmp_path):
    _section(tmp_path / "s1")
    _section(tmp_path / "s2", verdict_ci=(0.5, 0.6))
    meta = json.loads((tmp_path / "s1" / "section.json").read_text())
    assert meta["tables"][0]["csv"] == "tables/t.csv" and (tmp_path / "s1" / "figures" / "f.png").stat().st_size > 1000
    assert (tmp_path / "s1" / "tables" / "t.md").read_text().startswith("| model | ours | paper |")
    claims = build_report([tmp_path / "s1", tmp_path / "s2"], tmp_path / "r" / "index.html", tmp_path / "claims.csv", title="T", profile="smoke")
    assert claims["verdict"].tolist() == ["holds", "does not hold"]
    page = (tmp_path / "r" / "index.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "fewer epochs" in page and "does not hold" in page
    assert pd.read_csv(tmp_path / "claims.csv")["verdict"].tolist() == ["holds", "does not hold"]


def test_report_refuses_mixed_profiles(tmp_path):
    _section(tmp_path / "s1", profile="default")
    with pytest.raises(ValueError, match="made with profile 'default'"):
        build_report([tmp_path / "s1"], tmp_path / "i.html", tmp_path / "c.csv", title="T", profile="smoke")


def test_report_names_a_missing_section(tmp_path):
    with pytest.raises(FileNotFoundError, match="section.json"):
        build_report([tmp_path / "nope"], tmp_path / "i.html", tmp_path / "c.csv", title="T", profile="smoke")


def test_report_counts_claims_not_rows_and_states_the_combination_rule(tmp_path):
    from paperlib.claims import combine
    from paperlib.report import verdict_counts

    c = Claim(paper="p", claim_id="worse", statement="H is worse than I", where="Fig. 4", paper_value=0.0, rule="above")
    rows = [c.evaluate(0.2, 0.1, 0.3, profile="smoke", variant=a, adjusted=(0.05, 0.35)) for a in ("bim", "mim")]
    rows.append(c.evaluate(-0.01, -0.05, 0.03, profile="smoke", variant="pgd", adjusted=(-0.07, 0.05)))
    claim_row = combine(c, rows)
    assert claim_row["verdict"] == "inconclusive" and claim_row["claim_id"] == "worse"
    fig, ax = plt.subplots()
    write_section(tmp_path / "s", title="S", paper="P", profile="smoke", deviations=[], tables={}, figures={"f": ("F", fig)},
                  claims=rows + [claim_row])
    plt.close(fig)
    table = build_report([tmp_path / "s"], tmp_path / "i.html", tmp_path / "c.csv", title="T", profile="smoke")
    assert len(table) == 4 and verdict_counts(table) == {"inconclusive": 1}
    page = (tmp_path / "i.html").read_text()
    assert "Claims: 1 inconclusive" in page and "intersection-union" in page and "worse@pgd" in page
