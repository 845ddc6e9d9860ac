"""The three places that pin dependencies agree: pyproject.toml, requirements.txt, environment.yml."""

from __future__ import annotations

import re
import tomllib

import yaml

from tests.conftest import REPO


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        line = line.split("#")[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if match:
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return pins


def pyproject_pins():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = _pins(deps)
    assert len(pins) == len(deps), f"every dependency in pyproject.toml must be pinned with ==: {deps}"
    return pins


def requirement_pins():
    lines = [l for l in (REPO / "requirements.txt").read_text().splitlines() if l.strip() and not l.startswith("#")]
    pins = _pins(lines)
    assert len(pins) == len(lines), "every line of requirements.txt must be NAME==VERSION"
    return pins


def conda_pins():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "python=3.11" in env["dependencies"]
    return _pins(pip)


def test_torch_pins_are_the_ones_on_this_machines_disk():
    for pins in (pyproject_pins(), requirement_pins(), conda_pins()):
        assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"


def test_environment_yml_carries_the_same_pins_as_pyproject():
    assert conda_pins() == pyproject_pins()


def test_requirements_lock_pins_every_direct_dependency_at_the_same_version():
    lock = requirement_pins()
    for name, version in pyproject_pins().items():
        assert lock.get(name) == version, f"{name}: pyproject {version}, requirements.txt {lock.get(name)}"


def test_installed_versions_match_the_pins():
    from importlib.metadata import version

    for name, pinned in pyproject_pins().items():
        assert version(name).split("+")[0] == pinned, name
