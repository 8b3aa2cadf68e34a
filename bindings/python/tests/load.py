"""A mixed load of real clients on raw sockets, as the clients behind a
proxy talk to a server: keep-alive connections reused as fast as they go,
a new connection per request, pipelined pairs, and WebSockets. Every
request that does not get its whole answer is a failure, by kind, and a
reset is counted apart. A connection the server closes after a response
that said ``Connection: close`` is no failure: the client opens another,
as any client does."""

from __future__ import annotations

import collections
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Counter, Dict, List, Optional, Tuple

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect


@dataclass
class Tally:
    ok: Counter[str] = field(default_factory=collections.Counter)
    failed: Counter[str] = field(default_factory=collections.Counter)
    resets: int = 0
    errors: List[str] = field(default_factory=list)
    pids: Counter[int] = field(default_factory=collections.Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def good(self, kind: str, pid: Optional[int] = None) -> None:
        with self.lock:
            self.ok[kind] += 1
            if pid is not None:
                self.pids[pid] += 1

    def bad(self, kind: str, e: BaseException) -> None:
        with self.lock:
            self.failed[kind] += 1
            if isinstance(e, ConnectionResetError):
                self.resets += 1
            if len(self.errors) < 20:
                self.errors.append(f"{kind}: {type(e).__name__}: {e}")


class Closed(Exception):
    """The server closed the connection before a whole response."""


def read_response(buf: bytearray, sock: socket.socket) -> Tuple[int, Dict[bytes, bytes], bytes]:
    """One HTTP/1.1 response with a Content-Length from `sock` (bytes left
    over stay in `buf`): status, headers (lower-case names), body."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise Closed(f"closed after {len(buf)} bytes of a response")
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get(b"content-length", b"0"))
    body = bytearray(rest)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise Closed("closed in a response body")
        body += chunk
    del buf[:]
    buf += body[length:]
    return status, headers, bytes(body[:length])


def _pid(body: bytes) -> Optional[int]:
    first = body.split(b" ", 1)[0]
    return int(first) if first.isdigit() else None


def _closes(headers: Dict[bytes, bytes]) -> bool:
    return b"close" in headers.get(b"connection", b"").lower()


def _request(path: str, close: bool = False) -> bytes:
    extra = b"Connection: close\r\n" if close else b""
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: test\r\n" + extra + b"\r\n"


class Load:
    """Runs the clients against ``host:port`` until stopped."""

    def __init__(self, host: str, port: int, path: str = "/") -> None:
        self.host, self.port, self.path = host, port, path
        self.tally = Tally()
        self.stop = threading.Event()
        self.threads: List[threading.Thread] = []

    def _connect(self) -> socket.socket:
        s = socket.create_connection((self.host, self.port), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def _reused(self, kind: str, depth: int) -> None:
        """One connection reused for as long as the server keeps it: `depth`
        requests sent at once (1: keep-alive; 2: pipelined), each of which
        must be answered, and a new connection once an answer says close."""
        sock: Optional[socket.socket] = None
        buf = bytearray()
        while not self.stop.is_set():
            try:
                if sock is None:
                    sock, buf = self._connect(), bytearray()
                sock.sendall(_request(self.path) * depth)
                closes = False
                for _ in range(depth):
                    if closes:
                        raise Closed("a pipelined request left unanswered")
                    status, headers, body = read_response(buf, sock)
                    if status != 200:
                        raise Closed(f"status {status}")
                    self.tally.good(kind, _pid(body))
                    closes = _closes(headers)
                if closes:
                    sock.close()
                    sock = None
            except (OSError, Closed, ValueError, IndexError) as e:
                self.tally.bad(kind, e)
                if sock is not None:
                    sock.close()
                sock = None
        if sock is not None:
            sock.close()

    def keep_alive(self) -> None:
        self._reused("keep-alive", 1)

    def one_per_connection(self) -> None:
        while not self.stop.is_set():
            try:
                with self._connect() as sock:
                    sock.sendall(_request(self.path, close=True))
                    status, _, body = read_response(bytearray(), sock)
                    if status != 200:
                        raise Closed(f"status {status}")
                    self.tally.good("close", _pid(body))
            except (OSError, Closed, ValueError, IndexError) as e:
                self.tally.bad("close", e)
            time.sleep(0.002)

    def pipelined(self) -> None:
        self._reused("pipelined", 2)

    def websocket(self) -> None:
        url = f"ws://{self.host}:{self.port}/ws"
        while not self.stop.is_set():
            try:
                with connect(url, open_timeout=10) as ws:
                    while not self.stop.is_set():
                        ws.send("ping")
                        ws.recv(timeout=10)
                        self.tally.good("websocket")
                        time.sleep(0.01)
            except ConnectionClosed as e:
                # A worker leaving closes its WebSockets with 1012 (service
                # restart): the client reconnects. Anything else fails.
                if e.rcvd is None or e.rcvd.code != 1012:
                    self.tally.bad("websocket", e)
            except (OSError, TimeoutError) as e:
                self.tally.bad("websocket", e)

    def start(self, keep_alive: int = 4, close: int = 2, pipelined: int = 2, websockets: int = 2) -> "Load":
        plan: List[Tuple[Callable[[], None], int]] = [
            (self.keep_alive, keep_alive),
            (self.one_per_connection, close),
            (self.pipelined, pipelined),
            (self.websocket, websockets),
        ]
        for target, n in plan:
            for _ in range(n):
                t = threading.Thread(target=target, daemon=True)
                t.start()
                self.threads.append(t)
        return self

    def finish(self) -> Tally:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)
        return self.tally
