"""Exit codes: one class for the whole of pyctl (DESIGN.md, "Contracts")."""

from __future__ import annotations

import json
import sys
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1
    FAILED = 2  # failed hosts, failed checks or drift found
    BAD_CONFIG = 3  # bad configuration or bad inventory data
    UNREACHABLE = 4  # unreachable hosts
    INTERRUPTED = 130


class PyctlError(Exception):
    """An error pyctl reports to its user as a message and an exit code, never as a traceback."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, *, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []


def report(exc: PyctlError, *, as_json: bool) -> None:
    """How every pyctl command reports an error: the message and each problem on stderr, and with
    ``--json`` one JSON document on stdout as well (DESIGN.md, "Contracts")."""
    print(f"pyctl: error: {exc.message}", file=sys.stderr)
    for problem in exc.problems:
        print(f"  - {problem}", file=sys.stderr)
    if as_json:
        print(json.dumps({"ok": False, "error": exc.message, "problems": exc.problems,
                          "exit_code": int(exc.exit_code)}, indent=2))


class CheckFailed(PyctlError):
    """A check that must pass before anything changes did not (e.g. the mirrors lack an artifact)."""

    exit_code = ExitCode.FAILED


class ConfigError(PyctlError):
    """Bad configuration: a missing token, a bad URL, a bad option value."""

    exit_code = ExitCode.BAD_CONFIG


class InventoryError(PyctlError):
    """The inventory in NetBox is wrong; ``problems`` names every bad object, not only the first."""

    exit_code = ExitCode.BAD_CONFIG


class NetBoxError(PyctlError):
    """NetBox could not be read: unreachable, refused the token, failed, or timed out (after retries)."""

    exit_code = ExitCode.BAD_CONFIG
