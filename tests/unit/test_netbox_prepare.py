"""`pyctl dev netbox prepare` (what CI builds in the background): the migrated schema's dump whole or not
at all, on scratch servers that are always stopped and removed, even when CI cancels it with SIGTERM."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from pyctl.dev import netbox as bed_mod


@pytest.fixture
def bed(tmp_path: Path) -> bed_mod.Bed:
    return bed_mod.Bed(home=tmp_path / "home", state=tmp_path / "state", pg_port=1, redis_port=2, http_port=3)


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """The venv and the scratch servers, recorded instead of run."""
    seen: dict[str, list[Any]] = {"venv": [], "started": [], "down": []}
    monkeypatch.setattr(bed_mod, "ensure_venv", seen["venv"].append)
    monkeypatch.setattr(bed_mod, "start_postgres", seen["started"].append)
    monkeypatch.setattr(bed_mod, "start_redis", lambda b: None)
    monkeypatch.setattr(bed_mod, "down", seen["down"].append)
    return seen


def test_a_cached_dump_means_nothing_is_started(bed: bed_mod.Bed, servers: dict[str, list[Any]]) -> None:
    cached = bed.cache / f"netbox-{bed_mod.NETBOX_VERSION}-migrated.dump"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"dump")
    assert bed_mod.prepare(bed) == cached
    assert servers["venv"] == [bed]
    assert servers["started"] == []


def test_the_migration_runs_on_scratch_servers_that_are_stopped_and_removed(
        bed: bed_mod.Bed, servers: dict[str, list[Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    def migrate(scratch: bed_mod.Bed) -> None:
        assert scratch.state.is_dir()
        scratch.cache.mkdir(parents=True, exist_ok=True)
        bed_mod._dump_path(scratch, "migrated").write_bytes(b"dump")

    monkeypatch.setattr(bed_mod, "ensure_schema", migrate)
    assert bed_mod.prepare(bed).read_bytes() == b"dump"
    [scratch] = servers["started"]
    assert scratch.state.parent == bed.home
    assert scratch.pg_port not in (bed.pg_port, 0)
    assert servers["down"] == [scratch]
    assert not scratch.state.exists()


@pytest.mark.parametrize("stop", ["error", "sigterm"])
def test_a_failed_or_cancelled_migration_stops_the_servers_and_leaves_no_dump(
        bed: bed_mod.Bed, servers: dict[str, list[Any]], monkeypatch: pytest.MonkeyPatch, stop: str) -> None:
    def migrate(scratch: bed_mod.Bed) -> None:
        if stop == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)
        raise bed_mod.DevError("netbox migrate exited 1")

    monkeypatch.setattr(bed_mod, "ensure_schema", migrate)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit if stop == "sigterm" else bed_mod.DevError):
        bed_mod.prepare(bed)
    [scratch] = servers["started"]
    assert servers["down"] == [scratch]
    assert not scratch.state.exists()
    assert list(bed.cache.glob("*")) == []
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_failed_dump_leaves_no_file(bed: bed_mod.Bed, monkeypatch: pytest.MonkeyPatch) -> None:
    def pg_dump(cmd: list[str], **_: Any) -> None:
        Path(cmd[cmd.index("-f") + 1]).write_bytes(b"half a dump")
        raise bed_mod.DevError("pg_dump exited 1")

    monkeypatch.setattr(bed_mod, "_run", pg_dump)
    target = bed.cache / "x.dump"
    with pytest.raises(bed_mod.DevError):
        bed_mod.dump(bed, target)
    assert list(bed.cache.iterdir()) == []
