"""Headless Chromium for the report tests: load a page in a real browser, let it run its scripts,
and read back what the browser saw (broken images, dead local links, the effect of the filters),
plus a screenshot. Debian's ``chromium`` package; ``.ci/run`` installs it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

INSTALL = "install it with `apt-get install chromium` (Debian) or put a Chromium-compatible browser on PATH"


def chromium() -> str:
    """The browser's path; in CI a missing browser fails the test, elsewhere it skips saying how to install it."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail(f"headless Chromium not found: {INSTALL}")
    pytest.skip(f"headless Chromium not found: {INSTALL}")


def _run(args: list[str], timeout: int = 120) -> str:
    base = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
            "--disable-dev-shm-usage", "--hide-scrollbars"]
    proc = subprocess.run(base + args, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc.stdout


_PROBE = """<!doctype html><html><body><iframe id=f src="PAGE" style="width:1200px;height:900px"></iframe>
<pre id=result>pending</pre><script>
document.getElementById('f').addEventListener('load', function () {
  var d = this.contentDocument, out = {};
  var imgs = Array.from(d.images);
  out.images = imgs.length;
  out.broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).map(function (i) { return i.alt; });
  out.h2 = Array.from(d.querySelectorAll('h2')).map(function (h) { return h.textContent; });
  out.tables = d.querySelectorAll('table').length;
  out.figures = d.querySelectorAll('figure').length;
  out.links = Array.from(d.querySelectorAll('a[href]')).map(function (a) { return a.getAttribute('href'); });
  var rows = function () { return Array.from(d.querySelectorAll('tr[data-paper]')).filter(function (r) { return r.style.display !== 'none'; }).length; };
  out.rows_all = rows();
  var sel = d.getElementById('f-paper');
  out.filter = {};
  if (sel) {
    Array.from(sel.options).forEach(function (o) {
      sel.value = o.value; this.contentWindow.applyFilters(); out.filter[o.value] = rows();
    }, this);
    sel.value = 'all'; this.contentWindow.applyFilters();
  }
  document.getElementById('result').textContent = JSON.stringify(out);
});
</script></body></html>"""


def inspect(page: Path, work: Path) -> dict:
    """What the browser saw on ``page``: images (and the broken ones), h2 headings, tables, figures,
    links, rows shown in all and per paper filter."""
    probe = work / "probe.html"
    probe.write_text(_PROBE.replace("PAGE", Path(page).resolve().as_uri()))
    dom = _run(["--virtual-time-budget=20000", "--dump-dom", probe.as_uri()])
    m = re.search(r"<pre id=\"result\">(.*?)</pre>", dom, re.S)
    if not m or m.group(1) == "pending":
        raise RuntimeError(f"the probe page did not report (the report did not load?): {dom[-500:]}")
    import html
    return json.loads(html.unescape(m.group(1)))


def screenshot(page: Path, dest: Path, size: str = "1200,1800") -> Path:
    """A PNG of ``page`` as the browser renders it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    _run([f"--window-size={size}", f"--screenshot={dest.resolve()}", "--virtual-time-budget=10000", Path(page).resolve().as_uri()])
    if not dest.is_file() or dest.stat().st_size == 0:
        raise RuntimeError(f"no screenshot written to {dest}")
    return dest


def dead_local_links(page: Path, links: list[str]) -> list[str]:
    """The relative links of ``page`` (not anchors, not data: or http(s):) whose file does not exist."""
    base = Path(page).resolve().parent
    return [h for h in links if not h.startswith(("#", "data:", "http:", "https:", "mailto:"))
            and not (base / h.split("#")[0]).is_file()]
