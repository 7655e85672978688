"""The one module that calls ansible-runner.

Each run gets its own private data dir ``runs/<dc>/<UTC timestamp>-<verb>/`` holding the inventory, the
ansible-runner artifacts (events, stdout, command) and nothing secret: keys go by path only, and the
child's environment is scrubbed of tokens and passwords before ansible-runner records it.

The event handler is the hot path (one call per task per host): it only counts and keeps failure
messages, and hands a small :class:`Progress` to the caller's callback.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Any

from ansible_runner import Runner, RunnerConfig

from pyctl.errors import ConfigError, ExitCode
from pyctl.paths import REPO
from pyctl.procs import kill_processes_with_env
from pyctl.rundir import ca_backup_dir, new_run_dir

ANSIBLE_CFG = REPO / "ansible.cfg"
PLAYBOOKS_DIR = REPO / "playbooks"

# The child's environment is recorded by ansible-runner in artifacts/<ident>/command: keep only what
# Ansible needs, and drop anything that looks like a credential even then.
_ENV_KEEP = {"HOME", "LANG", "LANGUAGE", "LOGNAME", "PATH", "SHELL", "SSH_AUTH_SOCK", "TERM", "TMPDIR", "TZ", "USER"}
_ENV_KEEP_PREFIXES = ("ANSIBLE_", "LC_", "MOLECULE_", "PYCTL_")
_ENV_SECRET = re.compile(r"TOKEN|SECRET|PASSW|CREDENTIAL|PRIVATE|_KEY$|VAULT", re.IGNORECASE)
# ansible-runner checks the cancel callback each time its pexpect loop wakes; the default is 5 s.
_PEXPECT_TIMEOUT_S = 0.5

# Set in the environment of every process a run starts: the run's directory, unique per run.
RUN_ENV = "PYCTL_RUN_DIR"


class HostStatus(StrEnum):
    OK = "ok"
    CHANGED = "changed"
    FAILED = "failed"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True, slots=True)
class Progress:
    """What the progress callback sees: one per play start, task start and per-host task result."""

    kind: str  # "play" | "task" | "ok" | "changed" | "failed" | "unreachable" | "skipped"
    task: str | None = None
    host: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class TaskFailure:
    task: str
    message: str
    unreachable: bool = False
    ignored: bool = False


@dataclass(frozen=True, slots=True)
class Change:
    """A task that changed (or, in check mode, would change) a host: what Ansible reported of it."""

    task: str
    role: str | None
    action: str | None
    diff: str  # a unified diff, a state change ("etcd.service: inactive → started"), or ""

    def as_dict(self) -> dict[str, Any]:
        return {"task": self.task, "role": self.role, "action": self.action, "diff": self.diff}


@dataclass(slots=True)
class HostResult:
    host: str
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0
    changed_tasks: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    failures: list[TaskFailure] = field(default_factory=list)

    @property
    def status(self) -> HostStatus:
        if self.unreachable:
            return HostStatus.UNREACHABLE
        if self.failed:
            return HostStatus.FAILED
        if self.changed:
            return HostStatus.CHANGED
        return HostStatus.OK

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": str(self.status),
            "ok": self.ok,
            "changed": self.changed,
            "failed": self.failed,
            "unreachable": self.unreachable,
            "skipped": self.skipped,
            "rescued": self.rescued,
            "ignored": self.ignored,
            "changed_tasks": self.changed_tasks,
            "changes": [c.as_dict() for c in self.changes],
            "failures": [
                {"task": f.task, "message": f.message, "unreachable": f.unreachable, "ignored": f.ignored}
                for f in self.failures
            ],
        }


@dataclass(slots=True)
class RunResult:
    run_dir: Path
    ident: str
    status: str  # ansible-runner's: successful | failed | canceled | timeout
    rc: int
    hosts: dict[str, HostResult]
    output_tail: str = ""  # the end of ansible's stdout when it failed before reaching any host

    @property
    def canceled(self) -> bool:
        return self.status == "canceled"

    def hosts_with(self, status: HostStatus) -> list[str]:
        return sorted(h for h, r in self.hosts.items() if r.status == status)

    @property
    def failed_hosts(self) -> list[str]:
        return self.hosts_with(HostStatus.FAILED)

    @property
    def unreachable_hosts(self) -> list[str]:
        return self.hosts_with(HostStatus.UNREACHABLE)

    @property
    def changed_hosts(self) -> list[str]:
        return self.hosts_with(HostStatus.CHANGED)

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.canceled and not self.failed_hosts and not self.unreachable_hosts

    def exit_code(self) -> ExitCode:
        """DESIGN.md contract; a failed host outranks an unreachable one (it is the more specific finding)."""
        if self.canceled:
            return ExitCode.INTERRUPTED
        if self.failed_hosts:
            return ExitCode.FAILED
        if self.unreachable_hosts:
            return ExitCode.UNREACHABLE
        if self.rc != 0:
            return ExitCode.FAILED
        return ExitCode.OK

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "ident": self.ident,
            "status": self.status,
            "rc": self.rc,
            "hosts": {h: r.as_dict() for h, r in sorted(self.hosts.items())},
            "output_tail": self.output_tail,
        }


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def explain_unreachable(host: str, message: str) -> str:
    """Say plainly when SSH refused a host key; those messages otherwise drown in OpenSSH's banner."""
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in message or "Host key verification failed" in message:
        if "No " in message and "host key is known" in message:
            return (
                f"{host}: no host key for this host in known_hosts; refusing to connect "
                "(collect the host's key through a trusted channel first)"
            )
        return (
            f"{host}: SSH host key does not match known_hosts; refusing to connect. If the host was rebuilt, "
            "re-collect its key (lab: `pyctl dev lab up N`); otherwise suspect a man in the middle."
        )
    return message.strip()


def _failure_message(res: Mapping[str, Any]) -> str:
    """The one line a person needs: the module's msg, the failing loop item, and stderr when there is one."""
    msg = res.get("msg") if isinstance(res.get("msg"), str) else ""
    items = [i for i in res.get("results") or [] if isinstance(i, Mapping)]
    if items and (not msg or msg == "One or more items failed"):
        for item in items:
            if item.get("failed") or item.get("rc", 0) != 0 or item.get("unreachable"):
                label = item.get("_ansible_item_label", item.get("item"))
                return f"[{label}] {_failure_message(item)}"
    detail = next(
        (v.strip() for k in ("stderr", "module_stderr", "stdout", "module_stdout")
         if isinstance(v := res.get(k), str) and v.strip()),
        "",
    )  # fmt: skip
    if len(detail) > 2000:
        detail = "…" + detail[-2000:]
    if msg and detail and detail not in msg:
        return f"{msg.strip()} {detail}"
    return (msg or detail or "failed (no message)").strip()


def _unified(entry: Mapping[str, Any]) -> str:
    if "prepared" in entry and isinstance(entry["prepared"], str):
        return entry["prepared"].rstrip("\n")
    before, after = entry.get("before", ""), entry.get("after", "")
    if not isinstance(before, str) or not isinstance(after, str):
        before, after = json.dumps(before, indent=1, sort_keys=True), json.dumps(after, indent=1, sort_keys=True)
    before_header, after_header = str(entry.get("before_header", "before")), str(entry.get("after_header", "after"))
    if "/.ansible/tmp/" in after_header:  # a template rendered on the controller: name the file it becomes
        after_header = f"{before_header} (as the role renders it)"
    lines = difflib.unified_diff(
        before.splitlines(), after.splitlines(), fromfile=before_header, tofile=after_header, lineterm=""
    )
    return "\n".join(lines)


def describe_change(res: Mapping[str, Any]) -> str:
    """What changed, for a person: the module's diff(s) as unified diffs (loop items too), or for a
    service its state change, or ""."""
    parts: list[str] = []
    diffs = res.get("diff")
    for entry in diffs if isinstance(diffs, list) else [diffs] if isinstance(diffs, Mapping) else []:
        if isinstance(entry, Mapping) and (text := _unified(entry)):
            parts.append(text)
    for item in res.get("results") or []:
        if isinstance(item, Mapping) and item.get("changed"):
            label = item.get("_ansible_item_label", item.get("item"))
            text = describe_change({k: v for k, v in item.items() if k != "results"})
            parts.append(f"[{label}] {text}".rstrip())
    status = res.get("status")
    if not parts and isinstance(status, Mapping) and res.get("name"):
        was = status.get("ActiveState", "?")
        wanted = res.get("state") or ("enabled" if res.get("enabled") else "")
        enabled = status.get("UnitFileState")
        if wanted and wanted != "enabled":
            parts.append(f"{res['name']}: {was} → {wanted}")
        elif res.get("enabled") is not None and enabled:
            parts.append(f"{res['name']}: {enabled} → {'enabled' if res.get('enabled') else 'disabled'}")
    return "\n".join(parts)


class EventCollector:
    """Collects per-host results from ansible-runner events; cheap, since it runs once per task per host."""

    def __init__(self, on_event: Callable[[Progress], None] | None = None) -> None:
        self.hosts: dict[str, HostResult] = {}
        self.stats_seen = False
        self._on_event = on_event

    def _host(self, name: str) -> HostResult:
        result = self.hosts.get(name)
        if result is None:
            result = self.hosts[name] = HostResult(name)
        return result

    def _emit(self, progress: Progress) -> None:
        if self._on_event is not None:
            self._on_event(progress)

    def __call__(self, event: Mapping[str, Any]) -> bool:
        kind = event.get("event", "")
        if not (kind.startswith("runner_on_") or kind.startswith("playbook_on_")):
            return True  # verbose output, item events (their task's final event follows), warnings
        data = event.get("event_data") or {}
        task = data.get("task")
        if kind == "playbook_on_task_start":
            self._emit(Progress("task", task=task))
        elif kind == "playbook_on_play_start":
            self._emit(Progress("play", task=data.get("play")))
        elif kind == "playbook_on_stats":
            self._apply_stats(data)
        elif kind.startswith("runner_on_") and (host := data.get("host")):
            self._on_host_event(kind, host, task or "", data)
        return True

    def _on_host_event(self, kind: str, host: str, task: str, data: Mapping[str, Any]) -> None:
        result = self._host(host)
        res = data.get("res") or {}
        if kind == "runner_on_ok":
            if res.get("changed"):
                result.changed += 1
                result.changed_tasks.append(task)
                action = data.get("resolved_action") or data.get("task_action")
                result.changes.append(Change(task, data.get("role"), action, describe_change(res)))
                self._emit(Progress("changed", task=task, host=host))
            else:
                result.ok += 1
                self._emit(Progress("ok", task=task, host=host))
        elif kind == "runner_on_failed":
            message = _failure_message(res)
            if data.get("ignore_errors"):
                result.ignored += 1
                result.failures.append(TaskFailure(task, message, ignored=True))
            else:
                result.failed += 1
                result.failures.append(TaskFailure(task, message))
                self._emit(Progress("failed", task=task, host=host, message=message))
        elif kind == "runner_on_unreachable":
            message = explain_unreachable(host, _failure_message(res))
            result.unreachable += 1
            result.failures.append(TaskFailure(task, message, unreachable=True))
            self._emit(Progress("unreachable", task=task, host=host, message=message))
        elif kind == "runner_on_skipped":
            result.skipped += 1
            self._emit(Progress("skipped", task=task, host=host))

    def _apply_stats(self, data: Mapping[str, Any]) -> None:
        """The play recap is authoritative for counts (it knows about rescued and ignored failures)."""
        self.stats_seen = True
        fields = {
            "ok": "ok", "changed": "changed", "failures": "failed", "dark": "unreachable",
            "skipped": "skipped", "rescued": "rescued", "ignored": "ignored",
        }  # fmt: skip
        hosts = {h for key in fields for h in (data.get(key) or {})}
        for host in hosts:
            result = self._host(host)
            for stat_key, attr in fields.items():
                count = int((data.get(stat_key) or {}).get(host, 0))
                # The recap's "ok" includes changed tasks; ours does not.
                if stat_key == "ok":
                    count -= int((data.get("changed") or {}).get(host, 0))
                setattr(result, attr, max(count, 0))


# --- running -----------------------------------------------------------------------------------------


def _resolve_playbook(playbook: str | Path) -> Path:
    path = Path(playbook)
    candidates = [path] if path.is_absolute() else [REPO / path, PLAYBOOKS_DIR / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise ConfigError(f"playbook not found: {playbook}")


def child_env(env: Mapping[str, str], inherited: Mapping[str, str], *, bin_dir: Path) -> dict[str, str]:
    """The environment ansible-playbook runs with (and ansible-runner records): no credentials.

    ``env`` is ansible-runner's prepared environment: what it inherited from ``inherited`` (our own
    environment) is filtered; what it added itself (callback plugin, artifact dir) is kept.
    """
    kept = {}
    for key, value in env.items():
        from_us = inherited.get(key) == value
        if from_us and not (key in _ENV_KEEP or key.startswith(_ENV_KEEP_PREFIXES)):
            continue
        if from_us and _ENV_SECRET.search(key):
            continue
        kept[key] = value
    kept["PATH"] = os.pathsep.join([str(bin_dir), *(p for p in env.get("PATH", "").split(os.pathsep) if p)])
    return kept


@contextlib.contextmanager
def sigint_cancels(cancel: threading.Event) -> Iterator[None]:
    """First Ctrl-C sets ``cancel`` (a clean cancel of what watches it); a second one interrupts as
    usual. Only the main thread can take signals: elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: FrameType | None) -> None:
        cancel.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _close_ssh_masters(control_dir: Path) -> None:
    """ControlPersist masters outlive the run by design; this run's are closed, its sockets removed."""
    for socket_path in control_dir.iterdir():
        subprocess.run(
            ["ssh", "-o", f"ControlPath={socket_path}", "-O", "exit", "pyctl-control-master"],
            capture_output=True,
            check=False,
            timeout=10,
        )
    shutil.rmtree(control_dir, ignore_errors=True)


def run_playbook(
    playbook: str | Path,
    *,
    inventory: str | Path | Mapping[str, Any],
    dc: str,
    verb: str,
    limit: str | Sequence[str] | None = None,
    tags: str | Sequence[str] | None = None,
    check: bool = False,
    diff: bool = False,
    extravars: Mapping[str, Any] | None = None,
    forks: int | None = None,
    on_event: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
    runs_dir: Path | None = None,
) -> RunResult:
    """Run one playbook; a failed or unreachable host is a result, not an exception.

    ``cancel`` (or Ctrl-C) stops the run: ansible-playbook's whole process group is killed, the run's
    SSH masters closed, and every other process of the run (Ansible's workers, each in a session of its
    own, and what they started) found by its environment and killed, so none outlives the call.
    """
    playbook_path = _resolve_playbook(playbook)
    run_dir = new_run_dir(dc, verb, runs_dir)
    run_name = run_dir.name
    ident = f"{dc}-{run_name}"

    if isinstance(inventory, Mapping):
        inventory_path = run_dir / "inventory" / "hosts.json"
        inventory_path.parent.mkdir()
        inventory_path.write_text(json.dumps(inventory, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    else:
        inventory_path = Path(inventory).resolve()
        if not inventory_path.exists():
            raise ConfigError(f"inventory not found: {inventory}")

    cmdline = [flag for flag, wanted in (("--check", check), ("--diff", diff)) if wanted]
    limit_arg = ",".join(limit) if isinstance(limit, Sequence) and not isinstance(limit, str) else limit
    tags_arg = ",".join(tags) if isinstance(tags, Sequence) and not isinstance(tags, str) else tags
    # A short, per-run ControlPath dir: no connection is reused across runs, so every run verifies
    # host keys afresh and never rides a master to a host that has since been rebuilt.
    control_dir = Path(tempfile.mkdtemp(prefix="pyctl-cp-"))
    config = RunnerConfig(
        private_data_dir=str(run_dir),
        project_dir=str(REPO),
        playbook=str(playbook_path),
        inventory=str(inventory_path),
        ident=ident,
        limit=limit_arg,
        tags=tags_arg,
        forks=forks,
        # Where the roles back up (and restore) the DC's CA keys: the controller's secret store, never the run dir.
        extravars={"pyctl_ca_backup_dir": str(ca_backup_dir(dc)), **(extravars or {})},
        cmdline=" ".join(cmdline) or None,
        envvars={
            "ANSIBLE_CONFIG": str(ANSIBLE_CFG),
            # ansible-runner turns host key checking off unless this is set; with it off, Ansible puts
            # StrictHostKeyChecking=no ahead of any option of ours, and OpenSSH takes the first.
            "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control_dir),
            "ANSIBLE_NOCOLOR": "1",
            # Every process of this run inherits it; what is left of the run after it ends is found by it.
            RUN_ENV: str(run_dir),
            "ANSIBLE_FORCE_COLOR": "0",
        },
        settings={"pexpect_timeout": _PEXPECT_TIMEOUT_S, "suppress_ansible_output": True},
        suppress_env_files=True,
        quiet=True,
    )
    config.prepare()
    config.env = child_env(config.env, os.environ, bin_dir=Path(sys.prefix) / "bin")

    collector = EventCollector(on_event)
    cancel_event = cancel or threading.Event()
    runner = Runner(config=config, event_handler=collector, cancel_callback=cancel_event.is_set)
    try:
        with sigint_cancels(cancel_event):
            runner.run()
    finally:
        _close_ssh_masters(control_dir)
        # A cancel kills ansible-playbook's process group; its workers, each in a session of its own,
        # and their SSH clients would live on. None of this run's processes outlives the call.
        if left := kill_processes_with_env(RUN_ENV, str(run_dir)):
            print(f"pyctl: warning: {len(left)} processes of run {run_name} did not end after SIGKILL "
                  f"(pids {' '.join(map(str, left))})", file=sys.stderr)

    rc = int(runner.rc if runner.rc is not None else 1)
    output_tail = ""
    if rc != 0 and not collector.hosts:
        with contextlib.suppress(OSError):
            output_tail = (run_dir / "artifacts" / ident / "stdout").read_text(encoding="utf-8")[-4000:]
    return RunResult(
        run_dir=run_dir,
        ident=ident,
        status=str(runner.status),
        rc=rc,
        hosts=collector.hosts,
        output_tail=output_tail,
    )
