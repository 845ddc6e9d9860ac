"""The reviewers' page (paperlib/report_page.py): printed numbers at a reduced scale counted apart from
the claims a reduced profile tests, the per-paper summary, filters, rendered notebooks, refusals."""

from __future__ import annotations

import base64
import json

import pandas as pd
import pytest
import yaml

from paperlib.claims import CLAIMS_DIR, make_claim
from paperlib.report import CLAIM_COLUMNS
from paperlib.report_page import PRINTED, build_page, claim_scope, notebook_html, paper_summary, registered_numbers

PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082")).decode()


def _row(paper, claim_id, rule, paper_value, verdict, profile="default", level="claim", tolerance=0.0):
    entry = {"statement": f"{claim_id} statement", "where": "somewhere", "paper_value": paper_value, "rule": rule}
    if rule in ("equivalent", "at_least", "at_most"):
        entry.update(tolerance=tolerance or 0.05, reason="a reason")
    claim = make_claim(paper, claim_id.split("@")[0], entry, "claims/x.yaml")
    # a verdict as measured: pick an interval that gives it under the claim's own rule
    lo, hi = {("holds", "above"): (0.1, 0.2), ("does not hold", "above"): (-0.2, -0.1),
              ("inconclusive", "above"): (-0.1, 0.1), ("holds", "equivalent"): (paper_value - 0.01, paper_value + 0.01),
              ("does not hold", "equivalent"): (paper_value + 0.2, paper_value + 0.3),
              ("inconclusive", "equivalent"): (paper_value - 0.01, paper_value + 0.3)}[(verdict, rule)]
    r = claim.evaluate((lo + hi) / 2, lo, hi, profile=profile, variant=claim_id.split("@")[1] if "@" in claim_id else "")
    assert r["verdict"] == verdict
    return r


def _section(folder, paper, rows, profile="default", notebook=""):
    folder.mkdir(parents=True)
    (folder / "tables").mkdir()
    pd.DataFrame({"a": [1.5]}).to_csv(folder / "tables" / "t.csv", index=False)
    (folder / "section.json").write_text(json.dumps({
        "title": f"{paper} section", "paper": paper, "profile": profile, "deviations": ["fewer images"],
        "narrative": "n", "notebook": notebook, "tables": [{"name": "t", "caption": "table t", "csv": "tables/t.csv"}],
        "figures": []}))
    pd.DataFrame(rows, columns=CLAIM_COLUMNS).to_csv(folder / "claims.csv", index=False)


def test_a_printed_magnitude_is_printed_and_an_ordering_or_a_difference_is_a_trend():
    assert claim_scope("equivalent", 0.0, "table2a:mnist_ensemble:clean") == "printed"   # a table cell
    assert claim_scope("equivalent", 0.7242, "cifar10_teacher_accuracy") == "printed"
    assert claim_scope("at_least", 0.5, "x") == "printed"
    assert claim_scope("above", 0.0, "x") == "trend"
    assert claim_scope("above", 0.3, "x") == "trend"                     # strict rules test an ordering
    assert claim_scope("equivalent", 0.0, "close_to_clean") == "trend"   # a difference around 0
    assert claim_scope("at_most", 0.0, "violations") == "trend"


def test_registered_numbers_count_the_claims_files_cells_and_text_numbers():
    data = yaml.safe_load((CLAIMS_DIR / "liang_samavi.yaml").read_text())
    cells = [v for t in data["tables"].values() for row in t["values"].values() for v in row]
    text = [c for c in data["claims"].values() if c["paper_value"] != 0]
    assert registered_numbers("liang_samavi") == (sum(v is not None for v in cells) + len(text), len(cells) + len(text))
    assert registered_numbers("liang_samavi") == (116, 126)      # 114 legible cells + 94.03% and 72.42%; 124 printed cells
    assert registered_numbers("no_such_paper") == (0, 0)


def test_summary_counts_trend_claims_and_sets_printed_numbers_apart(tmp_path):
    rows = [_row("p", "table1:a:b", "equivalent", 0.9, "does not hold"),
            _row("p", "acc", "equivalent", 0.7, "holds"),
            _row("p", "up", "above", 0.0, "holds"),
            _row("p", "down", "above", 0.0, "does not hold"),
            _row("p", "flat@x", "above", 0.0, "inconclusive", level="row"),
            _row("p", "flat", "above", 0.0, "inconclusive")]
    s = paper_summary(pd.DataFrame(rows), claims_dir=tmp_path).iloc[0]
    assert (s["holds"], s["does not hold"], s["inconclusive"], s[PRINTED]) == (1, 1, 1, 2)
    # at the paper's own scale every claim counts
    paper_rows = [dict(r, profile="paper", at_paper_scale=True) for r in rows]
    s = paper_summary(pd.DataFrame(paper_rows), claims_dir=tmp_path).iloc[0]
    assert (s["holds"], s["does not hold"], s["inconclusive"], s[PRINTED]) == (2, 2, 1, 0)


def test_page_has_summary_filters_sections_and_rendered_notebook_links(tmp_path):
    nb = tmp_path / "results" / "notebooks" / "a.ipynb"
    nb.parent.mkdir(parents=True)
    nb.write_text(json.dumps({"metadata": {"papermill": {"duration": 3.25, "parameters": {"profile": "default"},
                                                          "end_time": "2026-12-02T16:52:00"}}, "cells": [
        {"cell_type": "markdown", "source": ["# What it computes"]},
        {"cell_type": "code", "source": ["print(1)"], "outputs": [
            {"output_type": "stream", "name": "stdout", "text": ["1\n"]},
            {"output_type": "display_data", "data": {"image/png": PNG, "text/plain": ["<Figure>"]}}]}]}))
    _section(tmp_path / "s1", "paper one", [_row("one", "up", "above", 0.0, "holds")], notebook=str(nb))
    _section(tmp_path / "s2", "paper two", [_row("two", "table1:a:b", "equivalent", 0.9, "holds")])
    out = tmp_path / "report" / "index.html"
    claims = build_page([tmp_path / "s1", tmp_path / "s2"], out, tmp_path / "claims.csv", title="T", profile="default")
    page = out.read_text()
    assert len(claims) == 2
    assert "<h2 id=summary>Summary</h2>" in page and "numbers registered / printed" in page
    assert "<option>one</option>" in page and "<option>two</option>" in page and f"<option>{PRINTED}</option>" in page
    assert "data-paper='one' data-verdict='holds'" in page
    assert f"data-paper='two' data-verdict='{PRINTED}'" in page       # a printed cell at the default profile
    assert "within tolerance: holds" in page                          # its verdict is still shown, apart
    assert "href='notebooks/a.html'" in page
    rendered = (tmp_path / "report" / "notebooks" / "a.html").read_text()
    assert "print(1)" in rendered and f"data:image/png;base64,{PNG}" in rendered
    assert "profile <b>default</b>; finished 2026-12-02T16:52:00; executed by papermill in 3.2 s." in rendered
    assert rendered.index("profile <b>default</b>") < rendered.index("What it computes")   # the header comes first


def test_a_section_of_another_profile_stops_the_page_naming_both_and_writes_nothing(tmp_path):
    _section(tmp_path / "s1", "p", [_row("p", "up", "above", 0.0, "holds")])
    _section(tmp_path / "s2", "p", [_row("p", "up", "above", 0.0, "holds", profile="smoke")], profile="smoke")
    out = tmp_path / "report" / "index.html"
    with pytest.raises(ValueError, match=r"s2/section.json: made with profile 'smoke'.*'default'"):
        build_page([tmp_path / "s1", tmp_path / "s2"], out, tmp_path / "claims.csv", title="T", profile="default")
    assert not out.exists() and not (tmp_path / "claims.csv").exists()


def test_a_missing_notebook_is_named(tmp_path):
    _section(tmp_path / "s1", "p", [], notebook=str(tmp_path / "gone.ipynb"))
    with pytest.raises(FileNotFoundError, match="gone.ipynb is missing"):
        build_page([tmp_path / "s1"], tmp_path / "index.html", tmp_path / "c.csv", title="T", profile="default")
    with pytest.raises(FileNotFoundError, match="gone.ipynb"):
        notebook_html(tmp_path / "gone.ipynb", tmp_path / "x.html")


def test_a_claims_file_naming_a_table_the_results_lack_stops_the_page(tmp_path):
    claims_dir = tmp_path / "claims"
    claims_dir.mkdir()
    (claims_dir / "p.yaml").write_text(yaml.safe_dump({"tables": {"table1": {"values": {"r": [0.5]}},
                                                                    "table9": {"values": {"r": [0.5]}}}, "claims": {}}))
    _section(tmp_path / "results" / "p_table1", "p", [_row("p", "table1:r:c", "equivalent", 0.5, "holds")])
    out = tmp_path / "index.html"
    with pytest.raises(ValueError, match=r"p.yaml names table\(s\) \['table9'\] that the results of 'p' lack.*p_table1"):
        build_page([tmp_path / "results" / "p_table1"], out, tmp_path / "c.csv", title="T", profile="default",
                   claims_dir=claims_dir)
    assert not out.exists()
    # with the table removed from the claims file the same results make the page
    (claims_dir / "p.yaml").write_text(yaml.safe_dump({"tables": {"table1": {"values": {"r": [0.5]}}}, "claims": {}}))
    build_page([tmp_path / "results" / "p_table1"], out, tmp_path / "c.csv", title="T", profile="default", claims_dir=claims_dir)
    assert out.is_file()
