"""The reviewers' page (``report/index.html``): a summary per paper at the top, claims that a reduced
profile can test counted apart from printed numbers it cannot, filters by paper and verdict that work
without a server, and every section's executed notebook rendered as a page a browser shows.

Why printed numbers are counted apart: a printed number measured on a full-size network (a clean
accuracy, a table cell) cannot be tested by a narrow network on a subset. Outside the ``paper``
profile such a row is shown ours beside the paper's, labelled "printed number, reduced scale", and
left out of the headline verdict counts; orderings, differences and trends (a claim whose rule is
``above``/``below``, or whose value is a difference around 0) are what a reduced profile tests.
At the ``paper`` profile every claim counts.

The sections themselves are written by :func:`paperlib.report.write_section`; this module only
reads them (so a change here re-runs the report stage alone).
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import pandas as pd
import yaml

from .claims import CLAIMS_DIR, TOLERANT_RULES
from .report import _CSS, CLAIM_COLUMNS, COMBINE_RULE_TEXT, verdict_counts

PRINTED = "printed number, reduced scale"
PAPER_FILES = {"sem": "sem", "clm": "clm", "rse": "rse", "liang_samavi": "liang_samavi"}


def claim_scope(rule: str, paper_value: float, claim_id: str = "") -> str:
    """``"printed"`` for a claim that tests a printed magnitude (a tolerant rule around a non-zero
    value, or a table cell ``table:row:column``), ``"trend"`` otherwise."""
    cell = claim_id.count(":") == 2 and not claim_id.startswith(("@",))
    if cell:
        return "printed"
    return "printed" if rule in TOLERANT_RULES and float(paper_value) != 0.0 else "trend"


def with_scope(claims: pd.DataFrame) -> pd.DataFrame:
    """``claims`` with ``scope`` (printed / trend) and ``headline`` (the verdict a summary counts:
    the verdict, or :data:`PRINTED` for a printed number measured outside the paper profile)."""
    out = claims.copy()
    base = out["claim_id"].astype(str).str.split("@").str[0]
    out["scope"] = [claim_scope(str(r), float(v), b) for r, v, b in zip(out["rule"], out["paper_value"], base)]
    at_scale = out["at_paper_scale"].astype(str).str.lower().isin(("true", "1"))
    out["headline"] = [v if (s == "trend" or a) else PRINTED for v, s, a in zip(out["verdict"], out["scope"], at_scale)]
    return out


def registered_numbers(paper: str, claims_dir: Path = CLAIMS_DIR) -> tuple[int, int]:
    """``(registered, printed)``: the table numbers a paper prints and those registered as numbers
    (a cell the text extraction garbled is printed but registered as null), plus the numbers its
    claims quote from the text."""
    path = Path(claims_dir) / f"{PAPER_FILES.get(paper, paper)}.yaml"
    if not path.is_file():
        return 0, 0
    data = yaml.safe_load(path.read_text()) or {}
    tables = dict(data.get("tables") or {})
    if "table1" in data and isinstance(data["table1"], dict):
        tables["table1"] = data["table1"]
    registered = printed = 0
    for t in tables.values():
        for values in (t.get("values") or {}).values():
            if isinstance(values, list):
                printed += len(values)
                registered += sum(v is not None for v in values)
    for c in (data.get("claims") or {}).values():
        if isinstance(c, dict) and c.get("paper_value") not in (None, 0, 0.0):
            printed += 1
            registered += 1
    return registered, printed


def claimed_tables(paper: str, claims_dir: Path = CLAIMS_DIR) -> list[str]:
    """The tables a paper's claims file transcribes (``tables:``, and SEM's top-level ``table1``)."""
    path = Path(claims_dir) / f"{PAPER_FILES.get(paper, paper)}.yaml"
    if not path.is_file():
        return []
    data = yaml.safe_load(path.read_text()) or {}
    names = list((data.get("tables") or {}).keys())
    if isinstance(data.get("table1"), dict) and "table1" not in names:
        names.append("table1")
    return names


def check_tables(sections: list[tuple[Path, dict, pd.DataFrame]], claims_dir: Path = CLAIMS_DIR) -> None:
    """Every table a paper's claims file names is in that paper's results: a claim row on one of its
    cells (``table:row:column``), a section table named after it (``table3_layout``), or a section
    folder named after it (``results/clm_table1``). ValueError naming the claims file, the tables
    and the sections read."""
    by_paper: dict[str, list[tuple[Path, dict, pd.DataFrame]]] = {}
    for folder, meta, claims in sections:
        for paper in set(map(str, claims["paper"])) if len(claims) else ():
            by_paper.setdefault(paper, []).append((folder, meta, claims))
    for paper, secs in by_paper.items():
        have = set()
        for folder, meta, claims in secs:
            have |= {str(c).split(":")[0] for c in claims["claim_id"] if str(c).count(":") == 2}
            have |= {str(t["name"]).split("_")[0] for t in meta.get("tables", [])}
            have.add(folder.name.split("_")[-1])
        missing = [t for t in claimed_tables(paper, claims_dir) if t not in have]
        if missing:
            path = Path(claims_dir) / f"{PAPER_FILES.get(paper, paper)}.yaml"
            raise ValueError(f"{path} names table(s) {missing} that the results of {paper!r} lack "
                             f"(sections read: {[str(f) for f, _, _ in secs]}); re-run the stage that makes them")


def paper_summary(claims: pd.DataFrame, claims_dir: Path = CLAIMS_DIR) -> pd.DataFrame:
    """One row per paper: its profile, the headline verdicts of its claims (claim level), the
    printed numbers counted apart, and the numbers registered against those it prints."""
    rows = []
    c = with_scope(claims)
    for paper, g in c.groupby("paper", sort=False):
        claim_level = g[g["level"].fillna("claim") == "claim"]
        counts = claim_level["headline"].value_counts()
        reg, printed = registered_numbers(str(paper), claims_dir)
        rows.append({"paper": paper, "profile": ", ".join(sorted(set(map(str, g["profile"])))),
                     "holds": int(counts.get("holds", 0)), "does not hold": int(counts.get("does not hold", 0)),
                     "inconclusive": int(counts.get("inconclusive", 0)), PRINTED: int(counts.get(PRINTED, 0)),
                     "numbers registered / printed": f"{reg} / {printed}"})
    return pd.DataFrame(rows, columns=["paper", "profile", "holds", "does not hold", "inconclusive", PRINTED,
                                       "numbers registered / printed"])


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def notebook_html(ipynb: str | Path, out_html: str | Path) -> Path:
    """A static page of an executed notebook: markdown and code as text, outputs as text, HTML
    tables and inline PNG images. FileNotFoundError names a missing notebook."""
    src = Path(ipynb)
    if not src.is_file():
        raise FileNotFoundError(f"{src}: executed notebook not found (the report links every section's notebook)")
    nb = json.loads(src.read_text())
    parts = [f"<h1>{html.escape(src.name)}</h1>"]
    meta = nb.get("metadata", {}).get("papermill", {})
    # the header a reader needs first: at which profile it ran, when, and how long it took
    facts = []
    profile = (meta.get("parameters") or {}).get("profile")
    if profile is not None:
        facts.append(f"profile <b>{html.escape(str(profile))}</b>")
    if meta.get("end_time"):
        facts.append(f"finished {html.escape(str(meta['end_time']))}")
    if meta.get("duration") is not None:
        facts.append(f"executed by papermill in {float(meta['duration']):.1f} s")
    if facts:
        parts.append("<p class=meta>" + "; ".join(facts) + ".</p>")
    for cell in nb.get("cells", []):
        text = "".join(cell.get("source", []))
        if cell.get("cell_type") == "markdown":
            parts.append(f"<div class=md><pre>{html.escape(text)}</pre></div>")
            continue
        parts.append(f"<pre class=code>{html.escape(text)}</pre>")
        for o in cell.get("outputs", []):
            data = o.get("data", {})
            if "image/png" in data:
                png = data["image/png"]
                png = "".join(png) if isinstance(png, list) else png
                parts.append(f"<img alt='figure' src='data:image/png;base64,{png.strip()}'>")
            elif "text/html" in data:
                parts.append("<div class=out>" + "".join(data["text/html"]) + "</div>")
            elif "text/plain" in data:
                parts.append(f"<pre class=out>{html.escape(''.join(data['text/plain']))}</pre>")
            elif o.get("output_type") == "stream":
                parts.append(f"<pre class=out>{html.escape(''.join(o.get('text', [])))}</pre>")
            elif o.get("output_type") == "error":
                parts.append(f"<pre class=err>{html.escape(o.get('ename', '') + ': ' + o.get('evalue', ''))}</pre>")
    css = _CSS + "pre.code{background:#f6f6f6;padding:.5em}pre.out{padding:.5em;border-left:3px solid #ddd}"
    page = (f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(src.name)}</title><style>{css}"
            f"</style></head><body>{''.join(parts)}</body></html>\n")
    dest = Path(out_html)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(page)
    return dest


_FILTER_JS = """
function applyFilters(){
  var p=document.getElementById('f-paper').value, v=document.getElementById('f-verdict').value;
  document.querySelectorAll('[data-paper]').forEach(function(el){
    var okP=(p==='all'||el.dataset.paper===p);
    var okV=(v==='all'||!el.dataset.verdict||el.dataset.verdict===v);
    el.style.display=(okP&&okV)?'':'none';
  });
}
"""


def _claims_rows(claims: pd.DataFrame) -> str:
    if claims.empty:
        return "<p>No claims evaluated in this section.</p>"
    rows = []
    for r in with_scope(claims).itertuples(index=False):
        level = str(getattr(r, "level", "claim"))
        cls = str(r.headline).replace(" ", "-").replace(",", "")
        rows.append(
            f"<tr class='{'row' if level == 'row' else 'claim'}' data-paper='{html.escape(str(r.paper))}' "
            f"data-verdict='{html.escape(str(r.headline))}'><td>{html.escape(str(r.claim_id))}</td>"
            f"<td>{html.escape(str(r.statement)) if level != 'row' else ''}<br><span class=meta>"
            f"{html.escape(str(r.where))}; rule {html.escape(str(r.rule))}</span></td>"
            f"<td>{_cell(r.paper_value)}</td><td>{_cell(r.ours)} [{_cell(r.ci_low)}, {_cell(r.ci_high)}]</td>"
            f"<td>{_cell(float(r.ours) - float(r.paper_value))}</td>"
            f"<td class='{cls}'>{html.escape(str(r.headline))}"
            f"{'' if r.headline == r.verdict else '<br><span class=meta>within tolerance: ' + html.escape(str(r.verdict)) + '</span>'}</td>"
            "</tr>")
    return ("<table><tr><th>claim</th><th>statement</th><th>paper</th><th>ours [95% CI]</th><th>difference</th>"
            "<th>verdict</th></tr>" + "".join(rows) + "</table>")


def build_page(section_dirs: list[str | Path], out_html: str | Path, out_claims: str | Path, *, title: str,
               profile: str, notebooks_dir: str | Path | None = None, claims_dir: Path = CLAIMS_DIR) -> pd.DataFrame:
    """Read every section (refusing one made at another profile, naming both), then write the page,
    the rendered notebooks (into ``notebooks_dir``, default ``<out_html dir>/notebooks``; the page
    links them as ``notebooks/<name>.html``, so the folder's final place is beside the page) and the
    union of the claims. Nothing is written unless every section reads."""
    sections = []
    for folder in (Path(d) for d in section_dirs):
        meta_path = folder / "section.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"{meta_path}: missing; the stage that writes {folder} has not run")
        meta = json.loads(meta_path.read_text())
        if meta["profile"] != profile:
            raise ValueError(f"{meta_path}: made with profile {meta['profile']!r}, but the report is for profile "
                             f"{profile!r} (params.yaml); re-run dvc repro")
        claims = pd.read_csv(folder / "claims.csv")
        notebook = meta.get("notebook", "")
        if notebook and not Path(notebook).is_file():
            raise FileNotFoundError(f"{meta_path}: its notebook {notebook} is missing")
        sections.append((folder, meta, claims))
    check_tables(sections, claims_dir)
    all_claims = pd.concat([c for _, _, c in sections], ignore_index=True) if sections else pd.DataFrame(columns=CLAIM_COLUMNS)
    out_html, out_claims = Path(out_html), Path(out_claims)
    papers = list(dict.fromkeys(map(str, all_claims["paper"]))) if len(all_claims) else []
    summary = paper_summary(all_claims, claims_dir) if len(all_claims) else pd.DataFrame()
    parts = [f"<h1>{html.escape(title)}</h1>",
             f"<p class=meta>Profile: <b>{html.escape(profile)}</b>. "
             + ("Every claim is measured at the papers' own settings." if profile == "paper" else
                f"A reduced profile: a printed number measured on a narrow network is shown beside the paper's as "
                f"'{PRINTED}' and counted apart; the verdicts count the claims it can test (orderings, differences, "
                "trends).") + "</p>",
             "<h2 id=summary>Summary</h2>",
             summary.to_html(index=False, border=0) if len(summary) else "<p>No claims yet.</p>",
             f"<p class=meta>Headline counts are over claims, not rows. {html.escape(COMBINE_RULE_TEXT)}</p>",
             "<p class=filters>Filter: paper <select id=f-paper onchange=applyFilters()><option value=all>all</option>"
             + "".join(f"<option>{html.escape(p)}</option>" for p in papers)
             + "</select> verdict <select id=f-verdict onchange=applyFilters()><option value=all>all</option>"
             + "".join(f"<option>{v}</option>" for v in ("holds", "does not hold", "inconclusive", PRINTED))
             + "</select></p>"]
    toc, body, rendered = [], [], {}
    for i, (folder, meta, claims) in enumerate(sections):
        paper = str(claims["paper"].iloc[0]) if len(claims) else str(meta.get("paper", ""))
        anchor = f"s{i}"
        toc.append(f"<li data-paper='{html.escape(paper)}'><a href='#{anchor}'>{html.escape(meta['title'])}</a></li>")
        link = ""
        if meta.get("notebook"):
            nb = Path(meta["notebook"])
            page = Path(notebooks_dir or out_html.parent / "notebooks") / f"{nb.stem}.html"
            rendered[nb] = page
            link = f" Executed notebook: <a href='notebooks/{html.escape(page.name)}'>{html.escape(nb.name)}</a>."
        block = [f"<h2 id={anchor}>{html.escape(meta['title'])}</h2>",
                 f"<p class=meta>Paper: {html.escape(meta['paper'])}.{link}</p>"]
        if meta["narrative"]:
            block.append(f"<p>{html.escape(meta['narrative'])}</p>")
        if meta["deviations"]:
            block.append("<p class=deviation>Deviations from the paper's setting:</p><ul class=deviation>"
                         + "".join(f"<li>{html.escape(d)}</li>" for d in meta["deviations"]) + "</ul>")
        for table in meta["tables"]:
            frame = pd.read_csv(folder / table["csv"])
            block.append(f"<h3>{html.escape(table['caption'])}</h3>")
            block.append(frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0))
        for fig in meta["figures"]:
            data = base64.b64encode((folder / fig["png"]).read_bytes()).decode("ascii")
            block.append(f"<figure><img alt='{html.escape(fig['name'])}' src='data:image/png;base64,{data}'>"
                         f"<figcaption>{html.escape(fig['caption'])}</figcaption></figure>")
        block.append("<h3>Claims</h3>" + _claims_rows(claims))
        body.append(f"<section data-paper='{html.escape(paper)}'>" + "".join(block) + "</section>")
    parts.append("<ul>" + "".join(toc) + "</ul>")
    parts.extend(body)
    css = _CSS + (".printed-number-reduced-scale{background:#e8eef7}"
                  " @media print{.filters{display:none} h2{break-before:page} table{font-size:.75em}}")
    page = (f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title><style>{css}</style>"
            f"<script>{_FILTER_JS}</script></head><body>{''.join(parts)}</body></html>\n")
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_claims.parent.mkdir(parents=True, exist_ok=True)
    for nb, dest in rendered.items():
        notebook_html(nb, dest)
    out_html.write_text(page)
    all_claims.to_csv(out_claims, index=False, float_format="%.6g")
    return all_claims
