"""Typed, validated parameters: the generic machinery.

A params file (``params.yaml`` or a profile) is turned into frozen dataclasses by
:func:`from_mapping`. Every failure raises :class:`ParamsError` whose message starts with the
dotted params key (``slice.models.cw_t10.width: must be > 0, got -1``), so a stage stops at
once and the user knows which line of which file to fix.

Supported field annotations: ``int``, ``float`` (ints accepted), ``str``, ``bool``,
``Literal[...]``, ``X | None``, ``list[X]``, ``tuple[X, ...]``, ``dict[str, X]``, nested
dataclasses and ``Any``. A dataclass may define ``validate(self, key)`` for value checks that
need the key prefix; a ``ValueError`` from its ``__post_init__`` is re-raised with the prefix.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal


class ParamsError(ValueError):
    """A params value is unknown, of the wrong type, or impossible. The message names the key."""


def fail(key: str, message: str) -> typing.NoReturn:
    raise ParamsError(f"{key}: {message}")


def require(condition: bool, key: str, message: str) -> None:
    """Raise :class:`ParamsError` for ``key`` unless ``condition`` holds."""
    if not condition:
        fail(key, message)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against annotation ``tp`` and return it in that type's form."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        errors = []
        for option in non_none:
            try:
                return coerce(value, option, key)
            except ParamsError as err:
                errors.append(str(err))
        fail(key, f"expected {' or '.join(_type_name(a) for a in args)}, got {value!r}")
    if origin is Literal:
        if value not in args:
            fail(key, f"must be one of {list(args)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        return from_mapping(tp, value, key)
    if tp is bool:
        if not isinstance(value, bool):
            fail(key, f"expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            fail(key, f"expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail(key, f"expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            fail(key, f"expected a string, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            fail(key, f"expected a list, got {value!r}")
        item_tp = args[0] if args else Any
        items = [coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            fail(key, f"expected a mapping, got {value!r}")
        key_tp, val_tp = args if args else (str, Any)
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                fail(key, f"keys must be strings, got {k!r}")
            out[k] = coerce(v, val_tp, _join(key, k))
        return out
    fail(key, f"unsupported annotation {_type_name(tp)} in the schema")


def from_mapping(cls: type, data: Any, key: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``, rejecting unknown and missing keys."""
    if not isinstance(data, Mapping):
        fail(key or "<top level>", f"expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        fail(_join(key, str(unknown[0])), f"unknown key (allowed here: {sorted(fields)})")
    kwargs = {}
    for name, field in fields.items():
        sub = _join(key, name)
        if name in data:
            kwargs[name] = coerce(data[name], hints[name], sub)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            fail(sub, "missing required key")
    try:
        obj = cls(**kwargs)
    except ParamsError:
        raise
    except (ValueError, TypeError) as err:
        fail(key or cls.__name__, str(err))
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate(key)
    return obj


def to_plain(obj: Any) -> Any:
    """A dataclass tree as plain dicts/lists (YAML/JSON ready, for recording with artifacts)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    return obj
