"""The notebook runner: params injected by key, validation before work, all-or-nothing outputs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from paperlib.pipeline import main
from tests.conftest import REPO


def notebook(path: Path, body: str) -> Path:
    params = new_code_cell("seed = -1\nmodel = {}\nout_dir = ''\nreport_file = ''\nfinal_paths = {}")
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, new_code_cell(body)], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)
    return path


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    shutil.copyfile(REPO / "profiles" / "smoke.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


ARGS = ["--executed", "nb/out.ipynb", "--out-dir", "out_dir=models/m", "--out-file", "report_file=res/r.json",
        "-p", "seed=seed", "-p", "model=liang.ensembles.mnist"]

WRITE = """
import json, pathlib
pathlib.Path(out_dir, 'w.txt').write_text('weights')
pathlib.Path(report_file).write_text(json.dumps({'seed': seed, 'model': model, 'final': final_paths}))
"""


def test_success_moves_outputs_into_place(workdir):
    nb = notebook(workdir / "n.ipynb", WRITE)
    assert main([str(nb), *ARGS]) == 0
    assert (workdir / "models" / "m" / "w.txt").read_text() == "weights"
    record = json.loads((workdir / "res" / "r.json").read_text())
    model = record["model"]
    assert record["seed"] == 0 and {k: model[k] for k in ("dataset", "arch", "width", "members", "temperatures")} == {
        "dataset": "mnist", "arch": "cw_mnist", "width": 0.25, "members": 3, "temperatures": [10.0, 20.0, 30.0]}
    assert model["train"]["epochs"] == 2 and model["train_images"] == 0   # the whole section, defaults included
    assert record["final"] == {"out_dir": "models/m", "report_file": "res/r.json", "executed": "nb/out.ipynb"}
    assert (workdir / "nb" / "out.ipynb").is_file()
    assert not [p for p in os.listdir(workdir) if p.startswith(".stage-")]


def test_failing_notebook_leaves_no_output_and_keeps_the_traceback(workdir):
    nb = notebook(workdir / "n.ipynb", WRITE + "\nraise RuntimeError('boom')")
    assert main([str(nb), *ARGS]) == 1
    assert not (workdir / "models").exists() and not (workdir / "res").exists() and not (workdir / "nb").exists()
    assert "boom" in (workdir / ".paperlib" / "failed" / "out.ipynb").read_text()
    assert not [p for p in os.listdir(workdir) if p.startswith(".stage-")]


def test_a_previous_output_survives_a_failed_rerun(workdir):
    nb = notebook(workdir / "n.ipynb", WRITE)
    assert main([str(nb), *ARGS]) == 0
    bad = notebook(workdir / "bad.ipynb", "raise ValueError('no')")
    assert main([str(bad), *ARGS]) == 1
    assert (workdir / "models" / "m" / "w.txt").read_text() == "weights"


def test_invalid_params_stop_before_anything_runs(workdir, capsys):
    text = (workdir / "params.yaml").read_text()
    mnist = "      dataset: mnist\n      arch: cw_mnist\n      width: 0.25\n"
    assert text.count(mnist) == 1
    (workdir / "params.yaml").write_text(text.replace(mnist, mnist.replace("0.25", "-2.0")))
    nb = notebook(workdir / "n.ipynb", WRITE)
    assert main([str(nb), *ARGS]) == 2
    assert "params.yaml: liang.ensembles.mnist.width: must be > 0" in capsys.readouterr().err
    assert not (workdir / "models").exists() and not (workdir / "nb").exists()


def test_a_notebook_that_skips_a_declared_output_fails(workdir):
    nb = notebook(workdir / "n.ipynb", "pass")
    assert main([str(nb), *ARGS]) == 1
    assert not (workdir / "models").exists()
