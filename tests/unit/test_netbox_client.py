"""The NetBox client's transport: retries with backoff, and a clear error after them.

Each test runs a real HTTP server on loopback that misbehaves in one way.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from pyctl.errors import ConfigError, ExitCode, NetBoxError
from pyctl.netbox import NetBox, Settings, settings_from_env


@contextmanager
def server(statuses: list[int], body: bytes = b'{"results": [{"slug": "dc1"}]}') -> Iterator[tuple[str, list[str]]]:
    """Answers each request with the next status of ``statuses`` (the last one repeats)."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            status = statuses[min(len(seen) - 1, len(statuses) - 1)]
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body if status == 200 else b'{"detail": "boom"}')

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


def client(url: str, token: str = "nbt_abc.def", timeout_s: float = 5.0) -> tuple[NetBox, list[float]]:
    sleeps: list[float] = []
    return NetBox(Settings(url=url, token=token, timeout_s=timeout_s, retries=4), sleep=sleeps.append), sleeps


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
                                 "(tried 5 times)")
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
                                "(tried 5 times)"
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
