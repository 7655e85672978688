"""`pyctl.bundle.serve.serve` on a thread for the length of a `with` block: ready before the body runs,
stopped and joined after it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pyctl.bundle import serve


@contextlib.contextmanager
def serving(root: Path, port: int, **kwargs: Any) -> Iterator[None]:
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(target=serve.serve, args=(root, port, ["127.0.0.1"]),
                              kwargs={**kwargs, "ready": ready, "stop": stop}, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield
    finally:
        stop.set()
        thread.join(10)
