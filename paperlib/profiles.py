"""Profiles: make ``params.yaml`` one of ``profiles/<name>.yaml`` (smoke, default, paper).

DVC reads ``params.yaml``; a profile is a complete params file with the same keys. Activating a
profile validates it first and refuses to overwrite a ``params.yaml`` holding edits that are
in no profile (so hand-tuned params are never lost): save them as a profile, or run
``dvc repro`` directly on them.

    python -m paperlib.profiles smoke
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from paperlib.config import ParamsError, load_params

PROFILE_DIR = Path("profiles")
PARAMS = Path("params.yaml")


def available(profile_dir: Path = PROFILE_DIR) -> list[str]:
    return sorted(p.stem for p in Path(profile_dir).glob("*.yaml"))


def activate(name: str, *, profile_dir: Path = PROFILE_DIR, params: Path = PARAMS) -> bool:
    """Write ``profiles/<name>.yaml`` to ``params.yaml``; return whether it changed."""
    source = Path(profile_dir) / f"{name}.yaml"
    if not source.is_file():
        raise ParamsError(f"{source}: no such profile (available: {available(profile_dir)})")
    load_params(source)  # validate before touching params.yaml
    text = source.read_text()
    params = Path(params)
    if params.is_file():
        current = params.read_text()
        if current == text:
            return False
        known = {p.read_text() for p in Path(profile_dir).glob("*.yaml")}
        if current not in known:
            raise ParamsError(
                f"{params}: holds edits that are in no profile; refusing to overwrite them. Save them "
                f"as {profile_dir}/<name>.yaml, or run `dvc repro` directly to use them as they are."
            )
    fd, tmp = tempfile.mkstemp(prefix=".params-", suffix=".yaml", dir=params.parent if str(params.parent) else ".")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, params)
    return True


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(f"usage: python -m paperlib.profiles NAME   (one of {available()})", file=sys.stderr)
        return 2
    try:
        changed = activate(argv[0])
    except ParamsError as err:
        print(f"profile not activated: {err}", file=sys.stderr)
        return 2
    print(f"profile {argv[0]}: params.yaml {'updated' if changed else 'already active'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
