"""Whether a process still runs: for pid files (the test beds) and the rollout lock."""

from __future__ import annotations

import os
from pathlib import Path


def process_running(pid: int) -> bool:
    """True while ``pid`` runs. A zombie counts as ended: daemons we start are re-parented to an
    init that may never reap them (as in some sandboxes), yet they have stopped all the same."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"
