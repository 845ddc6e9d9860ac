"""The sections of a params file: the core ones here, each paper's in its own module, found by name.

A params file holds the core sections ``profile``, ``seed``, ``data`` and ``report`` (defined
below) and one section per paper. Top-level key ``NAME`` is validated by the dataclass
``SECTION`` of module ``paperlib/config/NAME.py`` (modules that predate that convention may
instead name the class ``<Name>Params``, e.g. ``SemParams`` in ``sem.py``). A section's module
is imported only when its key is present, with :mod:`importlib`, so adding a paper's section
(a new module and a new key) edits no file that the existing stages depend on: each stage
depends on the modules of the sections it declares (``paperlib/stage_deps.py``).

- a top-level key with no section module: ``colour: unknown key (...; known sections: [...])``;
- a section module whose key is missing from the file: ``sem: missing required key``;
- cross-section checks run once the whole tree is built: a section's ``dataset`` must be one
  that ``data.datasets`` prepares, and a section class may add its own in
  ``validate_params(self, key, params)``.

Value checks that go beyond types live in each dataclass's ``validate(self, key)`` so that
errors carry the dotted key of the offending value.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from paperlib.config.checks import check_dataset
from paperlib.config.schema import ParamsError, fail, require

PROFILES = ("smoke", "default", "paper")
CORE_SECTIONS = ("profile", "seed", "data", "report")


@dataclass(frozen=True)
class DataParams:
    """``data``: which datasets the ``data`` stage prepares."""

    datasets: list[str]

    def validate(self, key: str) -> None:
        require(len(self.datasets) > 0, f"{key}.datasets", "list at least one dataset")
        require(len(set(self.datasets)) == len(self.datasets), f"{key}.datasets", "duplicate entries")
        for i, name in enumerate(self.datasets):
            check_dataset(name, f"{key}.datasets[{i}]")


@dataclass(frozen=True)
class ReportParams:
    """``report``: the final stage's title and the result sections it gathers, in order."""

    title: str
    sections: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Params:
    """The whole params file: the core sections here, one field per paper section added by
    :func:`params_class`. ``profile`` is recorded in every output."""

    profile: Literal["smoke", "default", "paper"]
    seed: int
    data: DataParams
    report: ReportParams

    def validate(self, key: str) -> None:
        require(self.seed >= 0, "seed", f"must be >= 0, got {self.seed}")
        for name in section_names_of(self):
            section = getattr(self, name)
            dataset = getattr(section, "dataset", None)
            if isinstance(dataset, str):
                require(dataset in self.data.datasets, f"{name}.dataset",
                        f"{dataset!r} is not prepared by data.datasets {self.data.datasets}")
            cross_check = getattr(section, "validate_params", None)
            if callable(cross_check):
                cross_check(name, self)


def section_names_of(params: Params) -> list[str]:
    """The paper sections of a built params tree, in field order."""
    return [f.name for f in dataclasses.fields(params) if f.name not in CORE_SECTIONS]


def _legacy_class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_")) + "Params"


def _defines_section(path: Path) -> bool:
    """Whether module ``path`` defines ``SECTION`` or ``<Name>Params`` at top level (read, not imported)."""
    legacy = _legacy_class_name(path.stem)
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except (OSError, SyntaxError):
        return False
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name in ("SECTION", legacy):
            return True
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == "SECTION" for t in targets):
            return True
    return False


def known_sections() -> list[str]:
    """Names of the paper sections: modules of ``paperlib/config`` that define a section class."""
    import paperlib.config as package  # the package's search path (a test may extend it)

    return sorted({p.stem for folder in package.__path__ for p in Path(folder).glob("*.py")
                   if p.stem.isidentifier() and not p.stem.startswith("_") and p.stem not in CORE_SECTIONS
                   and _defines_section(p)})


def section_class(name: str) -> type:
    """The dataclass validating top-level key ``name`` (imported on demand)."""
    known = known_sections()
    if name not in known:
        fail(name, f"unknown key (no params section module paperlib/config/{name}.py; "
                   f"known sections: {sorted([*CORE_SECTIONS, *known])})")
    module = importlib.import_module(f"paperlib.config.{name}")
    cls = getattr(module, "SECTION", None) or getattr(module, _legacy_class_name(name), None)
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"paperlib/config/{name}.py: SECTION must be a dataclass, got {cls!r}")
    return cls


@functools.lru_cache(maxsize=None)
def params_class(sections: tuple[str, ...]) -> type:
    """A frozen :class:`Params` subclass with one field per paper section in ``sections``."""
    return dataclasses.make_dataclass(
        "Params", [(name, section_class(name)) for name in sections], bases=(Params,), frozen=True,
        namespace={"__doc__": Params.__doc__, "__module__": __name__},
    )


def params_class_for(raw: dict) -> type:
    """The params class for the raw mapping ``raw``: its sections, plus every known section it
    lacks (so that a missing one is reported as a missing key)."""
    known = known_sections()
    present = [k for k in raw if k not in CORE_SECTIONS]
    unknown = sorted(str(k) for k in present if k not in known)
    if unknown:
        section_class(unknown[0])  # raises, naming the key and the known sections
    return params_class(tuple([*present, *(k for k in known if k not in raw)]))
