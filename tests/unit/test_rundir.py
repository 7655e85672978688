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


def test_the_ca_backups_live_in_a_private_store_apart_from_the_run_directories(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pyctl.rundir import ca_backup_dir

    monkeypatch.setenv("PYCTL_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("PYCTL_SECRETS_DIR", str(tmp_path / "store" / "secrets"))
    path = ca_backup_dir("dc2")
    assert path == tmp_path / "store" / "secrets" / "dc2" / "pki"
    for d in (path, path.parent, path.parent.parent):
        assert d.stat().st_mode & 0o777 == 0o700, d
    assert not (tmp_path / "runs").exists()
    assert ca_backup_dir("dc2") == path  # again: the same store, nothing else changes
    with pytest.raises(ConfigError, match=r"^bad data center for the secret store: '\.\./x'$"):
        ca_backup_dir("../x")
    assert sorted(p.name for p in (tmp_path / "store" / "secrets").iterdir()) == ["dc2"]
