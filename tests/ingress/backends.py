"""Plain local HTTP servers standing in for pods: the test puts their addresses in Endpoints itself.

Endpoints may not name loopback addresses (upstream's validation, kept), so
the servers listen on addresses of 198.18.0.0/15 (RFC 2544's benchmarking
range) that ``local_addresses`` puts on ``lo`` for the test and removes after:
local to this machine, so nothing leaves it.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Backend:
    """Answers every request with ``status`` and a body naming it (and echoing X-From), keep-alive on."""

    def __init__(self, name: str, status: int = 200, host: str = "198.18.25.1", port: int = 0) -> None:
        self.name, self.status = name, status
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                body = f"{backend.name} {self.headers.get('X-From') or '-'}\n".encode()
                self.send_response(backend.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # the proxy resets idle connections it no longer wants: not worth a traceback

        self.httpd = Server((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> tuple[str, int]:
        return (str(self.httpd.server_address[0]), self.port)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


ADDRESSES = ("198.18.25.1", "198.18.25.2", "198.18.25.3")


@contextlib.contextmanager
def local_addresses() -> Iterator[tuple[str, ...]]:
    """ADDRESSES on ``lo`` while the block runs (each removed after, unless it was there before)."""
    added = []
    for a in ADDRESSES:
        p = subprocess.run(["ip", "addr", "add", f"{a}/32", "dev", "lo"], capture_output=True, text=True)
        if p.returncode == 0:
            added.append(a)
        elif "File exists" not in p.stderr and "already assigned" not in p.stderr:  # (iproute2's words vary)
            raise RuntimeError(f"cannot add {a} to lo: {p.stderr.strip()}")
    try:
        yield ADDRESSES
    finally:
        for a in added:
            subprocess.run(["ip", "addr", "del", f"{a}/32", "dev", "lo"], capture_output=True)
