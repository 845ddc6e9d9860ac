"""Static checks of the pipeline definition and the source notebooks.

Each stage must inject exactly the params keys it declares (so DVC's invalidation matches what
the notebook reads), declare every path it writes, depend on its notebook and start with the
project's launcher; source notebooks carry no outputs (executed copies are DVC outputs). The
per-file code deps (through code digests) are checked by tests/test_stage_deps.py.
"""

from __future__ import annotations

import json
import shlex

import pytest
import yaml

from paperlib import stage_deps
from tests.conftest import REPO


def expanded_stages() -> dict[str, dict]:
    """``dvc.yaml`` stages with foreach expanded over the default profile's params."""
    from dvc.repo import Repo

    with Repo(str(REPO)) as repo:
        stages = {}
        for stage in repo.index.stages:
            if not hasattr(stage, "cmd"):
                continue
            stages[stage.addressing] = {
                "cmd": stage.cmd,
                "params": sorted(k for dep in stage.deps if hasattr(dep, "params") for k in dep.params),
                "deps": [str(d.def_path) for d in stage.deps if not hasattr(d, "params")],
                "outs": [str(o.def_path) for o in stage.outs],
            }
        return stages


STAGES = expanded_stages()
LAUNCHER = "bin/project-python"  # picks the project's interpreter however DVC was started (tests/test_stage_env.py)


def parse_runner(cmd: str):
    argv = shlex.split(cmd)
    assert argv[:3] == [LAUNCHER, "-m", "paperlib.pipeline"], cmd
    keys, outs, notebook = set(), set(), argv[3]
    for flag, value in zip(argv[3:], argv[4:]):
        if flag in ("-p", "--param"):
            keys.add(value.split("=", 1)[1])
        elif flag in ("--out-dir", "--out-file"):
            outs.add(value.split("=", 1)[1])
        elif flag == "--executed":
            outs.add(value)
    return notebook, keys, outs


def test_stages_exist():
    names = set(STAGES)
    liang = {"liang_zoo@mnist", "liang_zoo@cifar10", "liang_attack@mnist", "liang_attack@cifar10", "liang_tables"}
    assert {"data@cifar10", "data@mnist", "sem_train", "report"} | liang <= names
    # a zoo is one stage (paperlib/zoo/training.py says why), not one item per network: Liang & Samavi's
    # ensembles are one item per dataset, each training all of its members
    assert not any(n.startswith("sem_train@") for n in names)
    assert {n for n in names if n.startswith("liang_zoo@")} == {"liang_zoo@mnist", "liang_zoo@cifar10"}


@pytest.mark.parametrize("name", [n for n in STAGES if "paperlib.pipeline" in STAGES[n]["cmd"]])
def test_notebook_stage_declares_what_it_reads_and_writes(name):
    stage = STAGES[name]
    notebook, keys, outs = parse_runner(stage["cmd"])
    assert keys == set(stage["params"]), f"{name}: injected {sorted(keys)} but declared {stage['params']}"
    assert outs == set(stage["outs"]), f"{name}: writes {sorted(outs)} but declares {stage['outs']}"
    assert notebook in stage["deps"]
    base = name.split("@")[0]
    digest = f"results/code/{base}.txt"
    assert digest in stage["deps"], f"{name}: depends on its code through {digest}"
    assert "paperlib/pipeline.py" in stage_deps.stage_code_deps(REPO, next(s for s in stage_deps.code_stages(REPO) if s.name == base))
    assert "profile" in keys, f"{name}: every output records the profile"


def test_source_notebooks_are_clean_and_have_a_parameters_cell():
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), path
        assert sum("parameters" in c.get("metadata", {}).get("tags", []) for c in code) == 1, path


def test_every_stage_runs_with_the_project_launcher():
    """No stage starts a bare ``python``: that is whichever comes first on the caller's PATH."""
    for name, stage in STAGES.items():
        assert shlex.split(stage["cmd"])[0] == LAUNCHER, f"{name}: {stage['cmd']}"
    assert (REPO / LAUNCHER).is_file() and (REPO / LAUNCHER).stat().st_mode & 0o111, f"{LAUNCHER} must be executable"


def test_repo_config_keeps_dvc_offline():
    config = (REPO / ".dvc" / "config").read_text()
    assert "analytics = false" in config and "remote = store" in config


def test_sem_baselines_stage_depends_on_its_architectures_in_every_profile():
    """dvc.yaml names the baseline architectures' models by hand: every architecture of every
    profile's ``sem.baselines.archs`` must be covered by a dep (its folder or one above it)."""
    from pathlib import PurePosixPath

    from paperlib.config import load_params

    deps = {PurePosixPath(d) for d in STAGES["sem_baselines_train"]["deps"]}
    for profile in ("smoke", "default", "paper"):
        archs = load_params(REPO / "profiles" / f"{profile}.yaml").sem.baselines.archs
        for a in archs:
            folder = PurePosixPath(f"models/sem/{a}")
            assert any(d == folder or d in folder.parents for d in deps), (profile, a)


def test_report_depends_on_every_section_it_gathers():
    from paperlib.config import load_params

    deps = set(STAGES["report"]["deps"])
    for profile in ("smoke", "default", "paper"):
        sections = load_params(REPO / "profiles" / f"{profile}.yaml").report.sections
        assert set(sections) <= deps, profile
    outs = {o for s in STAGES.values() for o in s["outs"]}
    assert set(sections) <= outs
