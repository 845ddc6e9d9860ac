"""JupyterLab, as the design names it: `make lab` opens the executed notebooks in it. This test starts
JupyterLab on 127.0.0.1, opens an executed notebook in headless Chromium, checks the browser rendered its
figure (a PNG output inside JupyterLab's image renderer) and saves a screenshot."""

from __future__ import annotations

import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests._browser import _run, chromium

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _executed_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A figure"),
                nbformat.v4.new_code_cell("%matplotlib inline\nimport matplotlib.pyplot as plt\n"
                                          "plt.plot([0, 1, 2], [0, 1, 4]); plt.title('curve')")]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    assert any("image/png" in o.get("data", {}) for o in nb.cells[1].outputs)
    nbformat.write(nb, path)
    return path


def test_jupyterlab_renders_an_executed_notebook_with_its_figure(tmp_path):
    browser = chromium()
    root = tmp_path / "notebooks"
    root.mkdir()
    _executed_notebook(root / "figure.ipynb")
    port, token = _free_port(), secrets.token_hex(16)
    jupyter = Path(sys.executable).parent / "jupyter"
    server = subprocess.Popen([str(jupyter), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
                               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
                               "--ServerApp.open_browser=False", "--LabApp.news_url=", "--ServerApp.allow_root=True"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start on 127.0.0.1 within 60 s")
        url = f"{base}/lab/tree/figure.ipynb?token={token}&reset"
        dom = _run(["--virtual-time-budget=60000", "--window-size=1200,900", "--dump-dom", url], timeout=180)
        assert "jp-RenderedImage" in dom and re.search(r'<img[^>]+src="data:image/png;base64,', dom), \
            "JupyterLab did not render the notebook's figure"
        shot = tmp_path / "jupyterlab.png"
        _run(["--virtual-time-budget=60000", "--window-size=1200,900", f"--screenshot={shot}", url], timeout=180)
        assert shot.stat().st_size > 20_000
        out = Path(__file__).resolve().parents[1] / "results" / "jupyterlab_screenshot.png"
        out.parent.mkdir(exist_ok=True)
        out.write_bytes(shot.read_bytes())
    finally:
        server.terminate()
        server.wait(timeout=30)
