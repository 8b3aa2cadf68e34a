"""The stats endpoint a host's master serves at ``WORKERLIFE_METRICS``
(gunicorn, Celery): Prometheus text at ``/metrics`` (and ``/``), JSON at
``/stats``. Bound to 127.0.0.1 or wherever the address says; nothing but
GET, nothing written."""

from __future__ import annotations

import http.server
import os
import socket
import threading
from typing import Any, Callable, Optional, Set, Tuple

from . import Pool


class MetricsServer(http.server.ThreadingHTTPServer):
    """Serves ``pool()``'s stats. Keeps track of its client sockets so that
    a forked child can close every one it inherited (it would otherwise hold
    them open, and count them against ``max_fds``). ``fork_lock()`` is the
    host's lock held around ``os.fork()``: accepting takes it, so no child
    is forked with a half-recorded client."""

    daemon_threads = True

    def __init__(
        self,
        address: Tuple[str, int],
        pool: Callable[[], Optional[Pool]],
        fork_lock: Callable[[], threading.Lock],
    ) -> None:
        self.clients: Set[socket.socket] = set()
        self.pool = pool
        self.fork_lock = fork_lock
        super().__init__(address, _Handler)
        # Accepting never blocks, so it may run under the fork lock.
        self.socket.setblocking(False)

    def get_request(self) -> Tuple[socket.socket, Any]:
        with self.fork_lock():
            sock, address = self.socket.accept()
            self.clients.add(sock)
        return sock, address

    def shutdown_request(self, request: Any) -> None:
        self.clients.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client gone mid-answer: nothing to print, and no stderr lock to take

    def serve_in_thread(self) -> None:
        threading.Thread(target=self.serve_forever, name="workerlife-metrics", daemon=True).start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def close_inherited(self) -> None:
        """In a forked child: close the listener and every client socket
        without touching the parent's (detach, then close: a handler's
        makefile() objects keep a plain close() from closing the fd, and the
        child never runs them)."""
        for sock in list(self.clients):
            os.close(sock.detach())
        self.clients.clear()
        os.close(self.socket.detach())


class _Handler(http.server.BaseHTTPRequestHandler):
    server: MetricsServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        pool = self.server.pool()
        if pool is None:
            self.send_error(503)
            return
        if self.path in ("/", "/metrics"):
            body, kind = pool.prometheus(), "text/plain; version=0.0.4"
        elif self.path == "/stats":
            body, kind = pool.stats_json(), "application/json"
        else:
            self.send_error(404)
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass
