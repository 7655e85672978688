"""The NetBox client's transport: retries with backoff, and a clear error after them.

Each test runs a real HTTP server on loopback that misbehaves in one way.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from pyctl.errors import ConfigError, ExitCode, NetBoxError
from pyctl.netbox import DEFAULT_RETRY_S, NetBox, Settings, settings_from_env


@contextmanager
def server(statuses: list[int], body: bytes = b'{"count": 1, "next": null, "results": [{"slug": "dc1"}]}',
           error: bytes = b'{"detail": "boom"}') -> Iterator[tuple[str, list[str]]]:
    """Answers each request with the next status of ``statuses`` (the last one repeats)."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            status = statuses[min(len(seen) - 1, len(statuses) - 1)]
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body if status == 200 else error)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def client(url: str, token: str = "nbt_abc.def", timeout_s: float = 5.0,
           retry_s: float = 7.5) -> tuple[NetBox, list[float]]:
    """A client whose clock is the sum of its sleeps: retry schedules run at once."""
    sleeps: list[float] = []
    nb = NetBox(Settings(url=url, token=token, timeout_s=timeout_s, retry_s=retry_s), sleep=sleeps.append,
                clock=lambda: sum(sleeps))
    return nb, sleeps


def test_5xx_is_retried_with_exponential_backoff_then_succeeds() -> None:
    with server([502, 503, 200]) as (url, seen):
        nb, sleeps = client(url)
        assert nb.sites() == ["dc1"]
    assert len(seen) == 3
    assert sleeps == [0.5, 1.0]


def test_persistent_5xx_gives_a_clear_error_after_all_retries() -> None:
    with server([500]) as (url, seen):
        nb, sleeps = client(url)
        with pytest.raises(NetBoxError) as err:
            nb.sites()
    assert err.value.message == (f"NetBox at {url} unreachable while reading the site list: server error 500 "
                                 "(tried 5 times over 8 s)")
    assert err.value.exit_code == ExitCode.BAD_CONFIG
    assert len(seen) == 5
    assert sleeps == [0.5, 1.0, 2.0, 4.0]


def test_refused_token_is_not_retried_and_not_printed() -> None:
    with server([403]) as (url, seen):
        nb, _ = client(url, token="nbt_secretkey.secretvalue")
        with pytest.raises(NetBoxError) as err:
            nb.sites()
    assert len(seen) == 1
    assert "secretvalue" not in err.value.message
    assert err.value.message == (f"NetBox at {url} refused the token (403) while reading the site list: "
                                 "check NETBOX_TOKEN / the token file")


def test_v2_tokens_use_bearer_and_v1_tokens_use_token() -> None:
    with server([200]) as (url, seen):
        client(url, token="nbt_k.s")[0].sites()
        client(url, token="0123456789abcdef")[0].sites()
    assert seen == ["Bearer nbt_k.s", "Token 0123456789abcdef"]


def test_timeout_is_retried_then_named() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # accepts connections, never answers
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        nb, sleeps = client(url, timeout_s=0.2)
        with pytest.raises(NetBoxError) as err:
            nb.sites()
    finally:
        listener.close()
    assert err.value.message == f"NetBox at {url} unreachable while reading the site list: no answer within 0.2 s " \
                                "(tried 5 times over 8 s)"
    assert len(sleeps) == 4


def test_connection_refused_is_named() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    nb, _ = client(f"http://127.0.0.1:{port}")
    with pytest.raises(NetBoxError, match=r"unreachable while reading the site list: connection refused or dropped"):
        nb.sites()


def test_settings_need_url_and_token() -> None:
    with pytest.raises(ConfigError, match=r"^no NetBox URL: set NETBOX_URL or pass --netbox-url$"):
        settings_from_env(env={})
    with pytest.raises(ConfigError, match=r"^no NetBox token: set NETBOX_TOKEN or NETBOX_TOKEN_FILE"):
        settings_from_env(env={"NETBOX_URL": "http://nb"})
    with pytest.raises(ConfigError, match=r"^NetBox URL must start with http:// or https://, got 'nb.example'$"):
        settings_from_env(env={"NETBOX_URL": "nb.example", "NETBOX_TOKEN": "x"})


def test_token_file_is_read_and_never_shown(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "token"
    path.write_text("nbt_k.very-secret\n")
    settings = settings_from_env(env={"NETBOX_URL": "http://nb/", "NETBOX_TOKEN_FILE": str(path)})
    assert settings.token == "nbt_k.very-secret"
    assert settings.url == "http://nb"
    assert "very-secret" not in repr(settings)


def test_unreadable_token_file_is_a_config_error(tmp_path: object) -> None:
    missing = f"{tmp_path}/nope"
    with pytest.raises(ConfigError, match=rf"^cannot read the NetBox token file {missing}: No such file"):
        settings_from_env(env={"NETBOX_URL": "http://nb", "NETBOX_TOKEN_FILE": missing})


def test_default_retries_outlast_a_netbox_restart_of_60_seconds() -> None:
    with server([503]) as (url, seen):
        nb, sleeps = client(url, retry_s=DEFAULT_RETRY_S)
        with pytest.raises(NetBoxError) as err:
            nb.sites()
    assert DEFAULT_RETRY_S >= 60
    assert sum(sleeps) == pytest.approx(DEFAULT_RETRY_S)  # the last try lands at the 60 s mark
    assert sleeps[:5] == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert max(sleeps) == 8.0
    assert len(seen) == len(sleeps) + 1
    assert err.value.message.endswith(f"server error 503 (tried {len(seen)} times over 60 s)")


def test_retry_span_comes_from_the_environment_and_is_checked() -> None:
    env = {"NETBOX_URL": "http://nb", "NETBOX_TOKEN": "x"}
    assert settings_from_env(env=env).retry_s == DEFAULT_RETRY_S
    assert settings_from_env(env={**env, "PYCTL_NETBOX_RETRY_S": "120"}).retry_s == 120
    with pytest.raises(ConfigError, match=r"^PYCTL_NETBOX_RETRY_S must be a number of seconds, got 'soon'$"):
        settings_from_env(env={**env, "PYCTL_NETBOX_RETRY_S": "soon"})
    with pytest.raises(ConfigError, match=r"^PYCTL_NETBOX_TIMEOUT must be at least 0.1 seconds, got '0'$"):
        settings_from_env(env={**env, "PYCTL_NETBOX_TIMEOUT": "0"})


def test_a_token_without_view_permission_is_named_with_the_permission() -> None:
    denied = b'{"detail": "You do not have permission to perform this action."}'
    with server([403], error=denied) as (url, seen):
        nb, _ = client(url)
        with pytest.raises(NetBoxError) as err:
            nb.sites()
    assert len(seen) == 1
    assert err.value.message == ("the NetBox token may not read the site list: NetBox answered 403 (You do not have "
                                 "permission to perform this action.); its user needs the view permission "
                                 'dcim.view_site (README, "NetBox permissions")')


@contextmanager
def paged_server(total: int, page: int) -> Iterator[tuple[str, list[str]]]:
    """A REST list of ``total`` sites served ``page`` at a time whatever ``limit`` asks, with ``next``
    links naming another host (as behind a reverse proxy): the client must follow them on its own URL."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
            offset = int(query.get("offset", 0))
            rows = [{"slug": f"s{i:03d}"} for i in range(offset, min(offset + page, total))]
            nxt = (f"http://netbox.internal/api/dcim/sites/?brief=1&limit={page}&offset={offset + page}"
                   if offset + page < total else None)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps({"count": total, "next": nxt, "results": rows}).encode())

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_rest_lists_follow_next_on_the_clients_own_url() -> None:
    with paged_server(total=120, page=50) as (url, seen):
        sites = client(url)[0].sites()
    assert sites == [f"s{i:03d}" for i in range(120)]
    assert len(seen) == 3
    assert seen[0] == "/api/dcim/sites/?brief=1&limit=1000"


def test_a_rest_list_shorter_than_its_count_is_an_error() -> None:
    body = b'{"count": 3, "next": null, "results": [{"slug": "dc1"}]}'
    with server([200], body=body) as (url, _), pytest.raises(NetBoxError) as err:
        client(url)[0].sites()
    assert err.value.message == ("NetBox returned 1 of the 3 entries of the site list it counts; nothing was used "
                                 "(run again)")
