"""Every role's preflight runs under every tag of that role: `--tags <role>_<phase>` still checks first."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.offline_playbook import run_against_no_one

ROOT = Path(__file__).resolve().parents[2]
ROLES_WITH_PREFLIGHT = sorted(p.parents[1].name for p in ROOT.glob("roles/*/tasks/preflight.yml"))


def _tags(value: Any) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, str):
        return {t.strip() for t in value.split(",")}
    return {str(t) for t in value}


def _file_tags(tasks: list[dict[str, Any]]) -> set[str]:
    """Every tag written in a tasks file: on tasks, blocks and include `apply`."""
    found: set[str] = set()
    for task in tasks:
        found |= _tags(task.get("tags"))
        for key in ("ansible.builtin.include_tasks", "ansible.builtin.include_role", "include_tasks", "include_role"):
            if isinstance(task.get(key), dict):
                found |= _tags(task[key].get("apply", {}).get("tags"))
        for key in ("block", "rescue", "always"):
            found |= _file_tags(task.get(key) or [])
    return found


def _preflight_task(tasks: list[dict[str, Any]]) -> dict[str, Any]:
    [task] = [t for t in tasks if t.get("ansible.builtin.import_tasks") == "preflight.yml"]
    return task


def test_the_roles_with_a_preflight_are_found() -> None:
    assert {"gpu_driver", "etcd", "control_plane", "calico"} <= set(ROLES_WITH_PREFLIGHT)


@pytest.mark.parametrize("role", ROLES_WITH_PREFLIGHT)
def test_preflight_carries_every_tag_of_the_role(role: str) -> None:
    tasks = yaml.safe_load((ROOT / "roles" / role / "tasks" / "main.yml").read_text())
    preflight = _preflight_task(tasks)
    assert tasks[0] is preflight, f"{role}: the preflight is the role's first task"
    tags = _tags(preflight.get("tags"))
    assert "always" not in tags, f"{role}: another role's tag must not run this preflight"
    assert _file_tags(tasks) - tags == set(), f"{role}: tasks/main.yml tags the preflight does not carry"


def test_etcd_configure_alone_still_refuses_an_even_member_count(tmp_path: Path) -> None:
    # Two members at TEST-NET addresses (RFC 5737) that no host answers: the refusal is an assert on the
    # controller (run_once, no facts gathered), so it must come before any connection is tried. A
    # connection attempt would show as UNREACHABLE instead of the refusal.
    members = {"etcd-a": {"ansible_host": "192.0.2.10"}, "etcd-b": {"ansible_host": "192.0.2.11"}}
    hosts = {"role_etcd": {"hosts": members}}
    rc, out = run_against_no_one(tmp_path, hosts, "playbooks/etcd.yml", "--tags", "etcd_configure")
    assert rc != 0, out
    refusal = r"etcd_members has 2 members \((etcd-a, etcd-b|etcd-b, etcd-a)\): an even count adds no fault"
    assert re.search(refusal, out), out
    assert "UNREACHABLE" not in out, out
    assert "unreachable=0" in out, out
    assert "changed=0" in out, out
