"""Activating a profile validates it and never overwrites hand edits."""

from __future__ import annotations

import shutil

import pytest

from paperlib.config import ParamsError
from paperlib.profiles import activate
from tests.conftest import REPO


@pytest.fixture
def profiles(tmp_path):
    shutil.copytree(REPO / "profiles", tmp_path / "profiles")
    return tmp_path


def test_activate_switches_and_reports_changes(profiles):
    params = profiles / "params.yaml"
    assert activate("smoke", profile_dir=profiles / "profiles", params=params) is True
    assert params.read_text() == (profiles / "profiles" / "smoke.yaml").read_text()
    assert activate("smoke", profile_dir=profiles / "profiles", params=params) is False
    assert activate("default", profile_dir=profiles / "profiles", params=params) is True


def test_hand_edits_are_never_overwritten(profiles):
    params = profiles / "params.yaml"
    params.write_text((profiles / "profiles" / "default.yaml").read_text().replace("seed: 0", "seed: 7"))
    with pytest.raises(ParamsError, match="edits that are in no profile"):
        activate("smoke", profile_dir=profiles / "profiles", params=params)
    assert "seed: 7" in params.read_text()


def test_unknown_or_invalid_profiles_are_refused(profiles):
    params = profiles / "params.yaml"
    with pytest.raises(ParamsError, match="no such profile"):
        activate("fast", profile_dir=profiles / "profiles", params=params)
    (profiles / "profiles" / "broken.yaml").write_text("profile: smoke\nseed: -1\n")
    with pytest.raises(ParamsError, match="broken.yaml"):
        activate("broken", profile_dir=profiles / "profiles", params=params)
    assert not params.exists()
