"""The HTTP file server of a data center's mirror: a checked bundle's ``mirror/`` tree, or a lab tree.

It binds only the addresses it is given (never a wildcard). Given the bundle's files, it serves exactly
those and nothing else; a request for anything else is answered 404 and logged as outside the bundle,
so a host that asks for a package the bundle lacks fails loudly on both sides. apt's by-hash requests
(``…/by-hash/SHA256/<sha256>``, which Debian's InRelease asks for with ``Acquire-By-Hash: yes``) are
answered with the index of that directory whose sha256 it is.
"""

from __future__ import annotations

import functools
import http.server
import signal
import sys
import threading
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

WILDCARDS = ("", "0.0.0.0", "::")  # noqa: S104 (named to refuse them)


class ServeError(RuntimeError):
    """The server cannot start as asked."""


class Handler(http.server.SimpleHTTPRequestHandler):
    listed: Mapping[str, str] | None = None  # served path -> sha256; None: the whole directory

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def _resolve(self) -> str | None:
        raw = urllib.parse.unquote(self.path.split("?", 1)[0].split("#", 1)[0])
        # A flat repository's Filename starts with "./" (apt asks for …/nvidia/./pool/…): the same file.
        path = "/".join(part for part in raw.split("/") if part not in ("", "."))
        if self.listed is None or path in self.listed:
            return path
        directory, sep, sha = path.rpartition("/by-hash/SHA256/")
        if sep:
            for name, digest in self.listed.items():
                if digest == sha and name.rpartition("/")[0] == directory:
                    return name
        return None

    def send_head(self) -> Any:
        resolved = self._resolve()
        if resolved is None:
            sys.stderr.write(f"{self.address_string()} OUTSIDE THE BUNDLE: {self.path} (404)\n")
            self.send_error(404, "not in the bundle")
            return None
        self.path = "/" + urllib.parse.quote(resolved)
        return super().send_head()


def serve(directory: Path, port: int, addresses: list[str], *, listed: Mapping[str, str] | None = None,
          ready: threading.Event | None = None, stop: threading.Event | None = None,
          handler: type[Handler] = Handler) -> None:
    """Serve ``directory`` on each address until SIGTERM/SIGINT (or ``stop``); ``listed``: only these
    paths (relative to ``directory``) with their sha256; ``handler``: a :class:`Handler` of the caller's."""
    wildcard = [a for a in addresses if a in WILDCARDS]
    if wildcard or not addresses:
        raise ServeError(f"refusing to bind {'a wildcard address ' + repr(wildcard[0]) if wildcard else 'nothing'}: "
                         "name each address")
    handler_cls = type("ListedHandler", (handler,), {"listed": listed})
    factory = functools.partial(handler_cls, directory=str(directory))
    try:
        servers = [http.server.ThreadingHTTPServer((a, port), factory) for a in addresses]
    except OSError as exc:
        raise ServeError(f"cannot bind port {port} on {', '.join(addresses)}: {exc.strerror}") from exc
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
    for t in threads:
        t.start()
    if ready is not None:
        ready.set()
    stop.wait()
    for s in servers:
        s.shutdown()
        s.server_close()
