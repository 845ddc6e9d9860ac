"""Params: every knob of a profile, typed and validated before any stage does work.

``load_params("params.yaml")`` returns a frozen :class:`Params` tree or raises
:class:`ParamsError` naming the file and the dotted key. Each paper adds its own section as a
module ``paperlib/config/<key>.py`` defining the dataclass ``SECTION``; it is found by the
top-level key's name and imported only when that key is present, so no shared file changes
(:mod:`paperlib.config.sections`). The generic rules (unknown keys, types) live in
:mod:`paperlib.config.schema`.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from paperlib.config.schema import ParamsError, from_mapping, to_plain
from paperlib.config.sections import Params, params_class_for

__all__ = ["Params", "ParamsError", "load_params", "load_raw", "lookup", "to_plain"]


def load_raw(path: str | Path) -> dict:
    """The YAML mapping in ``path``; :class:`ParamsError` naming the file if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: params file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping at the top level")
    return data


def load_params(path: str | Path = "params.yaml") -> Params:
    """Validated params from ``path``; errors read ``params.yaml: slice.train.lr: ...``."""
    raw = load_raw(path)
    try:
        return from_mapping(params_class_for(raw), raw)
    except ParamsError as err:
        raise ParamsError(f"{path}: {err}") from None


def lookup(params: Params, key: str):
    """The value at dotted ``key`` (fields of dataclasses, keys of dicts), as plain data."""
    node = params
    for part in key.split("."):
        if isinstance(node, dict):
            if part not in node:
                raise ParamsError(f"{key}: no such params key ({part!r} not in {sorted(node)})")
            node = node[part]
        elif hasattr(node, "__dataclass_fields__"):
            if part not in node.__dataclass_fields__:
                raise ParamsError(f"{key}: no such params key ({part!r} not in {sorted(node.__dataclass_fields__)})")
            node = getattr(node, part)
        else:
            raise ParamsError(f"{key}: no such params key ({part!r} below a plain value)")
    return to_plain(node)
