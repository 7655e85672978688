"""The checkout's layout: where the repository root is and what lives under it.

Every module that reads a file of the checkout (playbooks, roles, inventories, the run directories)
takes its path from here, so the root is computed in one place.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parent
PLAYBOOKS = REPO / "playbooks"
INVENTORIES = REPO / "inventories"
DATA = PACKAGE / "data"


def group_vars_dir(dc: str, repo: Path = REPO) -> Path:
    """``inventories/<dc>/group_vars``: the site's own Ansible variables."""
    return repo / "inventories" / dc / "group_vars"
