"""The reviewers' page in a real browser (headless Chromium): every section, table and figure is there,
no image or local link is broken, the filters hide other papers' rows, and a screenshot is saved."""

from __future__ import annotations

import base64
import io
import json

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from tests._browser import dead_local_links, inspect, screenshot
from paperlib.report import write_section
from paperlib.report_page import build_page
from tests.test_report_page import _row


def _figure():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1])
    return fig


def test_the_page_in_headless_chromium(tmp_path):
    sections = []
    for i, paper in enumerate(("one", "two")):
        nb = tmp_path / "results" / "notebooks" / f"{paper}.ipynb"
        nb.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO(); _figure().savefig(buf, format="png")
        nb.write_text(json.dumps({"metadata": {}, "cells": [{"cell_type": "code", "source": ["plot()"], "outputs": [
            {"output_type": "display_data", "data": {"image/png": base64.b64encode(buf.getvalue()).decode()}}]}]}))
        folder = tmp_path / "results" / paper
        write_section(folder, title=f"Paper {paper}: Table 1", paper=f"Paper {paper}", profile="default",
                      deviations=["fewer images"], notebook=str(nb),
                      tables={"t1": ("Table 1", pd.DataFrame({"cell": ["a", "b"], "ours": [0.5, 0.6]}))},
                      figures={"f1": ("Figure 1", _figure())},
                      claims=[_row(paper, "up", "above", 0.0, "holds"), _row(paper, "down", "above", 0.0, "does not hold")])
        sections.append(folder)
    out = tmp_path / "report" / "index.html"
    build_page(sections, out, tmp_path / "claims.csv", title="Report", profile="default")
    seen = inspect(out, tmp_path)
    assert seen["h2"] == ["Summary", "Paper one: Table 1", "Paper two: Table 1"]
    assert seen["figures"] == 2 and seen["images"] == 2 and seen["broken"] == []
    assert seen["tables"] >= 5                       # summary + per section: its table and its claims
    assert sorted(h for h in seen["links"] if h.startswith("notebooks/")) == ["notebooks/one.html", "notebooks/two.html"]
    assert dead_local_links(out, seen["links"]) == []
    assert seen["rows_all"] == 4 and seen["filter"] == {"all": 4, "one": 2, "two": 2}
    nb_seen = inspect(tmp_path / "report" / "notebooks" / "one.html", tmp_path)
    assert nb_seen["images"] == 1 and nb_seen["broken"] == []
    shot = screenshot(out, tmp_path / "report.png")
    assert shot.stat().st_size > 10_000
