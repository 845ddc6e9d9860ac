"""Stage dependencies per file, through code digests (paperlib/stage_deps.py).

Fast tests: every code stage of ``dvc.yaml`` depends on its code digest and on no ``paperlib/``
path directly (only the ``code`` stage reads the folder); a digest holds the MD5 of exactly the
files the stage's imports reach and changes when one of them changes, not when another file
does; the import analysis handles the cases it claims to.

Slow test (``test_adding_a_paper_changes_no_existing_stage``), in a temporary copy of the
working tree: record every existing stage's definition as DVC sees it, add a new paper the
way the README says one is added, and show that no existing stage changed. What is recorded
per stage, through DVC's own Python API on the expanded pipeline (foreach items included):
its command, its outputs, the params keys it declares with their current values, and each dep
path with the MD5 of its content (a folder dep hashes every file below it, so a new file in a
folder that a stage depends on would show up; a stage's code digest is recomputed first, as the
``code`` stage would, so a change to the files it names would show up too). The ``code`` stage
itself is left out: it reads the whole ``paperlib/`` folder by design and reruns in a second. DVC's ``status`` compares exactly these: a stage
is changed when its command, deps' hashes, params' values or outs differ from its lock entry;
computing them directly avoids running every stage to produce a ``dvc.lock`` first. The new
paper brings its package (``paperlib/newpaper/``), its params section module
(``paperlib/config/newpaper.py``), a ``newpaper`` section in ``params.yaml``, a notebook, a claims
file and a stage; the test also checks that params validation finds and validates the new
section by its name, and that ``stage_deps --write`` lists the new files in the new stage only.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from paperlib import stage_deps
from tests.conftest import REPO


def test_every_code_stage_depends_on_its_digest():
    assert stage_deps.differences(REPO) == {}, "run `python -m paperlib.stage_deps --write`"
    assert stage_deps.main(["--check", "--repo", str(REPO)]) == 0


def test_only_the_code_stage_reads_paperlib_and_it_writes_every_digest():
    data = yaml.safe_load((REPO / "dvc.yaml").read_text())
    for name, definition in data["stages"].items():
        body = definition.get("do", definition)
        code = [d for d in body.get("deps", []) if d == "paperlib" or d.startswith(("paperlib/", "results/code/"))]
        if name == "code":
            assert code == ["paperlib"] and body["outs"] == [stage_deps.DIGEST_DIR]
            assert f"-m {stage_deps.DIGEST_MODULE} --digests {stage_deps.DIGEST_DIR}" in body["cmd"]
        elif "-m paperlib." in str(body.get("cmd")):
            assert code == [stage_deps.digest_path(name)], name
        else:
            assert code == [], name


def test_every_code_stage_is_analysed():
    names = {s.name for s in stage_deps.code_stages(REPO)}
    data = yaml.safe_load((REPO / "dvc.yaml").read_text())
    runs_paperlib = {n for n, d in data["stages"].items() if "-m paperlib." in str(d.get("do", d).get("cmd"))}
    assert names == runs_paperlib - {"code"} and {"data", "report"} <= names


def test_a_digest_names_each_executed_file_with_its_md5_and_follows_only_those(tmp_path):
    root = _tree(tmp_path, {
        "paperlib/__init__.py": "",
        "paperlib/pipeline.py": "import paperlib.tool\n",
        "paperlib/tool.py": "X = 1\n",
        "paperlib/other.py": "Y = 1\n",
        "paperlib/config/__init__.py": "",
        "notebooks/n.ipynb": json.dumps({"cells": [{"cell_type": "code", "source": ["from paperlib import tool\n"]}]}),
        "dvc.yaml": """\
            stages:
              code:
                cmd: bin/project-python -m paperlib.stage_deps --digests results/code
                deps: [paperlib]
                outs: [results/code]
              one:
                cmd: bin/project-python -m paperlib.pipeline notebooks/n.ipynb --executed x.ipynb
                deps:
                  - notebooks/n.ipynb
                  - results/code/one.txt
                outs:
                  - x.ipynb
            """,
    })
    assert stage_deps.main(["--digests", "results/code", "--repo", str(root)]) == 0
    assert sorted(p.name for p in (root / "results/code").iterdir()) == ["one.txt"]   # not the code stage itself
    digest = (root / "results/code/one.txt").read_text()
    listed = [line.split() for line in digest.splitlines() if not line.startswith("#")]
    assert [path for _, path in listed] == ["paperlib/__init__.py", "paperlib/pipeline.py", "paperlib/tool.py"]
    assert dict((p, h) for h, p in listed)["paperlib/tool.py"] == hashlib.md5(b"X = 1\n").hexdigest()
    # another file changes: the digest does not; an executed file changes: it does
    (root / "paperlib/other.py").write_text("Y = 2\n")
    stage_deps.write_digests(root, Path("results/code"))
    assert (root / "results/code/one.txt").read_text() == digest
    (root / "paperlib/tool.py").write_text("X = 2\n")
    stage_deps.write_digests(root, Path("results/code"))
    assert (root / "results/code/one.txt").read_text() != digest


def test_an_unfollowable_import_writes_no_digest(tmp_path):
    root = _tree(tmp_path, {
        "paperlib/__init__.py": "",
        "paperlib/pipeline.py": "import importlib\nimportlib.import_module(name)\n",
        "notebooks/n.ipynb": json.dumps({"cells": []}),
        "dvc.yaml": "stages:\n  one:\n    cmd: python -m paperlib.pipeline notebooks/n.ipynb\n    deps: [results/code/one.txt]\n",
        "results/code/old.txt": "kept\n",
    })
    assert stage_deps.main(["--digests", "results/code", "--repo", str(root)]) == 2
    assert [p.name for p in (root / "results/code").iterdir()] == ["old.txt"]
    assert not (root / "results/code.staging").exists() or not any((root / "results/code.staging").iterdir())


def test_the_closure_follows_what_python_executes():
    deps = {s.name: set(stage_deps.stage_code_deps(REPO, s)) for s in stage_deps.code_stages(REPO)}
    # the data stage: its module, and the package __init__s Python runs on the way
    assert {"paperlib/__init__.py", "paperlib/data/__init__.py", "paperlib/data/prepare.py"} <= deps["data"]
    assert "paperlib/pipeline.py" not in deps["data"]
    for name in deps.keys() - {"data"}:
        # the runner, the params loader, and the section modules of the declared keys only
        assert {"paperlib/pipeline.py", "paperlib/config/__init__.py", "paperlib/config/sections.py"} <= deps[name]
        assert ("paperlib/config/sem.py" in deps[name]) == name.startswith("sem_"), name
        assert ("paperlib/config/liang.py" in deps[name]) == name.startswith("liang_"), name
    # a registry filled by importlib.import_module(f"{__name__}.{x}") brings its whole package
    models = {p.relative_to(REPO).as_posix() for p in (REPO / "paperlib" / "models").glob("*.py")}
    assert models <= deps["sem_train"]


def _tree(tmp_path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(textwrap.dedent(text))
    return tmp_path


def test_relative_submodule_and_function_level_imports(tmp_path):
    root = _tree(tmp_path, {
        "paperlib/__init__.py": "",
        "paperlib/a/__init__.py": "from .b import thing\n",
        "paperlib/a/b.py": "def thing():\n    from ..c import d\n",
        "paperlib/c/__init__.py": "",
        "paperlib/c/d.py": "import paperlib.e.f as f\n",
        "paperlib/e/__init__.py": "",
        "paperlib/e/f.py": "",
        "paperlib/unused.py": "",
        "paperlib/main.py": "from paperlib import a\n",
    })
    assert stage_deps.closure(root, {"paperlib/main.py"}) == [
        "paperlib/__init__.py", "paperlib/a/__init__.py", "paperlib/a/b.py", "paperlib/c/__init__.py",
        "paperlib/c/d.py", "paperlib/e/__init__.py", "paperlib/e/f.py", "paperlib/main.py"]


def test_an_unfollowable_dynamic_import_is_refused(tmp_path):
    root = _tree(tmp_path, {"paperlib/__init__.py": "", "paperlib/m.py": "import importlib\nimportlib.import_module(name)\n"})
    with pytest.raises(stage_deps.StageDepsError, match="paperlib/m.py:2: dynamic import"):
        stage_deps.closure(root, {"paperlib/m.py"})


def test_write_edits_only_the_code_lines(tmp_path):
    root = _tree(tmp_path, {
        "paperlib/__init__.py": "",
        "paperlib/pipeline.py": "import paperlib.tool\n",
        "paperlib/tool.py": "",
        "paperlib/config/__init__.py": "",
        "paperlib/config/sem.py": "",
        "notebooks/n.ipynb": json.dumps({"cells": [{"cell_type": "code", "source": ["%matplotlib inline\n", "from paperlib import tool\n"]}]}),
        "dvc.yaml": """\
            # a comment that stays
            stages:
              one:
                cmd: >-
                  bin/project-python -m paperlib.pipeline notebooks/n.ipynb
                  --executed x.ipynb -p sem=sem.zoo
                deps:
                  - notebooks/n.ipynb   # the notebook
                  - paperlib   # a folder: replaced
                  - paperlib/tool.py
                  - data/x
                params:
                  - sem.zoo
                outs:
                  - x.ipynb
            """,
    })
    assert stage_deps.main(["--check", "--repo", str(root)]) == 1
    assert stage_deps.write(root) == ["one"]
    text = (root / "dvc.yaml").read_text()
    assert text.startswith("# a comment that stays\n") and "- notebooks/n.ipynb   # the notebook\n" in text
    deps = yaml.safe_load(text)["stages"]["one"]["deps"]
    assert deps == ["notebooks/n.ipynb", "results/code/one.txt", "data/x"]
    # the closure behind the digest: the notebook's imports, the runner, the declared section
    assert stage_deps.stage_code_deps(root, stage_deps.code_stages(root)[0]) == [
        "paperlib/__init__.py", "paperlib/config/__init__.py", "paperlib/config/sem.py", "paperlib/pipeline.py", "paperlib/tool.py"]
    assert stage_deps.main(["--check", "--repo", str(root)]) == 0
    assert stage_deps.write(root) == []


# ------------------------------------------------------------------ a new paper in a clone


NEW_PAPER = {
    "paperlib/newpaper/__init__.py": '"""A new paper\'s code."""\n',
    "paperlib/newpaper/core.py": "from paperlib.seeding import make_generator\n\n\ndef table():\n    return [[1, 2]]\n",
    "paperlib/config/newpaper.py": '''\
        """``newpaper``: the new paper's params."""
        from dataclasses import dataclass

        from paperlib.config.schema import require


        @dataclass(frozen=True)
        class NewPaperParams:
            dataset: str
            rounds: int

            def validate(self, key):
                require(self.rounds >= 1, f"{key}.rounds", f"must be >= 1, got {self.rounds}")


        SECTION = NewPaperParams
        ''',
    "claims/newpaper.yaml": "paper: newpaper\nclaims: []\n",
}

NEW_STAGE = """
  newpaper_table:
    cmd: >-
      bin/project-python -m paperlib.pipeline notebooks/newpaper_table.ipynb
      --executed results/notebooks/newpaper_table.ipynb --out-dir out_dir=results/newpaper_table
      -p profile=profile -p rounds=newpaper.rounds
    deps:
      - notebooks/newpaper_table.ipynb
      - claims/newpaper.yaml
    params:
      - profile
      - newpaper.rounds
    outs:
      - results/newpaper_table
      - results/notebooks/newpaper_table.ipynb
"""

# Run in the clone: every stage's definition as DVC's status compares it.
RECORD = r"""
import hashlib, json, os, sys
from pathlib import Path
from dvc.repo import Repo

def md5(path):
    p = Path(path)
    if p.is_dir():
        files = sorted(q for q in p.rglob("*") if q.is_file() and "__pycache__" not in q.parts)
        return {str(q.relative_to(p)): md5(q) for q in files}
    return hashlib.md5(p.read_bytes()).hexdigest() if p.is_file() else None

from paperlib.stage_deps import write_digests

write_digests(Path("."), Path("results/code"))   # what the code stage does first in a dvc repro
with Repo(".") as repo:
    out = {}
    for stage in repo.index.stages:
        if not getattr(stage, "cmd", None) or stage.addressing == "code":
            continue
        deps, params = {}, {}
        for dep in stage.deps:
            if hasattr(dep, "params"):
                values = dep.read_params()
                params.update({k: values.get(k) for k in dep.params})
            else:
                deps[str(dep.def_path)] = md5(dep.fs_path)
        out[stage.addressing] = {"cmd": stage.cmd, "deps": deps, "params": params,
                                 "outs": sorted(str(o.def_path) for o in stage.outs)}
json.dump(out, sys.stdout, sort_keys=True)
"""


def _run(cmd: list[str], cwd: Path) -> str:
    env = dict(os.environ, DVC_NO_ANALYTICS="1", PYTHONPATH=str(cwd))
    proc = subprocess.run(cmd, cwd=cwd, env=env, text=True, capture_output=True)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _notebook(body: str) -> str:
    params = {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "profile = ''\nrounds = 0\nout_dir = ''",
              "outputs": [], "execution_count": None}
    code = {"cell_type": "code", "metadata": {}, "source": body, "outputs": [], "execution_count": None}
    return json.dumps({"cells": [params, code], "metadata": {"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}},
                       "nbformat": 4, "nbformat_minor": 5}, indent=1)


@pytest.mark.slow
def test_adding_a_paper_changes_no_existing_stage(tmp_path):
    from tests.test_e2e_smoke import clone_working_tree

    clone = clone_working_tree(tmp_path / "clone")
    (clone / "record.py").write_text(RECORD)
    python = sys.executable
    before = json.loads(_run([python, "record.py"], clone))
    assert len(before) > 10 and "sem_table2" in before
    assert before["sem_train"]["deps"]["results/code/sem_train.txt"] is not None
    assert "paperlib/models/cw.py" in (clone / "results/code/sem_train.txt").read_text()

    for rel, text in NEW_PAPER.items():
        (clone / rel).parent.mkdir(parents=True, exist_ok=True)
        (clone / rel).write_text(textwrap.dedent(text))
    (clone / "notebooks" / "newpaper_table.ipynb").write_text(_notebook(
        "from paperlib.newpaper.core import table\nimport pathlib\npathlib.Path(out_dir, 't.json').write_text(str(table()))"))
    params = (clone / "params.yaml").read_text()
    (clone / "params.yaml").write_text(params + "\nnewpaper:\n  dataset: cifar10\n  rounds: 3\n")
    (clone / "dvc.yaml").write_text((clone / "dvc.yaml").read_text().rstrip("\n") + "\n" + NEW_STAGE)

    # The deps tool adds the new files to the new stage, and changes no other stage.
    assert "['newpaper_table']" in _run([python, "-m", "paperlib.stage_deps", "--write"], clone)
    new_deps = set(yaml.safe_load((clone / "dvc.yaml").read_text())["stages"]["newpaper_table"]["deps"])
    assert {"results/code/newpaper_table.txt", "notebooks/newpaper_table.ipynb", "claims/newpaper.yaml"} <= new_deps
    new_code = set(_run([python, "-m", "paperlib.stage_deps", "--show", "newpaper_table"], clone).split())
    assert {"paperlib/newpaper/__init__.py", "paperlib/newpaper/core.py", "paperlib/config/newpaper.py",
            "paperlib/pipeline.py"} <= new_code
    assert "paperlib/config/sem.py" not in new_code
    _run([python, "-m", "paperlib.stage_deps", "--check"], clone)

    # Params validation finds the new section by its key and validates it.
    check = ("from paperlib.config import load_params, lookup; p = load_params('params.yaml'); "
             "print(lookup(p, 'newpaper.rounds'), type(p.newpaper).__name__, p.sem.dataset)")
    assert _run([python, "-c", check], clone).split() == ["3", "NewPaperParams", "cifar10"]

    after = json.loads(_run([python, "record.py"], clone))
    assert set(after) == set(before) | {"newpaper_table"}
    changed = {name: (before[name], after[name]) for name in before if before[name] != after[name]}
    assert not changed, f"adding a paper changed existing stages: {sorted(changed)}"
