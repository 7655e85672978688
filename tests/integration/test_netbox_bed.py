"""The NetBox test bed itself: starting twice is harmless; `down` stops only what `up` started."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from pyctl.dev import netbox as bed_mod

pytestmark = pytest.mark.netbox


def _pids(bed: bed_mod.Bed) -> dict[str, int]:
    return {name: int(bed.pidfile(name).read_text().split()[0]) for name in ("postgres", "redis", "gunicorn")}


def _alive(pid: int) -> bool:
    return bed_mod.process_running(pid)


def test_up_twice_is_harmless_and_down_stops_only_what_up_started(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    bed = bed_mod.Bed(home=Path(os.environ.get("PYCTL_DEV_HOME", "/var/lib/pyctl-dev")), state=tmp_path / "nb",
                      pg_port=54349, redis_port=63819, http_port=18099)
    bystander = subprocess.Popen(["sleep", "300"])  # a process of someone else's, on this machine
    try:
        bed_mod.up(bed)
        first = _pids(bed)
        token = bed.token_file.read_text()
        started = time.monotonic()
        bed_mod.up(bed)
        assert time.monotonic() - started < 5  # nothing restarted, nothing migrated
        assert _pids(bed) == first
        assert bed.token_file.read_text() == token
        assert oct(bed.token_file.stat().st_mode & 0o777) == "0o600"
        assert bed_mod.status(bed)["gunicorn"] is True
    finally:
        bed_mod.down(bed)
    assert not any(_alive(pid) for pid in first.values())
    assert _alive(bystander.pid)
    assert bed_mod.status(bed) == {**bed_mod.status(bed), "postgres": False, "redis": False, "gunicorn": False}
    bystander.kill()
    bystander.wait()
