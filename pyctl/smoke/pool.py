"""The one SSH connection pool of pyctl (DESIGN.md: only pyctl/smoke/ opens SSH sessions of its own).

paramiko, host keys verified against one known_hosts file and nothing else: ``RejectPolicy`` for a
key that file lacks, ``BadHostKeyException`` for one that differs — never auto-added, no system or
user known_hosts, no agent, no guessing of keys. One connection per host, reused for all its checks;
connect and command timeouts per host; a bounded thread pool runs the hosts.

SSH settings come from ``inventories/<dc>/group_vars/all/connection.yml`` (plain keys
``pyctl_ssh_user``, ``pyctl_ssh_key_file``, ``pyctl_known_hosts_file``; paths relative to the repo).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, TypeVar

import paramiko

from pyctl.config import SSHSettings
from pyctl.errors import ConfigError

T = TypeVar("T")
R = TypeVar("R")

@dataclass(frozen=True)
class CommandResult:
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


class CommandTimeout(Exception):
    """A command ran past its timeout."""


class Session(Protocol):
    """What a check may do with a host: run a shell command (the tests give a fake)."""

    def run(self, command: str, timeout: float | None = None) -> CommandResult: ...


class ConnectError(Exception):
    """The host could not be reached or would not let us in.

    ``kind``: "unreachable" (network: refused, no route, timed out), "host-key" (the key differs from
    known_hosts, or known_hosts has none), "auth" (the key was refused), "ssh" (any other SSH failure).
    """

    def __init__(self, kind: str, message: str, remedy: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.remedy = remedy


class SSHSession:
    """One paramiko connection to one host; commands run one after another on it."""

    def __init__(self, client: paramiko.SSHClient, command_timeout: float) -> None:
        self._client = client
        self._timeout = command_timeout
        self._lock = threading.Lock()

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        limit = timeout or self._timeout
        with self._lock:
            try:
                _, out, err = self._client.exec_command(command, timeout=limit)
                channel = out.channel
                deadline = time.monotonic() + limit
                stdout = out.read().decode(errors="replace")
                stderr = err.read().decode(errors="replace")
                if not channel.status_event.wait(max(deadline - time.monotonic(), 0.0)):
                    channel.close()
                    raise CommandTimeout(f"command timed out after {limit:g} s")
                return CommandResult(channel.recv_exit_status(), stdout, stderr)
            except TimeoutError as exc:
                raise CommandTimeout(f"command timed out after {limit:g} s") from exc

    def close(self) -> None:
        self._client.close()


def connect(address: str, settings: SSHSettings) -> SSHSession:
    """A verified SSH connection to ``address``, or ConnectError saying what went wrong and what to do."""
    client = paramiko.SSHClient()
    # Only our known_hosts; a host not in it is refused, a changed key raises BadHostKeyException.
    client.load_host_keys(str(settings.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    kh = settings.known_hosts
    try:
        client.connect(address, port=settings.port, username=settings.user, key_filename=str(settings.key_file),
                       timeout=settings.connect_timeout, banner_timeout=settings.connect_timeout,
                       auth_timeout=settings.connect_timeout, channel_timeout=settings.connect_timeout,
                       allow_agent=False, look_for_keys=False)
    except paramiko.BadHostKeyException as exc:
        client.close()
        raise ConnectError(
            "host-key", f"host key of {address} CHANGED: it offers {exc.key.get_name()} "
            f"{exc.key.fingerprint}, {kh} holds {exc.expected_key.fingerprint}",
            f"find out why the key changed (reinstall? someone in the middle?); only then replace the {address} "
            f"line in {kh} with a key read over a trusted channel") from exc
    except paramiko.AuthenticationException as exc:
        client.close()
        raise ConnectError("auth", f"{settings.user}@{address} refused the key {settings.key_file}: {exc}",
                           f"put {settings.key_file}.pub into ~{settings.user}/.ssh/authorized_keys on the host "
                           "(the preflight/bootstrap step)") from exc
    except paramiko.SSHException as exc:
        client.close()
        text = str(exc)
        if "not found in known_hosts" in text:
            raise ConnectError("host-key", f"{address} is not in {kh}: {text}",
                               f"add the host's key to {kh}, read over a trusted channel (console, "
                               "provisioning system) — never by a network key scan") from exc
        if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError) or "timed out" in text.lower() \
                or "banner" in text.lower():
            raise ConnectError("unreachable", f"{address}:{settings.port} unreachable: {text}",
                               "is the host up and sshd running? check power/BMC, the link and the firewall") from exc
        raise ConnectError("ssh", f"SSH to {address} failed: {text}",
                           "run ssh -v to the host with the same key and known_hosts") from exc
    except (TimeoutError, OSError) as exc:
        client.close()
        raise ConnectError("unreachable", f"{address}:{settings.port} unreachable: {exc}",
                           "is the host up and sshd running? check power/BMC, the link and the firewall") from exc
    return SSHSession(client, settings.command_timeout)


class SSHPool:
    """One connection per host (opened on first use, reused after), a bounded number of hosts at a time."""

    def __init__(self, settings: SSHSettings, *, concurrency: int = 16,
                 connector: Callable[[str, SSHSettings], Session] | None = None) -> None:
        if concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, got {concurrency}")
        self.settings = settings
        self.concurrency = concurrency
        self._connector = connector or connect
        self._sessions: dict[str, Session | ConnectError] = {}
        self._lock = threading.Lock()

    def session(self, address: str) -> Session:
        """The host's session (connecting once); raises the same ConnectError on every later call."""
        with self._lock:
            known = self._sessions.get(address)
        if known is None:
            try:
                known = self._connector(address, self.settings)
            except ConnectError as exc:
                known = exc
            with self._lock:
                self._sessions[address] = known
        if isinstance(known, ConnectError):
            raise known
        return known

    def map(self, func: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``func`` over ``items``, at most ``concurrency`` at a time, results in order."""
        items = list(items)
        if not items:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(items)), thread_name_prefix="smoke") as ex:
            return list(ex.map(func, items))

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for s in sessions:
            close = getattr(s, "close", None)
            if callable(close):
                close()

    def __enter__(self) -> SSHPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
