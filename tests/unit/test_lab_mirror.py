"""The lab's way out closed (the iptables rules, as data) and the lab mirror's Debian pass-through:
fetched from the upstream once, then served from its copy; a file the upstream lacks is a 404."""

from __future__ import annotations

import functools
import http.server
import ipaddress
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyctl.dev import lab_egress, mirror
from tests.serving import serving


def test_the_lab_subnets_reach_each_other_and_nothing_beyond():
    lab, pod = ipaddress.IPv4Network("172.31.213.0/24"), ipaddress.IPv4Network("172.31.214.0/24")
    assert lab_egress.rules([lab, pod]) == [
        ["-s", "172.31.213.0/24", "-d", "172.31.213.0/24", "-j", "RETURN"],
        ["-s", "172.31.214.0/24", "-d", "172.31.214.0/24", "-j", "RETURN"],
        ["-s", "172.31.213.0/24", "-j", "REJECT", "--reject-with", "icmp-net-unreachable"],
        ["-s", "172.31.214.0/24", "-j", "REJECT", "--reject-with", "icmp-net-unreachable"],
    ]


class _Counting(http.server.SimpleHTTPRequestHandler):
    asked: list[str] = []  # noqa: RUF012

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.asked.append(self.path)
        super().do_GET()


def _server(directory: Path, port: int, handler: type[http.server.SimpleHTTPRequestHandler]) -> Iterator[None]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(handler, directory=str(directory)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "upstream"
    (root / "debian" / "pool" / "main" / "e").mkdir(parents=True)
    (root / "debian" / "pool" / "main" / "e" / "etcd-server_3.4.23-4+b4_amd64.deb").write_bytes(b"deb")
    _Counting.asked = []
    yield from _server(root, 18093, _Counting)


def test_the_lab_mirror_passes_debian_through_once_and_keeps_it(upstream, tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    handler = type("Up", (mirror._Proxy,), {"upstreams": {"debian": "http://127.0.0.1:18093/debian"}})
    with serving(tree, 18094, handler=handler):
        url = "http://127.0.0.1:18094/debian/pool/main/e/etcd-server_3.4.23-4%2bb4_amd64.deb"
        assert urllib.request.urlopen(url, timeout=5).read() == b"deb"
        assert urllib.request.urlopen(url, timeout=5).read() == b"deb"
        assert _Counting.asked == ["/debian/pool/main/e/etcd-server_3.4.23-4%2Bb4_amd64.deb"]
        assert (tree / ".upstream" / "debian" / "pool" / "main" / "e" / "etcd-server_3.4.23-4+b4_amd64.deb").is_file()
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen("http://127.0.0.1:18094/debian/pool/main/n/nginx.deb", timeout=5)
        assert err.value.code == 404
