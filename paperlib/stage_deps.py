"""Per-file code dependencies of the DVC stages, computed from the imports, recorded as digests.

Each stage of ``dvc.yaml`` that runs ``-m paperlib.<module>`` (the notebook runner
``paperlib.pipeline NOTEBOOK`` or a plain module such as ``paperlib.data.prepare``) depends on
exactly the ``paperlib/`` files it executes, one by one, never a folder, so that adding a file
(a new paper's package, say) changes no existing stage. It depends on them through one file,
its *code digest* ``results/code/<stage>.txt``: the MD5 of each file it executes, written by
the first stage of the pipeline (``code``, the only stage that depends on the whole
``paperlib/`` folder, a second's work). A code change reruns ``code``; a stage reruns only
when its own digest's content changed.

Why a digest instead of listing the files under ``deps:`` (as until December 2026): DVC
rewrites the whole ``dvc.lock`` after every stage with a pure-Python round-trip YAML parser,
and 57 stages x 55 listed files made that lock 19,000 lines and cost about 5 s per stage,
more than many smoke stages compute (benchmarks/results/dvc_overhead.json). The digest keeps
the per-file precision with one lock entry per stage.

The files are the transitive closure of static imports, read with :mod:`ast`:

- roots: the ``-m`` module; for the notebook runner, the imports of the notebook's code cells;
  the params-section module of every top-level params key the stage declares (``sem.zoo`` ->
  ``paperlib/config/sem.py``): :mod:`paperlib.config.sections` imports section modules by name,
  so the closure takes the declared ones rather than every module of ``paperlib/config``. (The
  runner validates the whole params file, so a stage also *executes* the modules of sections it
  does not declare; their values never reach it, and a change that makes them reject the file
  stops every stage at once.)
- every ``import`` statement anywhere in a file counts, inside functions too;
- relative imports are resolved; ``from pkg import name`` adds ``pkg/name.py`` when ``name`` is
  a submodule; a package's ``__init__.py`` is added whenever it or anything below it is
  imported, since Python executes it;
- ``importlib.import_module(f"{__name__}.{x}")`` (a registry filling itself) adds every module
  of the named package; any other dynamic import of ``paperlib`` code is an error here, so it
  cannot escape the deps unnoticed.

    python -m paperlib.stage_deps --check          # exit 1 naming the stages whose code dep is not their digest
    python -m paperlib.stage_deps --write          # make each stage's code dep its digest
    python -m paperlib.stage_deps --show STAGE     # the files a stage executes
    python -m paperlib.stage_deps --digests DIR    # what the ``code`` stage runs

``--write`` edits only the code lines of each ``deps:`` list (``paperlib/...`` or a digest);
every other line of ``dvc.yaml``, comments included, is kept as it is.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

PACKAGE = "paperlib"
# The params-section loader: its dynamic import is replaced by each stage's declared sections.
SECTION_LOADER = "paperlib/config/sections.py"
SECTION_PACKAGE = "paperlib.config"
# The stage that writes every other stage's code digest, and where the digests live.
DIGEST_MODULE = "paperlib.stage_deps"
DIGEST_DIR = "results/code"


def digest_path(stage: str) -> str:
    """The code digest a stage depends on (its name in ``dvc.yaml``, foreach items sharing one)."""
    return f"{DIGEST_DIR}/{stage}.txt"


class StageDepsError(RuntimeError):
    """An import the static analysis cannot follow, or a stage it cannot read."""


# ------------------------------------------------------------------ modules and their imports


def module_file(root: Path, dotted: str) -> str | None:
    """``paperlib/a/b.py`` or ``paperlib/a/b/__init__.py`` (relative to ``root``) for ``paperlib.a.b``."""
    parts = dotted.split(".")
    if parts[0] != PACKAGE:
        return None
    base = root.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return (Path(*parts) / "__init__.py").as_posix()
    if base.with_suffix(".py").is_file():
        return Path(*parts).with_suffix(".py").as_posix()
    return None


def module_name(path: str) -> str:
    parts = Path(path).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _with_parents(root: Path, dotted: str) -> list[str]:
    """The files Python executes for ``import dotted``: every package ``__init__`` on the way."""
    files = []
    parts = dotted.split(".")
    for i in range(1, len(parts) + 1):
        path = module_file(root, ".".join(parts[:i]))
        if path is not None:
            files.append(path)
    return files


def _resolve_relative(current: str, is_package: bool, level: int, module: str | None) -> str:
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    if not base:
        raise StageDepsError(f"relative import beyond the top package in {current}")
    return ".".join(base + ([module] if module else []))


def _dynamic_prefix(node: ast.expr, current: str) -> str | None:
    """The constant dotted prefix of an ``import_module`` argument (``__name__`` resolved)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        prefix = ""
        for value in node.values:
            if isinstance(value, ast.Constant):
                prefix += str(value.value)
            elif isinstance(value, ast.FormattedValue) and isinstance(value.value, ast.Name) and value.value.id == "__name__":
                prefix += current
            else:
                break
        return prefix
    return None


def _is_import_call(node: ast.Call) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return name in ("import_module", "__import__")


def imports_of_source(root: Path, source: str, current: str, is_package: bool, where: str) -> set[str]:
    """The ``paperlib`` files that the code ``source`` (of module ``current``) imports directly."""
    try:
        tree = ast.parse(source, filename=where)
    except SyntaxError as err:
        raise StageDepsError(f"{where}: cannot parse ({err})") from err
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.update(_with_parents(root, alias.name))
        elif isinstance(node, ast.ImportFrom):
            target = _resolve_relative(current, is_package, node.level, node.module) if node.level else node.module
            if not target or target.split(".")[0] != PACKAGE:
                continue
            found.update(_with_parents(root, target))
            for alias in node.names:
                sub = module_file(root, f"{target}.{alias.name}")
                if sub is not None:
                    found.add(sub)
        elif isinstance(node, ast.Call) and _is_import_call(node) and node.args:
            if where == SECTION_LOADER:
                continue  # params sections: each stage adds the modules of the keys it declares
            prefix = _dynamic_prefix(node.args[0], current)
            if not prefix:  # not a string, or one starting with a variable: could be paperlib code
                raise StageDepsError(f"{where}:{node.lineno}: dynamic import this tool cannot follow")
            if prefix.split(".")[0] != PACKAGE:
                continue
            if prefix.endswith("."):
                package = prefix[:-1]
                init = module_file(root, package)
                if init is None or not init.endswith("__init__.py"):
                    raise StageDepsError(f"{where}:{node.lineno}: dynamic import below {package!r}, not a package")
                folder = root / Path(init).parent
                found.update((Path(init).parent / p.name).as_posix() for p in folder.glob("*.py"))
                found.update((Path(init).parent / p.parent.name / "__init__.py").as_posix()
                             for p in folder.glob("*/__init__.py"))
            else:
                found.update(_with_parents(root, prefix))
    return found


def _notebook_source(path: Path) -> str:
    """The code cells of a notebook as Python (IPython magics and shell lines dropped)."""
    nb = json.loads(path.read_text())
    lines = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        for line in source.splitlines():
            stripped = line.lstrip()
            lines.append("" if stripped.startswith(("%", "!", "?")) else line)
        lines.append("")
    return "\n".join(lines)


def closure(root: Path, start: set[str]) -> list[str]:
    """Every ``paperlib`` file reachable by imports from the files ``start``, sorted."""
    seen: set[str] = set()
    todo = list(start)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        name = module_name(path)
        # Importing a module executes every package __init__ above it.
        todo.extend(_with_parents(root, name))
        direct = imports_of_source(root, (root / path).read_text(), name, path.endswith("__init__.py"), path)
        todo.extend(direct - seen)
    return sorted(seen)


# ------------------------------------------------------------------ stages


RUNNER = "paperlib.pipeline"
_MODULE_FLAG = re.compile(r"(?:^|\s)-m\s+(paperlib(?:\.\w+)*)")


@dataclass
class StageCode:
    """What a stage runs: its ``-m`` module, its notebook (runner stages) and its params keys."""

    name: str
    module: str
    notebook: str | None
    params: list[str] = field(default_factory=list)


def _stage_body(definition: dict) -> dict:
    return definition.get("do", definition) if isinstance(definition, dict) else {}


def code_stages(root: Path, dvc_yaml: str = "dvc.yaml") -> list[StageCode]:
    """The stages of ``dvc.yaml`` that run ``-m paperlib.<module>``, in file order."""
    data = yaml.safe_load((root / dvc_yaml).read_text()) or {}
    stages = []
    for name, definition in (data.get("stages") or {}).items():
        body = _stage_body(definition)
        cmd = body.get("cmd")
        cmd = " ".join(cmd) if isinstance(cmd, list) else (cmd or "")
        match = _MODULE_FLAG.search(cmd)
        if match is None:
            continue
        module = match.group(1)
        if module == DIGEST_MODULE:
            continue  # the digest stage itself: it reads the whole paperlib/ folder by design
        notebook = None
        if module == RUNNER:
            argv = shlex.split(cmd[match.end():])
            notebook = next((a for a in argv if not a.startswith("-")), None)
            if notebook is None:
                raise StageDepsError(f"{dvc_yaml}: stage {name}: the runner is given no notebook")
        params = []
        for entry in body.get("params") or []:
            if isinstance(entry, str):
                params.append(entry)
            elif isinstance(entry, dict):  # {params file: [keys]}
                for keys in entry.values():
                    params.extend(k for k in (keys or []) if isinstance(k, str))
        stages.append(StageCode(name, module, notebook, params))
    return stages


def section_modules(root: Path, params: list[str]) -> set[str]:
    """The params-section modules of the declared top-level keys (``sem.zoo`` -> ``paperlib/config/sem.py``)."""
    files = set()
    for key in params:
        top = key.split(".")[0]
        path = module_file(root, f"{SECTION_PACKAGE}.{top}")
        if path is not None:
            files.add(path)
    return files


def stage_code_deps(root: Path, stage: StageCode) -> list[str]:
    """The sorted ``paperlib`` files stage ``stage`` executes."""
    start = set(_with_parents(root, stage.module))
    if not start or module_file(root, stage.module) is None:
        raise StageDepsError(f"stage {stage.name}: module {stage.module} not found under {root}")
    if stage.notebook is not None:
        nb = root / stage.notebook
        if not nb.is_file():
            raise StageDepsError(f"stage {stage.name}: notebook {stage.notebook} not found")
        start |= imports_of_source(root, _notebook_source(nb), "__main__", False, stage.notebook)
    start |= section_modules(root, stage.params)
    return closure(root, start)


# ------------------------------------------------------------------ reading and editing dvc.yaml


def _unquote(value: str) -> str:
    value = value.split(" #", 1)[0].strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return value


def _is_code_dep(value: str) -> bool:
    return value == PACKAGE or value.startswith((PACKAGE + "/", DIGEST_DIR + "/"))


@dataclass
class DepsBlock:
    stage: str
    indent: str                  # the items' indentation
    items: list[tuple[int, str]]  # (line index, value)


def deps_blocks(lines: list[str]) -> dict[str, DepsBlock]:
    """Each stage's ``deps:`` list in the text of ``dvc.yaml`` (stage names at indent 2)."""
    blocks: dict[str, DepsBlock] = {}
    stage = None
    i = 0
    in_stages = False
    while i < len(lines):
        line = lines[i]
        top = re.match(r"^(\w[\w-]*):", line)
        if top:
            in_stages = top.group(1) == "stages"
            stage = None
        elif in_stages and (m := re.match(r"^  ([^\s#][^:]*):\s*(#.*)?$", line)):
            stage = m.group(1).strip()
        elif stage is not None and (m := re.match(r"^(\s+)deps:\s*(#.*)?$", line)):
            deps_indent = len(m.group(1))
            items: list[tuple[int, str]] = []
            item_indent = None
            j = i + 1
            while j < len(lines):
                text = lines[j]
                if not text.strip() or text.lstrip().startswith("#"):
                    j += 1
                    continue
                im = re.match(r"^(\s*)- (.*)$", text)
                indent = len(text) - len(text.lstrip())
                if im and indent >= deps_indent and (item_indent is None or indent == item_indent):
                    item_indent = indent
                    items.append((j, _unquote(im.group(2))))
                    j += 1
                    continue
                break
            blocks[stage] = DepsBlock(stage, " " * (item_indent if item_indent is not None else deps_indent + 2), items)
            i = j
            continue
        i += 1
    return blocks


def differences(root: Path, dvc_yaml: str = "dvc.yaml") -> dict[str, tuple[list[str], list[str]]]:
    """``{stage: (listed, expected)}`` for every stage whose code deps are not exactly its digest."""
    blocks = deps_blocks((root / dvc_yaml).read_text().splitlines())
    out = {}
    for stage in code_stages(root, dvc_yaml):
        name, expected = stage.name, [digest_path(stage.name)]
        listed = [v for _, v in blocks[name].items if _is_code_dep(v)] if name in blocks else []
        if listed != expected:
            out[name] = (listed, expected)
    return out


def write(root: Path, dvc_yaml: str = "dvc.yaml") -> list[str]:
    """Make every code stage's code dep its digest, in place; return the stages changed."""
    path = root / dvc_yaml
    text = path.read_text()
    lines = text.splitlines()
    blocks = deps_blocks(lines)
    diffs = differences(root, dvc_yaml)
    for name in diffs:
        if name not in blocks or not blocks[name].items:
            raise StageDepsError(f"{dvc_yaml}: stage {name} has no deps: list to edit; add one with its notebook")
    # Edit from the bottom up so that earlier line indices stay valid.
    for name in sorted(diffs, key=lambda n: blocks[n].items[0][0], reverse=True):
        block = blocks[name]
        code_lines = [i for i, v in block.items if _is_code_dep(v)]
        at = code_lines[0] if code_lines else block.items[0][0] + 1
        new = [f"{block.indent}- {dep}" for dep in diffs[name][1]]
        for i in sorted(code_lines, reverse=True):
            del lines[i]
        lines[at:at] = new
    new_text = "\n".join(lines) + ("\n" if text.endswith("\n") else "")
    before, after = yaml.safe_load(text), yaml.safe_load(new_text)
    _check_only_code_deps_changed(before, after)
    path.write_text(new_text)
    return sorted(diffs)


def _check_only_code_deps_changed(before: dict, after: dict) -> None:
    """Safety net for the text edit: outside the code deps, the YAML must be unchanged."""
    def strip(data):
        data = json.loads(json.dumps(data))
        for definition in (data.get("stages") or {}).values():
            body = _stage_body(definition)
            if isinstance(body.get("deps"), list):
                body["deps"] = [d for d in body["deps"] if not (isinstance(d, str) and _is_code_dep(d))]
        return data
    if strip(before) != strip(after):
        raise StageDepsError("dvc.yaml: the edit would change more than the code deps; nothing written")


# ------------------------------------------------------------------ digests


def digest_text(root: Path, stage: StageCode) -> str:
    """The digest of one stage: the MD5 of every ``paperlib`` file it executes, one per line."""
    lines = [f"# paperlib files stage {stage.name} executes (paperlib/stage_deps.py); DVC reruns it when this file changes"]
    for path in stage_code_deps(root, stage):
        lines.append(f"{hashlib.md5((root / path).read_bytes()).hexdigest()}  {path}")
    return "\n".join(lines) + "\n"


def write_digests(root: Path, out: Path, dvc_yaml: str = "dvc.yaml") -> list[str]:
    """Write ``out/<stage>.txt`` for every code stage, all or nothing; return the stage names.

    The folder is filled beside ``out`` and renamed onto it only when every stage's closure
    was computed, so an unfollowable import leaves no partial set of digests.
    """
    texts = {stage.name: digest_text(root, stage) for stage in code_stages(root, dvc_yaml)}
    out = out if out.is_absolute() else root / out
    staging = out.with_name(out.name + ".staging")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    for name, text in texts.items():
        (staging / f"{name}.txt").write_text(text)
    if out.exists():
        shutil.rmtree(out)
    os.replace(staging, out)
    return sorted(texts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check, write or compute the code deps (digests) of dvc.yaml's stages.")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 naming the stages whose code dep is not their digest")
    mode.add_argument("--write", action="store_true", help="make each stage's code dep its digest in dvc.yaml")
    mode.add_argument("--digests", type=Path, metavar="DIR", help="write every stage's code digest under DIR")
    mode.add_argument("--show", metavar="STAGE", help="print the code files of one stage")
    parser.add_argument("--repo", type=Path, default=Path("."), help="repository root (default: .)")
    args = parser.parse_args(argv)
    root = args.repo.resolve()
    try:
        if args.show:
            stage = next((s for s in code_stages(root) if s.name == args.show), None)
            if stage is None:
                print(f"no stage {args.show!r} runs paperlib code", file=sys.stderr)
                return 2
            print("\n".join(stage_code_deps(root, stage)))
            return 0
        if args.write:
            changed = write(root)
            print(f"dvc.yaml: code deps rewritten for {changed}" if changed else "dvc.yaml: every code stage already depends on its digest")
            return 0
        if args.digests is not None:
            names = write_digests(root, args.digests)
            print(f"{args.digests}: code digests of {len(names)} stages")
            return 0
        diffs = differences(root)
    except StageDepsError as err:
        print(f"stage_deps: {err}", file=sys.stderr)
        return 2
    if not diffs:
        print("dvc.yaml: every code stage depends on its code digest, and on no paperlib/ file directly")
        return 0
    for name, (listed, expected) in diffs.items():
        print(f"{name}: code deps {listed}, expected {expected}")
    print("run `python -m paperlib.stage_deps --write` to fix dvc.yaml", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
