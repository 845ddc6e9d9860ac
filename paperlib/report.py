"""Result sections and the final HTML report.

Every experiment notebook ends with :func:`write_section`, which writes into its output folder::

    section.json     title, paper, profile, deviations, narrative, and the list below
    tables/<name>.csv and .md   each table (ours beside the paper's value where there is one)
    figures/<name>.png          each figure
    claims.csv       the claims rows this section evaluated (see paperlib.claims)

The ``report`` stage reads those folders in the order ``report.sections`` gives and writes one
self-contained page (``report/index.html``: figures inlined, so it can be mailed or archived
alone) and the union of all claims rows (``results/claims.csv``).
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import pandas as pd

CLAIM_COLUMNS = [
    "paper", "claim_id", "level", "statement", "where", "rule", "paper_value", "tolerance", "reason", "ours",
    "ci_low", "ci_high", "adj_low", "adj_high", "unit", "window", "n", "verdict", "combine", "profile",
    "at_paper_scale", "deviations", "source",
]
COMBINE_RULE_TEXT = (
    "A claim measured on several rows (one per attack or per pair of curves) holds when every row holds "
    "at 95% (intersection-union test) and does not hold when one row refutes it at the Bonferroni level "
    "1 - 0.05/m (= Holm's first step), unless the claim says 'any' (one row suffices; then all must refute). "
    "A zero-width interval is inconclusive. The verdict counts are over claims, not rows.")


def write_section(
    out_dir: str | Path,
    *,
    title: str,
    paper: str,
    profile: str,
    deviations: list[str],
    narrative: str = "",
    tables: dict[str, tuple[str, pd.DataFrame]] | None = None,
    figures: dict[str, tuple[str, object]] | None = None,
    claims: list[dict] | None = None,
    notebook: str = "",
) -> dict:
    """Write a result section into ``out_dir``.

    ``tables`` maps a file stem to ``(caption, DataFrame)``; ``figures`` maps a file stem to
    ``(caption, matplotlib Figure)``; ``claims`` are rows from :meth:`paperlib.claims.Claim.evaluate`.
    Floats are written with a fixed format so that identical results give identical bytes.
    """
    out = Path(out_dir)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    entry = {
        "title": title, "paper": paper, "profile": profile, "deviations": list(deviations),
        "narrative": narrative, "notebook": notebook, "tables": [], "figures": [],
    }
    for stem, (caption, frame) in (tables or {}).items():
        frame.to_csv(out / "tables" / f"{stem}.csv", index=False, float_format="%.6g")
        (out / "tables" / f"{stem}.md").write_text(_markdown(frame) + "\n")
        entry["tables"].append({"name": stem, "caption": caption, "csv": f"tables/{stem}.csv"})
    for stem, (caption, fig) in (figures or {}).items():
        fig.savefig(out / "figures" / f"{stem}.png", dpi=110, bbox_inches="tight", metadata={"Software": None})
        entry["figures"].append({"name": stem, "caption": caption, "png": f"figures/{stem}.png"})
    rows = pd.DataFrame(claims or [], columns=CLAIM_COLUMNS)
    rows.to_csv(out / "claims.csv", index=False, float_format="%.6g")
    (out / "section.json").write_text(json.dumps(entry, indent=2, sort_keys=True) + "\n")
    return entry


def _markdown(frame: pd.DataFrame) -> str:
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3} .holds{background:#d9f2d9} .does-not-hold{background:#f7d4d4}
.inconclusive{background:#f7efcc} .meta{color:#555;font-size:.9em} img{max-width:100%}
.deviation{color:#8a4b00} tr.row td{font-size:.85em;color:#444} tr.claim td:first-child{font-weight:600}
"""


def _verdict_class(verdict: str) -> str:
    return verdict.replace(" ", "-")


def _claims_html(claims: pd.DataFrame) -> str:
    if claims.empty:
        return "<p>No claims evaluated in this section.</p>"
    rows = []
    for r in claims.itertuples(index=False):
        level = getattr(r, "level", "claim")
        tol = f" &plusmn;{r.tolerance:g} ({html.escape(str(r.reason))})" if r.tolerance and str(getattr(r, "reason", "")) != "nan" else ""
        how = f"<br><span class=meta>{html.escape(str(r.combine))}</span>" if str(getattr(r, "combine", "nan")) not in ("", "nan") else ""
        rows.append(
            f"<tr class='{'row' if level == 'row' else 'claim'}'>"
            f"<td>{html.escape(str(r.claim_id))}</td><td>{html.escape(str(r.statement)) if level != 'row' else ''}"
            f"{'<br>' if level != 'row' else ''}<span class=meta>{html.escape(str(r.where))}; rule {html.escape(str(r.rule))}"
            f"{tol}</span>{how}</td>"
            f"<td>{r.paper_value:.4g}</td><td>{r.ours:.4g} [{r.ci_low:.4g}, {r.ci_high:.4g}]</td>"
            f"<td class='{_verdict_class(str(r.verdict))}'>{html.escape(str(r.verdict))}</td>"
            f"<td>{html.escape(str(r.profile))}{'' if r.at_paper_scale else ' (reduced scale)'}</td>"
            "</tr>"
        )
    return (
        "<table><tr><th>claim</th><th>statement</th><th>paper</th><th>ours [95% CI]</th>"
        "<th>verdict</th><th>profile</th></tr>" + "".join(rows) + "</table>"
    )


def verdict_counts(claims: pd.DataFrame) -> dict[str, int]:
    """Verdicts per claim (rows of level ``claim``; a table without levels counts every row)."""
    if claims.empty:
        return {}
    if "level" in claims.columns:
        claims = claims[claims["level"].fillna("claim") == "claim"]
    return {str(k): int(v) for k, v in claims["verdict"].value_counts().items()}


def build_report(section_dirs: list[str | Path], out_html: str | Path, out_claims: str | Path, *, title: str, profile: str) -> pd.DataFrame:
    """Gather sections into one HTML page and one claims CSV; return the claims table."""
    parts = [f"<h1>{html.escape(title)}</h1>", f"<p class=meta>Profile: <b>{html.escape(profile)}</b>. "
             "Each table and figure sits beside the paper's printed value; verdicts use 95% "
             "confidence intervals (see README, 'Reading the verdicts').</p>"]
    all_claims = []
    toc = []
    body = []
    for i, folder in enumerate(Path(d) for d in section_dirs):
        meta_path = folder / "section.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"{meta_path}: missing; the stage that writes {folder} has not run")
        meta = json.loads(meta_path.read_text())
        if meta["profile"] != profile:
            raise ValueError(f"{meta_path}: made with profile {meta['profile']!r}, report is for {profile!r}; re-run dvc repro")
        anchor = f"s{i}"
        toc.append(f"<li><a href='#{anchor}'>{html.escape(meta['title'])}</a></li>")
        body.append(f"<h2 id={anchor}>{html.escape(meta['title'])}</h2>")
        body.append(f"<p class=meta>Paper: {html.escape(meta['paper'])}. Executed notebook: "
                    f"<code>{html.escape(meta.get('notebook', ''))}</code></p>")
        if meta["narrative"]:
            body.append(f"<p>{html.escape(meta['narrative'])}</p>")
        if meta["deviations"]:
            body.append("<p class=deviation>Deviations from the paper's setting:</p><ul class=deviation>"
                        + "".join(f"<li>{html.escape(d)}</li>" for d in meta["deviations"]) + "</ul>")
        for table in meta["tables"]:
            frame = pd.read_csv(folder / table["csv"])
            body.append(f"<h3>{html.escape(table['caption'])}</h3>")
            body.append(frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0))
        for fig in meta["figures"]:
            data = base64.b64encode((folder / fig["png"]).read_bytes()).decode("ascii")
            body.append(f"<figure><img alt='{html.escape(fig['name'])}' src='data:image/png;base64,{data}'>"
                        f"<figcaption>{html.escape(fig['caption'])}</figcaption></figure>")
        claims = pd.read_csv(folder / "claims.csv")
        body.append("<h3>Claims</h3>" + _claims_html(claims))
        all_claims.append(claims)
    claims_table = pd.concat(all_claims, ignore_index=True) if all_claims else pd.DataFrame(columns=CLAIM_COLUMNS)
    summary = verdict_counts(claims_table)
    parts.append("<p>Claims: " + (", ".join(f"{v} {html.escape(k)}" for k, v in sorted(summary.items())) or "none yet")
                 + f"</p><p class=meta>{html.escape(COMBINE_RULE_TEXT)}</p>")
    parts.append("<ul>" + "".join(toc) + "</ul>")
    parts.extend(body)
    page = f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title><style>{_CSS}</style></head><body>{''.join(parts)}</body></html>\n"
    out_html, out_claims = Path(out_html), Path(out_claims)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_claims.parent.mkdir(parents=True, exist_ok=True)
    out_html.write_text(page)
    claims_table.to_csv(out_claims, index=False, float_format="%.6g")
    return claims_table
