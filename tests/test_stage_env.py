"""Stages run with the project's environment however DVC is started.

The README's experiment path is "edit params.yaml and run `.venv/bin/dvc repro`". DVC runs a
stage's command through the shell with the caller's PATH, so a bare ``python`` in ``dvc.yaml``
meant the system's interpreter whenever the venv was not activated ("No module named
'papermill'"). Every command now starts with ``bin/project-python``, which picks the project's
interpreter (``.venv`` first; see the script), and the notebook runner starts the Jupyter
kernel on that same interpreter rather than on whatever ``python3`` kernelspec the Jupyter path
holds.

Shown here in a temporary copy of the working tree whose ``.venv`` is a link to this one:
``<repo>/.venv/bin/dvc repro -s`` of the ``code`` stage (the code digests), a real stage
(``sem_table2``, which needs no data) and a
probe stage whose notebook records its kernel's interpreter, with ``PATH=/usr/bin:/bin`` (no
venv, no activation, no PYTHONPATH) and a decoy ``python3`` kernelspec first on the Jupyter path
that would start the system Python.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.test_e2e_smoke import clone_working_tree

pytestmark = [pytest.mark.slow]

VENV = REPO / ".venv"
SYSTEM_PATH = "/usr/bin:/bin"

PROBE_STAGE = """
  kernel_probe:
    cmd: >-
      bin/project-python -m paperlib.pipeline notebooks/kernel_probe.ipynb
      --executed results/notebooks/kernel_probe.ipynb --out-file out_file=results/kernel_probe.json
      -p profile=profile
    deps:
      - notebooks/kernel_probe.ipynb
    params:
      - profile
    outs:
      - results/kernel_probe.json
      - results/notebooks/kernel_probe.ipynb
"""

PROBE_CODE = """\
import json, os, sys
import papermill, paperlib
json.dump({"executable": sys.executable, "prefix": sys.prefix, "paperlib": paperlib.__file__,
           "profile": profile}, open(out_file, "w"))
"""


def _probe_notebook() -> str:
    params = {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "profile = ''\nout_file = ''\nfinal_paths = {}",
              "outputs": [], "execution_count": None}
    code = {"cell_type": "code", "metadata": {}, "source": PROBE_CODE, "outputs": [], "execution_count": None}
    return json.dumps({"cells": [params, code], "nbformat": 4, "nbformat_minor": 5,
                       "metadata": {"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}}})


def _bare_env(tmp_path: Path) -> dict[str, str]:
    """What a new user's shell gives DVC: no venv on PATH, nothing activated."""
    decoy = tmp_path / "jupyter" / "kernels" / "python3"
    decoy.mkdir(parents=True)
    (decoy / "kernel.json").write_text(json.dumps({
        "argv": ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "decoy: the system Python", "language": "python"}))
    env = {"PATH": SYSTEM_PATH, "HOME": os.environ.get("HOME", str(tmp_path)), "DVC_NO_ANALYTICS": "1",
           "JUPYTER_PATH": str(tmp_path / "jupyter"), "LANG": os.environ.get("LANG", "C.UTF-8")}
    return env


@pytest.fixture(scope="module")
def bare_repro(tmp_path_factory):
    if not (VENV / "bin" / "dvc").is_file():
        pytest.skip("no .venv in this checkout (run `make setup`)")
    tmp = tmp_path_factory.mktemp("stage_env")
    clone = clone_working_tree(tmp / "clone")
    (clone / ".venv").symlink_to(VENV, target_is_directory=True)
    (clone / "notebooks" / "kernel_probe.ipynb").write_text(_probe_notebook())
    (clone / "dvc.yaml").write_text((clone / "dvc.yaml").read_text().rstrip("\n") + "\n" + PROBE_STAGE)
    env = _bare_env(tmp)
    # `code` first: with -s DVC runs no upstream stage, and sem_table2 depends on its code digest
    proc = subprocess.run([str(VENV / "bin" / "dvc"), "repro", "-s", "code", "sem_table2", "kernel_probe"], cwd=clone,
                          env=env, text=True, capture_output=True, timeout=600)
    return clone, env, proc


def test_a_bare_python_on_that_path_is_not_the_project_one(bare_repro):
    """The precondition that made the README's path fail: the PATH's python lacks papermill."""
    _, env, _ = bare_repro
    proc = subprocess.run(["sh", "-c", "python3 -c 'import papermill'"], env=env, capture_output=True, text=True)
    if proc.returncode == 0:
        pytest.skip("this machine's system python3 has papermill; the scenario cannot fail here")
    assert "papermill" in proc.stderr


def test_stages_run_through_venv_dvc_without_the_venv_on_path(bare_repro):
    clone, _, proc = bare_repro
    assert proc.returncode == 0, f"dvc repro failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    assert (clone / "results" / "sem_table2").is_dir() and any((clone / "results" / "sem_table2").rglob("*.csv"))
    assert (clone / "results" / "notebooks" / "sem_table2.ipynb").is_file()
    assert (clone / "dvc.lock").is_file() and "kernel_probe" in (clone / "dvc.lock").read_text()


def test_the_kernel_runs_on_the_launchers_interpreter(bare_repro):
    clone, env, proc = bare_repro
    assert proc.returncode == 0, proc.stderr[-4000:]
    probe = json.loads((clone / "results" / "kernel_probe.json").read_text())
    launcher = subprocess.run([str(clone / "bin" / "project-python"), "-c", "import sys; print(sys.executable)"],
                              cwd=clone, env=env, text=True, capture_output=True, check=True).stdout.strip()
    assert launcher == str(clone / ".venv" / "bin" / "python")
    assert probe["executable"] == launcher, probe  # not the decoy kernelspec's /usr/bin/python3
    assert Path(probe["prefix"]).resolve() == VENV.resolve()
    assert Path(probe["paperlib"]).resolve().is_relative_to(clone.resolve()), "the kernel imports the clone's code"
    assert probe["profile"]


def test_launcher_choice_without_a_repo_venv(tmp_path):
    """No ``.venv``: an activated environment that has the dependencies wins over PATH's python3;
    ``PAPERLIB_PYTHON`` overrides everything."""
    if not (VENV / "bin" / "python").is_file():
        pytest.skip("no .venv in this checkout")
    (tmp_path / "bin").mkdir()
    launcher = tmp_path / "bin" / "project-python"
    launcher.write_bytes((REPO / "bin" / "project-python").read_bytes())
    launcher.chmod(0o755)
    show = [str(launcher), "-c", "import sys; print(sys.prefix)"]
    base = {"PATH": SYSTEM_PATH, "HOME": str(tmp_path)}
    out = subprocess.run(show, env=base | {"VIRTUAL_ENV": str(VENV)}, text=True, capture_output=True, check=True)
    assert Path(out.stdout.strip()).resolve() == VENV.resolve()
    out = subprocess.run(show, env=base | {"CONDA_PREFIX": str(VENV)}, text=True, capture_output=True, check=True)
    assert Path(out.stdout.strip()).resolve() == VENV.resolve()
    out = subprocess.run(show, env=base | {"CONDA_PREFIX": "/nonexistent", "PAPERLIB_PYTHON": str(VENV / "bin" / "python")},
                         text=True, capture_output=True, check=True)
    assert Path(out.stdout.strip()).resolve() == VENV.resolve()
