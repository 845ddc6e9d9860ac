"""What DVC spends on ``dvc.lock`` per stage, with per-file code deps and with code digests.

After every stage, ``dvc repro`` rewrites ``dvc.lock``: it parses the whole file with
ruamel.yaml's round-trip loader (pure Python), merges the stage's entry, and dumps it all again;
``dvc status``/``repro`` also read it with the ``safe`` loader, which is C code only when
``ruamel.yaml.clib`` is installed. The cost grows with the lock's length, and until December 2026
every stage listed each ``paperlib/`` file it imports (57 stages x about 55 files).

This benchmark builds both forms of the lock from the current one, in one run on this machine:

* ``digests``: the lock as it is (one code dep per stage, ``results/code/<stage>.txt``);
* ``per_file``: each digest dep replaced by the files the digest names, with their MD5s and
  sizes, which is what the lock held before;

and times, median of ``--repeats``: DVC's own ``parse_yaml`` (safe) with the C loader and with
the pure-Python one, and DVC's per-stage lock update (``modify_yaml``: round-trip parse + dump).
Results: ``benchmarks/results/dvc_overhead.json``.

    .venv/bin/python benchmarks/dvc_overhead.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import cpu_model  # noqa: E402  benchmarks/machine.py

DIGEST_PREFIX = "results/code/"


def digest_lock(lock: dict, root: Path) -> dict:
    """The lock with every entry in digest form: an entry recorded before the digests (a stage not
    rerun since) has its ``paperlib/`` deps replaced by its digest, as its next run will write."""
    out = json.loads(json.dumps(lock))
    for name, entry in out["stages"].items():
        deps = entry.get("deps", [])
        if any(d["path"].startswith("paperlib/") for d in deps):
            digest = f"{DIGEST_PREFIX}{name.split('@')[0]}.txt"
            text = (root / digest).read_bytes()
            entry["deps"] = ([{"path": digest, "hash": "md5", "md5": hashlib.md5(text).hexdigest(), "size": len(text)}]
                             + [d for d in deps if not d["path"].startswith("paperlib/")])
    return out


def per_file_lock(lock: dict, root: Path) -> dict:
    """The lock with every code-digest dep expanded into the files that digest names."""
    out = json.loads(json.dumps(lock))
    for entry in out["stages"].values():
        deps = []
        for dep in entry.get("deps", []):
            path = dep["path"]
            if not path.startswith(DIGEST_PREFIX):
                deps.append(dep)
                continue
            for line in (root / path).read_text().splitlines():
                if line.startswith("#") or not line.strip():
                    continue
                md5, file = line.split(maxsplit=1)
                deps.append({"path": file, "hash": "md5", "md5": md5, "size": (root / file).stat().st_size})
        entry["deps"] = deps
    return out


def _median(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return round(statistics.median(times), 3)


def measure(text: str, repeats: int) -> dict:
    from ruamel.yaml import YAML
    from dvc.utils.serialize import modify_yaml, parse_yaml

    def safe_pure():
        YAML(typ="safe", pure=True).load(text)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dvc.lock"
        path.write_text(text)

        def update():  # what Lockfile.dump does after each stage
            with modify_yaml(str(path)) as data:
                data["stages"]["_bench"] = {"cmd": "true"}
            path.write_text(text)

        return {"lines": text.count("\n"), "bytes": len(text.encode()),
                "safe_parse_c_s": _median(lambda: parse_yaml(text, "dvc.lock"), repeats),
                "safe_parse_pure_python_s": _median(safe_pure, repeats),
                "lock_update_per_stage_s": _median(update, repeats)}


def main() -> int:
    import yaml

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    try:
        import ruamel.yaml.clib  # noqa: F401
        clib = True
    except ImportError:
        clib = False
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())
    if not (ROOT / DIGEST_PREFIX).is_dir():
        print(f"no {DIGEST_PREFIX}: run `dvc repro code` (or `python -m paperlib.stage_deps --digests results/code`)", file=sys.stderr)
        return 2
    lock = digest_lock(lock, ROOT)
    forms = {"digests": lock, "per_file": per_file_lock(lock, ROOT)}
    result = {"benchmark": "dvc_overhead", "cpu": cpu_model(), "ruamel_yaml_clib_installed": clib,
              "statistic": f"median of {args.repeats} runs, seconds", "stages_in_lock": len(lock["stages"]),
              "forms": {name: measure(yaml.safe_dump(data, sort_keys=False), args.repeats) for name, data in forms.items()}}
    before, after = result["forms"]["per_file"], result["forms"]["digests"]
    # Per stage of `dvc repro`: one safe read (C loader now; pure Python before the pin) and one update.
    result["per_stage_s"] = {
        "before (per-file deps, pure-Python safe loader)": round(before["safe_parse_pure_python_s"] + before["lock_update_per_stage_s"], 3),
        "now (digests, C safe loader)": round(after["safe_parse_c_s"] + after["lock_update_per_stage_s"], 3),
    }
    out = ROOT / "benchmarks" / "results" / "dvc_overhead.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
