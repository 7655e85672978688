"""The real NetBox, started once per test session on its own loopback ports and seeded with the
demo world. Tests that change NetBox data use ``netbox_writer``, which restores the seeded dump
afterwards (~0.5 s), so every test starts from the same data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pynetbox
import pytest

from pyctl.dev import netbox as bed_mod
from pyctl.dev import seed

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class NetBoxBed:
    bed: bed_mod.Bed
    dump: Path
    url: str
    token: str

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NETBOX_")}
        env.update({"NETBOX_URL": self.url, "NETBOX_TOKEN_FILE": str(self.bed.token_file),
                    # `pyctl dev …` commands run by a test reach this bed, not the developer's.
                    "PYCTL_DEV_STATE": str(self.bed.state), "PYCTL_DEV_PG_PORT": str(self.bed.pg_port),
                    "PYCTL_DEV_REDIS_PORT": str(self.bed.redis_port),
                    "PYCTL_DEV_HTTP_PORT": str(self.bed.http_port), **extra})
        if "PYCTL_RUNS_DIR" in extra and "PYCTL_SECRETS_DIR" not in extra:
            # The CA backups of this test's runs beside them, not in the checkout's secrets/ nor another test's.
            env["PYCTL_SECRETS_DIR"] = extra["PYCTL_RUNS_DIR"].rstrip("/") + "-secrets"
        return env

    def reset(self) -> None:
        bed_mod.restore(self.bed, self.dump)


@pytest.fixture(scope="session", autouse=True)
def secret_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every run of the session without a store of its own keeps its CA backups here, not in the checkout."""
    path = tmp_path_factory.mktemp("secrets")
    saved = os.environ.get("PYCTL_SECRETS_DIR")
    os.environ["PYCTL_SECRETS_DIR"] = str(path)
    yield path
    if saved is None:
        os.environ.pop("PYCTL_SECRETS_DIR", None)
    else:
        os.environ["PYCTL_SECRETS_DIR"] = saved


@pytest.fixture(scope="session")
def netbox_bed() -> Iterator[NetBoxBed]:
    bed = bed_mod.Bed(
        home=Path(os.environ.get("PYCTL_DEV_HOME", "/var/lib/pyctl-dev")),
        state=REPO / ".dev" / "netbox-test",
        pg_port=int(os.environ.get("PYCTL_TEST_PG_PORT", "54339")),
        redis_port=int(os.environ.get("PYCTL_TEST_REDIS_PORT", "63809")),
        http_port=int(os.environ.get("PYCTL_TEST_HTTP_PORT", "18090")),
    )
    bed_mod.up(bed)
    spec = {"dataset": seed.demo()}
    dump = bed_mod.seed(bed, spec, cache_key=bed_mod.spec_key(spec))
    assert dump is not None
    try:
        yield NetBoxBed(bed=bed, dump=dump, url=bed.url, token=bed.token_file.read_text().strip())
    finally:
        bed_mod.down(bed)


@pytest.fixture
def netbox_writer(netbox_bed: NetBoxBed) -> Iterator[Any]:
    """A pynetbox API with write access; the seeded data is restored after the test."""
    api = pynetbox.api(netbox_bed.url, token=netbox_bed.token)
    try:
        yield api
    finally:
        netbox_bed.reset()


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_pyctl(*args: str, env: dict[str, str]) -> Result:
    proc = subprocess.run([sys.executable, "-m", "pyctl", *args], env=env, cwd=REPO, text=True,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=300, check=False)
    return Result(proc.returncode, proc.stdout, proc.stderr)
