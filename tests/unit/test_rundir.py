"""Run directories: runs/<dc>/<UTC timestamp>-<verb>/, private, never reused."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyctl.errors import ConfigError
from pyctl.rundir import new_run_dir


def test_run_dirs_are_per_dc_and_verb_private_and_never_reused(tmp_path: Path) -> None:
    first = new_run_dir("dc2", "rollout", tmp_path)
    second = new_run_dir("dc2", "rollout", tmp_path)
    assert first.parent == tmp_path / "dc2"
    assert first.name.endswith("Z-rollout")
    assert second.name == f"{first.name}-1" or second.name.endswith("Z-rollout")
    assert first != second
    assert oct(first.stat().st_mode & 0o777) == "0o700"


@pytest.mark.parametrize(("dc", "verb"), [("../etc", "x"), ("dc2", "a/b"), ("", "x"), ("DC2", "x")])
def test_run_dir_rejects_unsafe_names(tmp_path: Path, dc: str, verb: str) -> None:
    with pytest.raises(ConfigError, match=r"^bad (data center|verb) for a run directory: "):
        new_run_dir(dc, verb, tmp_path)
    assert list(tmp_path.iterdir()) == []
