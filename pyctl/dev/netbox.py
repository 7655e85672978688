"""A throw-away NetBox 4.7 test bed on loopback: PostgreSQL 15, Redis and gunicorn.

This is development tooling, not a client: it starts and stops the real NetBox server that the
tests and the demo read through :mod:`pyctl.netbox`. Processes are tracked by pid in the state
directory, so ``down`` stops exactly what ``up`` started and nothing else.

Layout:
  ``$PYCTL_DEV_HOME`` (default ``/var/lib/pyctl-dev``) holds what is slow to build and shared by
  checkouts: the NetBox venv (keyed by NetBox version) and the database dumps (the migrated
  schema keyed by NetBox version; seeded data sets keyed by the seed source as well).
  ``<checkout>/.dev/netbox`` holds this instance: configuration, data directories, pids, logs and
  the API token (mode 0600).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyctl.paths import REPO as REPO_ROOT
from pyctl.procs import process_running

NETBOX_VERSION = "4.7.3"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
LOADER = Path(__file__).with_name("netbox_loader.py")
ADMIN_USER = "admin"


class DevError(RuntimeError):
    """The test bed could not be brought to the asked state; the message says why."""


@dataclass(frozen=True)
class Bed:
    """Where one NetBox test bed lives and which loopback ports it uses."""

    home: Path
    state: Path
    pg_port: int
    redis_port: int
    http_port: int

    @classmethod
    def from_env(cls) -> Bed:
        env = os.environ
        return cls(
            home=Path(env.get("PYCTL_DEV_HOME", "/var/lib/pyctl-dev")),
            state=Path(env.get("PYCTL_DEV_STATE", str(REPO_ROOT / ".dev" / "netbox"))),
            pg_port=int(env.get("PYCTL_DEV_PG_PORT", "54329")),
            redis_port=int(env.get("PYCTL_DEV_REDIS_PORT", "63799")),
            http_port=int(env.get("PYCTL_DEV_HTTP_PORT", "18080")),
        )

    @property
    def venv(self) -> Path:
        return self.home / f"netbox-{NETBOX_VERSION}"

    @property
    def cache(self) -> Path:
        return self.home / "cache"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def token_file(self) -> Path:
        return self.state / "token"

    @property
    def pgdata(self) -> Path:
        return self.state / "pg"

    def pidfile(self, name: str) -> Path:
        return self.state / f"{name}.pid"

    def log(self, name: str) -> Path:
        return self.state / f"{name}.log"


def _say(msg: str) -> None:
    print(f"[netbox-dev] {msg}", file=sys.stderr, flush=True)


def _run(cmd: list[str], *, env: dict[str, str] | None = None, as_postgres: bool = False,
         check: bool = True, capture: bool = True) -> subprocess.CompletedProcess[str]:
    if as_postgres and os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    proc = subprocess.run(cmd, env=env, text=True, capture_output=capture, check=False)
    if check and proc.returncode != 0:
        output = (proc.stderr or proc.stdout or "").strip()[-2000:]
        raise DevError(f"{' '.join(cmd)} exited {proc.returncode}: {output}")
    return proc


def _pid_alive(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if process_running(pid) else None


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait(what: str, probe: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise DevError(f"{what} did not come up within {timeout:.0f} s")


# --- the NetBox venv ---------------------------------------------------------------------------

def ensure_venv(bed: Bed) -> None:
    """NetBox's own venv; complete only once pip has installed everything (a stamp says so), so an
    install that failed half-way is completed by the next call, never taken for done."""
    stamp = bed.venv / ".pyctl-complete"
    if stamp.exists():
        return
    python = _python312()
    _say(f"creating the NetBox {NETBOX_VERSION} venv in {bed.venv} (one time, ~1.5 min)")
    bed.home.mkdir(parents=True, exist_ok=True)
    _run([python, "-m", "venv", str(bed.venv)])
    _run([str(bed.venv / "bin" / "pip"), "install", "-q", f"netbox=={NETBOX_VERSION}",
          "gunicorn>=23", "psycopg[c]>=3.2"])
    stamp.touch()


def _python312() -> str:
    """A Python 3.12 that runs: PATH first, then pyenv's builds (pyenv's shim on PATH answers only when
    3.12 is its selected version, as scripts/bootstrap.sh also knows)."""
    found = shutil.which("python3.12")
    candidates = [found] if found else []
    candidates += [str(c) for c in sorted(Path("/root/.pyenv/versions").glob("3.12*/bin/python3.12"), reverse=True)]
    for cand in candidates:
        if subprocess.run([cand, "-c", "import sys"], capture_output=True, check=False).returncode == 0:
            return cand
    raise DevError("python3.12 not found (NetBox 4.7 needs Python >= 3.12)")


# --- configuration -----------------------------------------------------------------------------

def _secret(path: Path, length: int = 60) -> str:
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(length)[:length]
    _write_secret(path, value)
    return value


def write_config(bed: Bed, root: Path | None = None, overrides: Mapping[str, Any] | None = None) -> bool:
    """Write ``<root>/conf/configuration.py`` (root: the bed's state dir); True when it changed (a running
    server must then be restarted).

    The test bed is a stock NetBox: only what a NetBox needs to start at all, and nothing a default install
    lacks (MAX_PAGE_SIZE stays 1000, as on users' servers). ``overrides`` is for a test that needs a
    non-default setting on purpose, on a server of its own (:func:`serve_with`).
    """
    conf = (root or bed.state) / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    # Shared by every checkout on this machine: cached dumps hold token digests made with this pepper.
    bed.home.mkdir(parents=True, exist_ok=True)
    secret_key = _secret(bed.home / "secret_key")
    pepper = _secret(bed.home / "token_pepper")
    text = f"""# Generated by pyctl dev netbox: a loopback-only test bed.
ALLOWED_HOSTS = ['127.0.0.1', 'localhost']
DATABASES = {{
    'default': {{
        'NAME': 'netbox', 'USER': 'netbox', 'PASSWORD': '', 'HOST': '127.0.0.1',
        'PORT': '{bed.pg_port}', 'CONN_MAX_AGE': 300, 'CONN_HEALTH_CHECKS': True,
    }}
}}
REDIS = {{
    'tasks': {{'HOST': '127.0.0.1', 'PORT': {bed.redis_port}, 'DATABASE': 0, 'SSL': False}},
    'caching': {{'HOST': '127.0.0.1', 'PORT': {bed.redis_port}, 'DATABASE': 1, 'SSL': False}},
}}
SECRET_KEY = {secret_key!r}
API_TOKEN_PEPPERS = {{1: {pepper!r}}}
CENSUS_REPORTING_ENABLED = False
RELEASE_CHECK_URL = None
ISOLATED_DEPLOYMENT = True
{{overrides}}"""
    text = text.replace("{overrides}", "".join(f"{k} = {v!r}\n" for k, v in (overrides or {}).items()))
    target = conf / "configuration.py"
    if target.exists() and target.read_text() == text:
        return False
    _write_secret(target, text)
    return True


def netbox_env(bed: Bed) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NETBOX_TOKEN", "VIRTUAL_ENV"))}
    env["NETBOX_ROOT"] = str(bed.state)
    env["PATH"] = f"{bed.venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    return env


# --- PostgreSQL and Redis ----------------------------------------------------------------------

def _psql(bed: Bed, sql: str, db: str = "postgres") -> str:
    out = _run(["psql", "-h", "127.0.0.1", "-p", str(bed.pg_port), "-U", "netbox", "-d", db,
                "-v", "ON_ERROR_STOP=1", "-Atc", sql])
    return out.stdout.strip()


def start_postgres(bed: Bed) -> None:
    if _pid_alive(bed.pidfile("postgres")) and _port_open(bed.pg_port):
        return
    if not (PG_BIN / "initdb").exists():
        raise DevError(f"PostgreSQL 15 not found in {PG_BIN}: apt-get install postgresql-15")
    bed.pgdata.mkdir(parents=True, exist_ok=True)
    sock = bed.state / "pgsock"
    sock.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(bed.pgdata, "postgres", "postgres")
        shutil.chown(sock, "postgres", "postgres")
        bed.pgdata.chmod(0o700)
    if not (bed.pgdata / "PG_VERSION").exists():
        _run([str(PG_BIN / "initdb"), "-D", str(bed.pgdata), "-U", "netbox", "--auth=trust",
              "-E", "UTF8", "--no-sync"], as_postgres=True)
    _run([str(PG_BIN / "pg_ctl"), "-D", str(bed.pgdata), "-w", "-t", "60", "-l", str(bed.pgdata / "server.log"),
          "-o", f"-p {bed.pg_port} -c listen_addresses=127.0.0.1 -k {sock} -c fsync=off "
          "-c synchronous_commit=off -c full_page_writes=off", "start"], as_postgres=True)
    pid = (bed.pgdata / "postmaster.pid").read_text().split()[0]
    bed.pidfile("postgres").write_text(pid)


def start_redis(bed: Bed) -> None:
    if _pid_alive(bed.pidfile("redis")) and _port_open(bed.redis_port):
        return
    redis = shutil.which("redis-server")
    if not redis:
        raise DevError("redis-server not found: apt-get install redis-server")
    _run([redis, "--port", str(bed.redis_port), "--bind", "127.0.0.1", "--daemonize", "yes",
          "--pidfile", str(bed.pidfile("redis")), "--dir", str(bed.state), "--save", "",
          "--appendonly", "no", "--logfile", str(bed.log("redis"))])
    _wait("redis", lambda: _port_open(bed.redis_port) and _pid_alive(bed.pidfile("redis")), 15)


# --- the database: migrated schema from cache, or migrate and cache ---------------------------

def _dump_path(bed: Bed, key: str) -> Path:
    return bed.cache / f"netbox-{NETBOX_VERSION}-{key}.dump"


def _db_exists(bed: Bed) -> bool:
    return _psql(bed, "SELECT 1 FROM pg_database WHERE datname='netbox'") == "1"


def _db_migrated(bed: Bed) -> bool:
    if not _db_exists(bed):
        return False
    return _psql(bed, "SELECT to_regclass('public.dcim_device') IS NOT NULL", db="netbox") == "t"


def restore(bed: Bed, dump: Path) -> None:
    """Replace the ``netbox`` database by a dump (a test reset: ~0.3 s for a migrated schema)."""
    _psql(bed, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname='netbox' "
               "AND pid <> pg_backend_pid()")
    _psql(bed, "DROP DATABASE IF EXISTS netbox")
    _psql(bed, "CREATE DATABASE netbox")
    _run(["pg_restore", "-h", "127.0.0.1", "-p", str(bed.pg_port), "-U", "netbox", "-d", "netbox",
          "--no-owner", "-j", "2", str(dump)])


def dump(bed: Bed, target: Path) -> None:
    """Write the database to ``target`` whole or not at all (a failed dump leaves nothing behind)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        _run(["pg_dump", "-h", "127.0.0.1", "-p", str(bed.pg_port), "-U", "netbox", "-Fc", "-f", str(tmp), "netbox"])
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_schema(bed: Bed) -> None:
    if _db_migrated(bed):
        return
    cached = _dump_path(bed, "migrated")
    if cached.exists():
        _say(f"restoring the migrated schema from {cached}")
        restore(bed, cached)
        return
    if not _db_exists(bed):
        _psql(bed, "CREATE DATABASE netbox")
    _say("running NetBox migrations (first time only, ~4.5 min on 2 cores)")
    started = time.monotonic()
    _run([str(bed.venv / "bin" / "netbox"), "migrate", "--no-input"], env=netbox_env(bed))
    _say(f"migrated in {time.monotonic() - started:.0f} s; caching the schema as {cached}")
    dump(bed, cached)


# --- gunicorn ----------------------------------------------------------------------------------

def _http_up(bed: Bed) -> bool:
    try:
        with urllib.request.urlopen(f"{bed.url}/api/status/", timeout=2):  # noqa: S310 - our http:// URL
            return True
    except urllib.error.HTTPError as exc:
        return exc.code == 403  # NetBox answers 403 to an anonymous status probe: it is up
    except OSError:
        return False


def start_gunicorn(bed: Bed, env: dict[str, str] | None = None) -> None:
    if _pid_alive(bed.pidfile("gunicorn")) and _http_up(bed):
        return
    if _port_open(bed.http_port):
        raise DevError(f"port {bed.http_port} is taken by a process this test bed did not start")
    cmd = [str(bed.venv / "bin" / "gunicorn"), "netbox.wsgi", "--preload", "--no-control-socket",
           "--bind", f"127.0.0.1:{bed.http_port}", "--workers", "3", "--threads", "2", "--timeout", "300",
           "--pid", str(bed.pidfile("gunicorn")), "--daemon",
           "--error-logfile", str(bed.log("gunicorn")), "--capture-output"]
    _run(cmd, env=env or netbox_env(bed))
    _wait("gunicorn", lambda: _http_up(bed), 90)


def stop_gunicorn(bed: Bed) -> None:
    _stop_pid(bed, "gunicorn", signal.SIGTERM)


@contextmanager
def serve_with(bed: Bed, overrides: Mapping[str, Any], http_port: int) -> Iterator[str]:
    """A second gunicorn on ``http_port`` over the bed's database, with NetBox settings ``overrides``
    (a test that needs a non-default setting sets it here, on purpose); yields its URL, stops it after."""
    root = bed.state / f"alt-{http_port}"
    write_config(bed, root, overrides)
    alt = Bed(home=bed.home, state=root, pg_port=bed.pg_port, redis_port=bed.redis_port, http_port=http_port)
    env = {**netbox_env(bed), "NETBOX_ROOT": str(root)}
    start_gunicorn(alt, env=env)
    try:
        yield alt.url
    finally:
        stop_gunicorn(alt)


def _stop_pid(bed: Bed, name: str, sig: signal.Signals) -> None:
    pid = _pid_alive(bed.pidfile(name))
    if pid is None:
        bed.pidfile(name).unlink(missing_ok=True)
        return
    os.kill(pid, sig)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not process_running(pid):
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
    bed.pidfile(name).unlink(missing_ok=True)


# --- loader (runs inside NetBox's own venv, against its ORM) -----------------------------------

def load(bed: Bed, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Hand a data-set spec to the loader running in NetBox's venv; returns what it reports."""
    proc = subprocess.run(
        # -P: the loader's folder holds our netbox.py, which must not shadow NetBox's package.
        [str(bed.venv / "bin" / "python"), "-P", str(LOADER)],
        input=json.dumps(spec), text=True, capture_output=True, env=netbox_env(bed), check=False,
    )
    if proc.returncode != 0:
        raise DevError(f"loading the data set failed: {proc.stderr.strip()[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def ensure_token(bed: Bed) -> str:
    if bed.token_file.exists():
        return bed.token_file.read_text().strip()
    result = load(bed, {"admin": {"username": ADMIN_USER}})
    token = str(result["token"])
    _write_token(bed, token)
    return token


def seed(bed: Bed, spec: Mapping[str, Any], cache_key: str | None = None) -> Path | None:
    """Reset the database to the migrated schema plus ``spec`` and an admin token.

    With ``cache_key`` the result is cached as a dump (with the token, which stays valid across
    restores because the pepper is shared): later seeds, and test resets, restore it in ~0.5 s.
    Returns the dump's path, or None without a cache key.
    """
    cached = _dump_path(bed, f"seed-{cache_key}") if cache_key else None
    if cached and cached.exists() and cached.with_suffix(".token").exists():
        restore(bed, cached)
        _write_token(bed, cached.with_suffix(".token").read_text().strip())
        return cached
    restore(bed, _dump_path(bed, "migrated"))
    started = time.monotonic()
    result = load(bed, {**spec, "admin": {"username": ADMIN_USER}})
    _say(f"seeded in {time.monotonic() - started:.1f} s: {result.get('devices', 0)} devices, "
         f"{result.get('interfaces', 0)} interfaces")
    token = str(result["token"])
    _write_token(bed, token)
    if cached:
        dump(bed, cached)
        _write_secret(cached.with_suffix(".token"), token)
    return cached


def _write_secret(path: Path, value: str) -> None:
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(value)


def _write_token(bed: Bed, token: str) -> None:
    _write_secret(bed.token_file, token)


def spec_key(spec: Mapping[str, Any]) -> str:
    """A cache key for a data set: its spec plus the loader that writes it."""
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode())
    digest.update(LOADER.read_bytes())
    return digest.hexdigest()[:16]


# --- the verbs ---------------------------------------------------------------------------------

def _reachable_by_postgres(state: Path) -> None:
    state.mkdir(parents=True, exist_ok=True)
    for parent in [state, *state.parents]:
        if parent == Path("/"):
            break
        if os.geteuid() == 0 and not (parent.stat().st_mode & 0o001):
            parent.chmod(parent.stat().st_mode | 0o001)  # postgres must be able to reach its data dir


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def prepare(bed: Bed | None = None) -> Path:
    """What is slow to build and shared by every bed, and nothing more: NetBox's venv and the migrated schema's
    dump (~5 min on 2 cores the first time; CI runs it while lint runs). The migration runs on a PostgreSQL and
    Redis of its own (free loopback ports, a temporary state dir), stopped and removed afterwards whatever
    happens; the dump is written whole or not at all. Returns the dump's path."""
    bed = bed or Bed.from_env()
    bed.home.mkdir(parents=True, exist_ok=True)
    ensure_venv(bed)
    cached = _dump_path(bed, "migrated")
    if cached.exists():
        return cached
    # PostgreSQL and Redis run as daemons of their own: stopped in `finally`, which SIGTERM (CI cancelling the
    # background job) must reach too.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        with tempfile.TemporaryDirectory(prefix="prepare-", dir=bed.home) as tmp:
            scratch = Bed(home=bed.home, state=Path(tmp), pg_port=_free_port(), redis_port=_free_port(), http_port=0)
            _reachable_by_postgres(scratch.state)
            try:
                write_config(scratch)
                start_postgres(scratch)
                start_redis(scratch)
                ensure_schema(scratch)
            finally:
                down(scratch)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return cached


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def up(bed: Bed | None = None) -> Bed:
    bed = bed or Bed.from_env()
    _reachable_by_postgres(bed.state)
    ensure_venv(bed)
    if write_config(bed):
        stop_gunicorn(bed)
    start_postgres(bed)
    start_redis(bed)
    ensure_schema(bed)
    start_gunicorn(bed)
    ensure_token(bed)
    return bed


def down(bed: Bed | None = None) -> None:
    bed = bed or Bed.from_env()
    stop_gunicorn(bed)
    _stop_pid(bed, "redis", signal.SIGTERM)
    if _pid_alive(bed.pidfile("postgres")):
        _run([str(PG_BIN / "pg_ctl"), "-D", str(bed.pgdata), "-m", "fast", "-w", "stop"], as_postgres=True,
             check=False)
    bed.pidfile("postgres").unlink(missing_ok=True)


def status(bed: Bed | None = None) -> dict[str, object]:
    bed = bed or Bed.from_env()
    return {
        "url": bed.url,
        "postgres": bool(_pid_alive(bed.pidfile("postgres"))),
        "redis": bool(_pid_alive(bed.pidfile("redis"))),
        "gunicorn": bool(_pid_alive(bed.pidfile("gunicorn"))) and _http_up(bed),
        "token_file": str(bed.token_file),
        "state": str(bed.state),
    }
