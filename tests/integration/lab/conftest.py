"""Lab hosts (podman containers booting systemd, sshd, the lab key) for one test session.

The lab is started once and always torn down, even when a test fails. PYCTL_LAB_HOSTS sets its size
(default 8: 3 etcd members, 1 control plane, 4 GPU workers, two of them MIG-partitioned, as the drift
tests need). It is the lab
`test` (PYCTL_LAB_NAME, set here for the session and every pyctl it runs, unless set already): its own
host names and addresses, so a demo lab left up (`lab`) is neither adopted nor removed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from pyctl.dev import lab, lab_names, mirror
from tests.integration.conftest import NetBoxBed, run_pyctl

TEST_LAB = "test"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lab: needs the lab (podman, systemd containers over SSH); slow")
    os.environ.setdefault(lab_names.NAME_ENV, TEST_LAB)


@pytest.fixture(scope="session")
def lab_size() -> int:
    return int(os.environ.get("PYCTL_LAB_HOSTS", "8"))


@pytest.fixture(scope="session")
def lab_hosts(lab_size: int) -> Iterator[list[lab.LabHost]]:
    try:
        yield lab.up(lab_size)
    finally:
        lab.down()
        if not lab.hosts_left():  # `pyctl dev lab up` (the registered fixture) starts it; other labs use it too
            mirror.down("lab")


@pytest.fixture(scope="session")
def registered(lab_hosts: list[lab.LabHost], netbox_bed: NetBoxBed) -> list[lab.LabHost]:
    result = run_pyctl("dev", "lab", "up", str(len(lab_hosts)), "--json", env=netbox_bed.env())
    assert result.code == 0, result.stderr
    assert [h["name"] for h in result.json()["hosts"]] == [h.name for h in lab_hosts]
    return lab_hosts
