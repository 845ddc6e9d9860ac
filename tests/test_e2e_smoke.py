"""End to end: the smoke profile through `dvc repro` in temporary clones of this working tree.

Shows the pipeline mechanics the frame promises:
- a clean run produces every declared output, each recording the profile;
- a second `dvc repro` runs nothing;
- changing one ensemble member's parameter reruns only its dataset's Liang & Samavi stages and
  what depends on them; the ensemble's other members and the other dataset's ensemble come out
  byte-identical;
- a forced rerun of a training stage reproduces its outputs byte for byte, so every stage after
  it stays up to date (wall times live only in uncached timing files);
- `dvc push`, then `dvc pull` into a fresh clone restores models and results so that
  `dvc repro` has nothing to do;
- two runs from a clean state give byte-identical metrics files (CPU determinism).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, mirror_root

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

BIN = Path(sys.executable).parent


def run(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(PATH=f"{BIN}:{env.get('PATH', '')}", PYTHONPATH=str(cwd), DVC_NO_ANALYTICS="1",
               PAPERLIB_DATA_MIRROR=str(mirror_root()))
    proc = subprocess.run(cmd, cwd=cwd, env=env, text=True, capture_output=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}) in {cwd}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def clone_working_tree(dest: Path) -> Path:
    """Copy the tracked and untracked-not-ignored files into ``dest`` as a fresh git repo."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, text=True,
                           capture_output=True, check=True).stdout.split("\0")
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "clone"]):
        subprocess.run(cmd, cwd=dest, check=True, capture_output=True)
    return dest


def ran_stages(proc) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", proc.stdout + proc.stderr)


def smoke_repro(repo: Path) -> subprocess.CompletedProcess:
    run([str(BIN / "python"), "-m", "paperlib.profiles", "smoke"], repo)
    return run([str(BIN / "dvc"), "repro"], repo)


METRIC_FILES = ["results/metrics/liang.json", "results/claims.csv", "models/liang/mnist/zoo.json",
                "models/liang/cifar10/zoo.json", "results/liang_mnist/certificates.csv",
                "results/liang_mnist/adaptive.csv", "results/liang_cifar10/tests.npz",
                "results/liang_cifar10/attack.json", "results/sem_table1/tables/models.csv", "results/sem_collection.json",
                "results/sem_fig4/tables/per_image.csv", "results/sem_fig6/tables/per_image.csv",
                "results/clm_table2/tables/mra.csv", "results/clm_figures/tables/pairs.csv",
                "models/clm/mnist_clm/population.json", "models/rse/cifar10_vgg16/zoo.json",
                "results/rse_cifar10_vgg16/per_image/cw.csv", "results/rse_cifar10_vgg16/per_image/targeted.csv",
                "results/rse/tables/table2.csv", "results/rse/claims.csv"]
CLM_SECTIONS = [f"clm_table{i}" for i in range(1, 6)] + ["clm_figures"]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    if mirror_root() is None:
        pytest.skip("offline dataset mirror not found (set PAPERLIB_DATA_MIRROR)")
    repo = clone_working_tree(tmp_path_factory.mktemp("clone_a"))
    proc = smoke_repro(repo)
    snapshot = {f: (repo / f).read_bytes() for f in METRIC_FILES}
    return repo, proc, snapshot


def test_clean_run_writes_every_output_with_its_profile(first_run):
    repo, proc, _ = first_run
    stages = ran_stages(proc)
    liang_stages = {f"{stage}@{d}" for stage in ("liang_zoo", "liang_attack") for d in ("mnist", "cifar10")}
    assert {"data@cifar10", "data@mnist", "liang_tables", "report"} | liang_stages <= set(stages)
    assert stages.index("report") == len(stages) - 1
    sem_stages = {"sem_baselines_train", "sem_table1", "sem_table2"} | {f"sem_curves@fig{i}" for i in range(3, 9)}
    assert sem_stages <= set(stages) and "sem_train" in stages
    for section in ["sem_table1", "sem_table2"] + [f"sem_fig{i}" for i in range(3, 9)]:
        assert json.loads((repo / "results" / section / "section.json").read_text())["profile"] == "smoke", section
    assert "Qin et al. (2023)" in (repo / "report/index.html").read_text()
    clm_stages = {f"clm_table@table{i}" for i in range(1, 6)} | {"clm_figures", "clm_train@mnist_ulm", "clm_link@mnist_clm"}
    assert clm_stages <= set(stages)
    for section in CLM_SECTIONS:
        assert json.loads((repo / "results" / section / "section.json").read_text())["profile"] == "smoke", section
    assert json.loads((repo / "models/clm/cifar10_clm_adv/population.json").read_text())["profile"] == "smoke"
    assert "Jasser &amp; Garibay" in (repo / "report/index.html").read_text()
    settings = ("cifar10_vgg16", "cifar10_resnext", "stl10_model_a")
    rse_stages = {f"{stage}@{s}" for stage in ("rse_train", "rse_attack") for s in settings} | {"rse_figures"}
    assert rse_stages <= set(stages)
    assert json.loads((repo / "results/rse/section.json").read_text())["profile"] == "smoke"
    stl = json.loads((repo / "models/rse/stl10_model_a/zoo.json").read_text())
    assert not stl["enabled"] and "enabled is false" in stl["skipped_because"] and not stl["networks"]
    not_run = (repo / "results/rse/tables/not_run.csv").read_text()
    assert "stl10" in not_run.lower()  # STL-10's claims are listed as not run, with the reason
    assert "Liu et al." in (repo / "report/index.html").read_text()
    for path in ["report/index.html", "results/claims.csv", "models/liang/mnist/member_01/model.pt",
                 "models/liang/mnist/member_01/history.json", "models/liang/cifar10/member_01/model.pt",
                 "results/notebooks/liang_zoo@mnist.ipynb", "results/notebooks/liang_tables.ipynb",
                 "results/notebooks/report.ipynb", "data/mnist/manifest.json", "results/timings/sem_train.json",
                 "results/timings/liang_zoo@mnist.json", "results/timings/liang_zoo@cifar10.json",
                 "results/timings/liang_attack@mnist.json", "report/notebooks/liang_tables.html",
                 "report/notebooks/rse_figures.html"]:
        assert (repo / path).is_file(), path
    for dataset in ("mnist", "cifar10"):
        # one stage item trains every member of the dataset's ensemble (smoke: 3)
        members = sorted(p.name for p in (repo / "models/liang" / dataset).glob("member_*"))
        assert members == ["member_01", "member_02", "member_03"], (dataset, members)
        assert json.loads((repo / "models/liang" / dataset / "zoo.json").read_text())["profile"] == "smoke", dataset
        for f in ("tests.npz", "certificates.csv", "adaptive.csv"):
            assert (repo / f"results/liang_{dataset}" / f).is_file(), (dataset, f)
        assert json.loads((repo / f"results/liang_{dataset}/attack.json").read_text())["profile"] == "smoke", dataset
    assert json.loads((repo / "results/metrics/liang.json").read_text())["profile"] == "smoke"
    assert json.loads((repo / "results/liang/section.json").read_text())["profile"] == "smoke"
    assert "subset" in json.loads((repo / "data/mnist/manifest.json").read_text())["note"]
    page = (repo / "report/index.html").read_text()
    assert "Profile: <b>smoke</b>" in page and "72.42" in page.replace("0.7242", "72.42")
    # the reviewers' page: the summary, the four papers in the filter, links to the rendered notebooks
    assert "<h2 id=summary>Summary</h2>" in page
    for paper in ("sem", "clm", "rse", "liang_samavi"):
        assert f"<option>{paper}</option>" in page, paper
    assert "href='notebooks/liang_tables.html'" in page
    assert not list((repo / "models/liang/mnist").glob("timings.json"))   # wall times stay out of the models


def test_the_smoke_report_in_a_browser(first_run, tmp_path):
    """Issue 17: the real page in headless Chromium: every section of report.sections is a heading,
    every figure of every section is on the page and loads, no local link is dead (the rendered
    notebooks), and a screenshot is saved under results/."""
    from tests._browser import dead_local_links, inspect, screenshot

    repo, _, _ = first_run
    page = repo / "report/index.html"
    seen = inspect(page, tmp_path)
    import yaml
    sections = yaml.safe_load((repo / "params.yaml").read_text())["report"]["sections"]
    metas = [json.loads((repo / s / "section.json").read_text()) for s in sections]
    assert seen["h2"] == ["Summary"] + [m["title"] for m in metas]
    assert seen["figures"] == sum(len(m["figures"]) for m in metas) and seen["broken"] == []
    assert seen["tables"] >= 1 + sum(len(m["tables"]) for m in metas)
    assert dead_local_links(page, seen["links"]) == []
    assert sum(v for k, v in seen["filter"].items() if k != "all") == seen["filter"]["all"] == seen["rows_all"]
    shot = screenshot(page, repo / "results" / "report_screenshot.png")
    assert shot.stat().st_size > 10_000


def test_dvc_metrics_and_plots_show_every_paper(first_run, tmp_path):
    """Issue 17: DVC's own views are meaningful: `dvc metrics show` carries every paper's headline
    counts, `dvc plots show` renders every declared curve (each paper's) without a missing file."""
    repo, _, _ = first_run
    proc = run([str(BIN / "dvc"), "metrics", "show", "--json"], repo)
    shown = json.loads(proc.stdout)
    papers = shown[""]["data"]["results/metrics/papers.json"]["data"]
    assert papers["profile"] == "smoke" and set(papers["papers"]) == {"sem", "clm", "rse", "liang_samavi"}
    assert "results/metrics/liang.json" in shown[""]["data"]
    proc = run([str(BIN / "dvc"), "plots", "show", "-o", str(tmp_path / "plots")], repo)
    assert "failed" not in (proc.stdout + proc.stderr).lower()
    page = (tmp_path / "plots" / "index.html").read_text()
    for title in ("SEM Figure 3", "CLM Figure 6", "RSE Figures 2-5", "Liang & Samavi Figures 1/3"):
        assert title in page, title


def test_second_repro_runs_nothing(first_run):
    repo, _, _ = first_run
    proc = run([str(BIN / "dvc"), "repro"], repo)
    assert ran_stages(proc) == []


def test_one_model_change_reruns_only_that_model_and_downstream(first_run):
    """The CIFAR-10 ensemble's third member gets another temperature: only liang_zoo@cifar10 and
    what reads it rerun; its other members retrain to the same bytes and MNIST's ensemble is untouched."""
    repo, _, _ = first_run
    params = repo / "params.yaml"
    members = ("member_01", "member_02", "member_03")
    unchanged = {f"{d}/{m}/{f}": (repo / "models/liang" / d / m / f).read_bytes()
                 for d, ms in (("mnist", members), ("cifar10", members[:2])) for m in ms for f in ("model.pt", "history.json")}
    original = params.read_text()
    head, sep, tail = original.partition("\n    cifar10:\n      dataset: cifar10\n      arch: cw_cifar\n")
    assert sep and "\nliang:\n" in head and "temperatures: [10, 20, 30]" in tail, "liang.ensembles.cifar10 moved"
    params.write_text(head + sep + tail.replace("temperatures: [10, 20, 30]", "temperatures: [10, 20, 35]", 1))
    proc = run([str(BIN / "dvc"), "repro"], repo)
    assert ran_stages(proc) == ["liang_zoo@cifar10", "liang_attack@cifar10", "liang_tables", "report"]
    history = json.loads((repo / "models/liang/cifar10/member_03/history.json").read_text())
    assert history["config"]["temperature"] == 35.0
    zoo = json.loads((repo / "models/liang/cifar10/zoo.json").read_text())
    assert [m["temperature"] for m in zoo["members"]] == [10, 20, 35]
    for f, data in unchanged.items():  # the ensemble's other members are retrained to the same bytes
        assert (repo / "models/liang" / f).read_bytes() == data, f
    params.write_text(original)
    # Back to the committed value: DVC's run cache restores the earlier outputs without training.
    proc = run([str(BIN / "dvc"), "repro"], repo)
    assert not any(s.startswith("liang_zoo@") for s in ran_stages(proc)), ran_stages(proc)
    assert "Stage 'liang_zoo@cifar10' is cached" in proc.stdout + proc.stderr


def test_forced_rerun_of_training_leaves_downstream_up_to_date(first_run):
    """Issue 12: a training stage rerun that reproduces the weights must not invalidate what
    follows. Model directories carry no wall times (history.json, train_info.json), so the rerun
    writes the same bytes; only the executed notebook and the uncached timing file change."""
    repo, _, _ = first_run
    before = (repo / "models/sem/resnet18/sigma_0/model.pt").read_bytes()
    proc = run([str(BIN / "dvc"), "repro", "-f", "-s", "sem_train"], repo)
    assert ran_stages(proc) == ["sem_train"]
    assert (repo / "models/sem/resnet18/sigma_0/model.pt").read_bytes() == before
    status = run([str(BIN / "dvc"), "status"], repo)
    assert "up to date" in status.stdout, status.stdout
    proc = run([str(BIN / "dvc"), "repro"], repo)
    assert ran_stages(proc) == []


def test_forced_rerun_of_a_counter_linked_population_reproduces_it(first_run):
    """CLM's populations train in threads taking turns (Algorithm 1's epoch order): a forced rerun
    must give the same bytes, so the tables after it stay up to date."""
    repo, _, _ = first_run
    files = ["member_0/model.pt", "member_2/model.pt", "population.json"]
    before = {f: (repo / "models/clm/mnist_clm" / f).read_bytes() for f in files}
    proc = run([str(BIN / "dvc"), "repro", "-f", "-s", "clm_link@mnist_clm"], repo)
    assert ran_stages(proc) == ["clm_link@mnist_clm"]
    for f, data in before.items():
        assert (repo / "models/clm/mnist_clm" / f).read_bytes() == data, f
    status = run([str(BIN / "dvc"), "status"], repo)
    assert "up to date" in status.stdout, status.stdout


def test_pull_into_a_fresh_clone_restores_everything(first_run, tmp_path):
    repo, _, _ = first_run
    remote = tmp_path / "remote"
    run([str(BIN / "dvc"), "remote", "modify", "--local", "store", "url", str(remote)], repo)
    run([str(BIN / "dvc"), "push"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "smoke results"], repo)
    fresh = tmp_path / "fresh"
    run(["git", "clone", "-q", str(repo), str(fresh)], tmp_path)
    run([str(BIN / "dvc"), "remote", "modify", "--local", "store", "url", str(remote)], fresh)
    run([str(BIN / "dvc"), "pull"], fresh)
    model = "models/liang/mnist/member_01/model.pt"
    assert (fresh / model).read_bytes() == (repo / model).read_bytes()
    assert (fresh / "report/index.html").is_file()
    proc = run([str(BIN / "dvc"), "repro"], fresh)
    assert ran_stages(proc) == []
    status = run([str(BIN / "dvc"), "status"], fresh)
    assert "up to date" in status.stdout


# Claims measured on wall-clock time (RSE's "Madry's training takes ~10 times longer") differ from
# run to run by nature; every other row of a claims table must be byte-identical.
WALL_CLOCK_CLAIMS = ("madry_training_10x_longer",)


def _without_wall_clock_claims(path: str, data: bytes) -> bytes:
    if not path.endswith("claims.csv"):
        return data
    import io

    import pandas as pd

    table = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    kept = table[~table["claim_id"].isin(WALL_CLOCK_CLAIMS)]
    assert len(kept) > 0
    return kept.to_csv(index=False).encode()


def test_two_clean_runs_give_byte_identical_metrics(first_run, tmp_path):
    _, _, snapshot = first_run
    second = clone_working_tree(tmp_path / "clone_b")
    smoke_repro(second)
    for path, data in snapshot.items():
        assert _without_wall_clock_claims(path, (second / path).read_bytes()) == _without_wall_clock_claims(path, data), \
            f"{path} differs between two clean smoke runs"
