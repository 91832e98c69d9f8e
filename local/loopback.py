"""The HTTP plumbing the local fakes share (fake Credly, fake Stripe): a threaded server on 127.0.0.1
with a port chosen by the OS, handing every request to one ``handle(http, method)``, and JSON replies."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

Handle = Callable[[BaseHTTPRequestHandler, str], None]


class LoopbackServer:
    def __init__(self, handle: Handle) -> None:
        self.handle = handle
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> LoopbackServer:
        handle = self.handle

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                handle(self, "GET")

            def do_POST(self) -> None:
                handle(self, "POST")

            def do_PUT(self) -> None:
                handle(self, "PUT")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"


class ServesLoopback:
    """Mixin of the fakes: ``start()`` serves ``_handle`` on loopback, ``url``, ``stop()``."""

    _server: LoopbackServer | None

    def _handle(self, http: BaseHTTPRequestHandler, method: str) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        self._server = LoopbackServer(self._handle).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return self._server.url


def send_raw(
    http: BaseHTTPRequestHandler, status: int, data: bytes, headers: dict[str, str] | None = None
) -> None:
    http.send_response(status)
    http.send_header("Content-Type", "application/json")
    http.send_header("Content-Length", str(len(data)))
    for name, value in (headers or {}).items():
        http.send_header(name, value)
    http.end_headers()
    http.wfile.write(data)


def send_json(
    http: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None
) -> None:
    send_raw(http, status, json.dumps(body).encode(), headers)
