"""ansible-playbook over an inventory whose hosts no one answers (TEST-NET addresses, RFC 5737): for the
refusals that must come on the controller before any connection is tried. A connection attempt shows
as UNREACHABLE within seconds (2 s timeouts, no ControlMaster), never as a hang."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")


def run_against_no_one(tmp_path: Path, hosts: dict[str, Any], playbook: str, *args: str) -> tuple[int, str]:
    """Runs ``playbook`` (relative to the checkout) with ``hosts`` as its inventory: (exit status, output)."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump(hosts))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_TIMEOUT": "2",
           "ANSIBLE_SSH_ARGS": "-o ConnectTimeout=2 -o ControlMaster=no", "ANSIBLE_NOCOLOR": "1"}
    argv = [str(ANSIBLE_PLAYBOOK), "-i", str(inventory), playbook, *args]
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    return proc.returncode, proc.stdout + proc.stderr
