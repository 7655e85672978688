"""playbooks/site.yml: the inputs of every phase validated first, then the phase playbooks in pyctl's phase order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pyctl.phases import PHASES
from tests.offline_playbook import run_against_no_one

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "playbooks"


def _imports(playbook: Path) -> list[str]:
    return [entry["ansible.builtin.import_playbook"] for entry in yaml.safe_load(playbook.read_text())]


def test_site_validates_first_then_runs_the_phases_in_the_phase_table_order() -> None:
    imported = _imports(PLAYBOOKS / "site.yml")
    assert imported[0] == "validate.yml"
    assert imported[1:] == [p.playbook for p in PHASES if p.playbook]
    assert all((PLAYBOOKS / name).is_file() for name in imported)


def test_every_validation_play_runs_under_every_tag_and_contacts_no_host() -> None:
    plays: list[dict[str, Any]] = yaml.safe_load((PLAYBOOKS / "validate.yml").read_text())
    roles = set()
    for play in plays:
        assert play["tags"] == ["always"], play["name"]
        assert play["gather_facts"] is False, play["name"]
        assert play["any_errors_fatal"] is True, play["name"]
        for task in play["tasks"]:
            # The rules have one home: the role's tasks/validate.yml, which its preflight runs too.
            imported = task["ansible.builtin.import_role"]
            assert imported["tasks_from"] == "validate", play["name"]
            roles.add(imported["name"])
            validate = (ROOT / "roles" / imported["name"] / "tasks" / "validate.yml").read_text()
            assert {next(iter(set(t) - {"name", "vars", "loop", "loop_control", "run_once", "when"}))
                    for t in yaml.safe_load(validate)} == {"ansible.builtin.assert"}, imported["name"]
            preflight = yaml.safe_load((ROOT / "roles" / imported["name"] / "tasks" / "preflight.yml").read_text())
            assert preflight[0].get("ansible.builtin.import_tasks") == "validate.yml", imported["name"]
    assert roles == {p.role for p in PHASES if p.role}


@pytest.mark.parametrize(("hosts", "refusal"), [
    ({"role_etcd": {"hosts": {"etcd-a": {"ansible_host": "192.0.2.10"}, "etcd-b": {"ansible_host": "192.0.2.11"}}}},
     "etcd_members has 2 members (etcd-"),
    ({"role_gpu_worker": {"hosts": {"gpu-a": {"ansible_host": "192.0.2.20", "pyctl_gpu_model": "T4-16GB",
                                              "pyctl_gpu_count": 1}}}},
     "unknown GPU model 'T4-16GB'"),
], ids=["even etcd members", "unknown GPU model"])
def test_site_refuses_bad_inputs_before_any_host_is_contacted(tmp_path: Path, hosts: dict[str, Any],
                                                              refusal: str) -> None:
    # TEST-NET addresses (RFC 5737) that no host answers: preflight.yml gathers facts on every host, so
    # any play after the validation would show UNREACHABLE. --tags of one task phase: validation still runs.
    rc, out = run_against_no_one(tmp_path, hosts, "playbooks/site.yml", "--tags", "etcd_configure")
    assert rc != 0, out
    assert refusal in out, out
    assert "UNREACHABLE" not in out, out
    assert "PLAY [Preflight checks]" not in out, out
