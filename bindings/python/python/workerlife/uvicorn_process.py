"""What :class:`workerlife.asgi.WorkerLife` does to the uvicorn process it
runs in (``uvicorn --workers N``, or gunicorn's ``UvicornWorker``), in one
place: its SIGTERM, its listening sockets and its connections.

A worker that leaves (its recycle granted, or SIGTERM from its watchdog,
gunicorn's master or an operator) must not reset anyone. uvicorn's own
graceful exit closes every idle keep-alive connection at once, and a request
a client is sending on one just then is reset (a proxy in front answers
502). So before uvicorn's exit begins, :class:`Departure`:

1. marks the worker leaving: from now on every response it starts says
   ``Connection: close``, except one followed by a pipelined request
   already read on its connection (the last of those says it, so each is
   answered);
2. stops accepting: closes this process's listening sockets (the other
   workers keep theirs and get the new connections), which works under
   asyncio and uvloop alike;
3. gives its recycle permit back (the worker is going for sure);
4. waits, up to its grace, until no HTTP connection is idle between
   requests or busy with a response that started before step 1: each
   keep-alive connection carries one more request (answered with
   ``Connection: close``) or is closed by its client;
5. then runs uvicorn's own handler: uvicorn closes what is left (nothing,
   unless the grace ran out), finishes the requests in flight, closes each
   WebSocket with 1012, runs lifespan shutdown and exits.

uvicorn is found through the SIGTERM handler it installs (its server's
``handle_exit``). Under another server, step 4 is a fixed 0.2 s and step 2
asks the event loop to stop watching the listening sockets.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import socket
import threading
import weakref
from types import FrameType
import sys
import time
from typing import Any, Callable, List, MutableMapping, NoReturn, Optional

Message = MutableMapping[str, Any]

# Under a server we do not know: how long a leaving worker serves the
# connections it has accepted before the server's own exit begins.
FALLBACK_GRACE = 0.2

# How often a leaving worker looks at its connections.
POLL = 0.01

_CLOSE = (b"connection", b"close")


# uvicorn's exit status for a worker that failed before it served: its
# supervisor (--workers N) then stops rather than start it again and again.
STARTUP_FAILURE = 3


def _other_workers(parent: int) -> List[int]:
    """The live (not yet exited) processes `parent` started, but this one
    and multiprocessing's resource tracker."""
    me = os.getpid()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) != parent or fields[0] in ("Z", "X"):
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if b"resource_tracker" in f.read():
                    continue
        except (OSError, IndexError, ValueError):
            continue
        out.append(int(entry))
    return out


def stop_server_at_start(config: Any, line: str, grace: float = 30.0) -> NoReturn:
    """A bad setting found as a uvicorn worker loads the app: says `line`,
    and stops the whole server with a non-zero status. uvicorn loads the
    app only in its workers, never in its main process, and that process
    exits 0 when a worker fails at start under --workers N. So the first
    worker to fail (one per server: an abstract socket named after the
    parent) asks uvicorn's supervisor to stop (SIGTERM: it stops every
    worker, its port with them), waits until the other workers are gone, and
    then ends the supervisor with SIGKILL, whose status says the start
    failed; the others just exit with uvicorn's start-up failure status.
    With one process (no --workers) the exception of a failed start is
    already uvicorn's own non-zero exit."""
    print(line, file=sys.stderr, flush=True)
    parent = os.getppid()
    spawned_by = getattr(multiprocessing.parent_process(), "pid", None)
    if int(getattr(config, "workers", 1) or 1) > 1 and spawned_by == parent:
        leader = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            leader.bind(f"\0workerlife-uvicorn-start-{parent}")
        except OSError:
            leader.close()  # another worker stops the server
        else:
            try:
                os.kill(parent, signal.SIGTERM)
                deadline = time.monotonic() + grace
                while _other_workers(parent) and time.monotonic() < deadline:
                    time.sleep(0.02)
                if os.getppid() == parent:
                    os.kill(parent, signal.SIGKILL)
            except OSError:
                pass  # the supervisor is gone already
    raise SystemExit(STARTUP_FAILURE)


def listening_fds(bound: bool = False) -> List[int]:
    """This process's listening sockets (the server's, shared with the
    other workers); with ``bound``, also TCP sockets bound and not connected
    (uvicorn's workers call listen() on theirs only after lifespan startup).
    """
    fds = []
    for name in os.listdir("/proc/self/fd"):
        try:
            fd = int(name)
            if not os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                continue
            with socket.socket(fileno=os.dup(fd)) as s:
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                    fds.append(fd)
                elif bound and s.family in (socket.AF_INET, socket.AF_INET6) and s.type == socket.SOCK_STREAM:
                    try:
                        s.getpeername()
                    except OSError:  # ENOTCONN: a server's socket
                        if s.getsockname()[1]:
                            fds.append(fd)
        except (OSError, ValueError):
            continue
    return fds


def no_delay(fds: List[int]) -> bool:
    """TCP_NODELAY on the listening sockets, which Linux passes on to every
    connection they accept. uvicorn --workers binds its socket itself and
    asyncio then leaves Nagle's algorithm on for its connections: a response
    written in two parts waits for the client's delayed ACK, 40 ms a request
    (184 requests/s where one worker does 30 000). False when there was
    no listening socket yet (a spawned worker may get it after its first
    scope)."""
    for fd in fds:
        try:
            with socket.socket(fileno=os.dup(fd)) as s:
                if s.family in (socket.AF_INET, socket.AF_INET6):
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            continue
    return bool(fds)


def _stop_watching_listeners(loop: asyncio.AbstractEventLoop) -> bool:
    """The event loop stops watching the listening sockets (which stay open
    for the other workers): True if it was watching one."""
    stopped = False
    for fd in listening_fds():
        try:
            stopped = bool(loop.remove_reader(fd)) or stopped
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # a loop that does not let go: see Departure._stop_accepting
    return stopped


def _uvicorn_server(handler: Any) -> Optional[Any]:
    """uvicorn's ``Server`` when `handler` is its ``handle_exit``."""
    server = getattr(handler, "__self__", None)
    state = getattr(server, "server_state", None)
    if server is None or state is None or not hasattr(state, "connections"):
        return None
    return server


def _connection_of(server: Any, scope: Message) -> Optional[Any]:
    """The protocol (connection) serving `scope`: the one with its client's
    address, else the one whose current request it is."""
    client = scope.get("client")
    connections = list(server.server_state.connections)
    if client is not None:
        client = tuple(client)
        for p in connections:
            if getattr(p, "client", None) == client and hasattr(p, "cycle"):
                return p
    for p in connections:
        if getattr(getattr(p, "cycle", None), "scope", None) is scope:
            return p
    return None


def _pipelined_after(protocol: Any, scope: Message) -> bool:
    """Whether a request already read follows the one of `scope` on
    `protocol`'s connection: httptools parses it at once (a newer cycle,
    one waiting in line); h11 keeps its bytes in its receive buffer."""
    cycle = getattr(protocol, "cycle", None)
    if cycle is not None and getattr(cycle, "scope", None) is not scope:
        return True
    if getattr(protocol, "pipeline", None):
        return True
    trailing = getattr(getattr(protocol, "conn", None), "trailing_data", None)
    return bool(trailing and trailing[0])


class Departure:
    """How one worker process leaves: see the module's documentation."""

    def __init__(self, grace: float, on_leaving: Callable[[], None]) -> None:
        self.grace = grace
        self.leaving = False
        self._on_leaving = on_leaving
        self._server: Optional[Any] = None
        # Connections whose current response says `Connection: close`.
        self._closing: "weakref.WeakSet[Any]" = weakref.WeakSet()
        self._started = False

    def install(self) -> bool:
        """Takes over SIGTERM from the server (in the main thread, once its
        handler is in place): True when done."""
        if threading.current_thread() is not threading.main_thread():
            return True  # no signals here: nothing to take over
        handler = signal.getsignal(signal.SIGTERM)
        if not callable(handler):
            return False
        self._server = _uvicorn_server(handler)
        loop = asyncio.get_running_loop()

        def on_term(sig: int, frame: Optional[FrameType]) -> None:
            loop.call_soon_threadsafe(self.start, sig, handler)

        signal.signal(signal.SIGTERM, on_term)
        return True

    def start(self, sig: int, handler: Callable[[int, Optional[FrameType]], Any]) -> None:
        """Steps 1 to 3 now, in the event loop; 4 and 5 in a task."""
        if self._started:
            handler(sig, None)  # a second SIGTERM: uvicorn's own way at once
            return
        self._started = True
        self.leaving = True
        loop = asyncio.get_running_loop()
        self._stop_accepting(loop)
        self._on_leaving()
        loop.create_task(self._drain_then(sig, handler))

    def _stop_accepting(self, loop: asyncio.AbstractEventLoop) -> None:
        """asyncio: its loop stops watching the listening sockets (closing
        them this early reset connections in tests, under load). uvloop
        watches them in libuv, out of `remove_reader`'s reach: its servers
        are closed instead (this process's copies of the sockets)."""
        if _stop_watching_listeners(loop):
            return
        for s in getattr(self._server, "servers", None) or []:
            try:
                s.close()
            except Exception:  # noqa: BLE001 (leaving anyway; uvicorn closes it again)
                pass

    async def _drain_then(self, sig: int, handler: Callable[[int, Optional[FrameType]], Any]) -> None:
        try:
            if self._server is None:
                await asyncio.sleep(FALLBACK_GRACE)
            else:
                loop = asyncio.get_running_loop()
                deadline = loop.time() + self.grace
                # Quiet at two looks in a row: a connection accepted just
                # before the listeners closed joins the server's set an
                # event-loop turn later (asyncio), and must be waited for.
                quiet = 0
                while quiet < 2 and loop.time() < deadline:
                    quiet = 0 if self._waiting() else quiet + 1
                    await asyncio.sleep(POLL)
        finally:
            handler(sig, None)

    def _waiting(self) -> bool:
        """Whether an HTTP connection is idle between requests, or busy with
        a response that started without `Connection: close`."""
        assert self._server is not None
        for p in list(self._server.server_state.connections):
            if not hasattr(p, "cycle"):
                continue  # a WebSocket: uvicorn closes it with 1012
            transport = getattr(p, "transport", None)
            if transport is None or transport.is_closing():
                continue
            cycle = p.cycle
            if cycle is None or cycle.response_complete:
                return True  # idle: a request may be on its way
            if p in self._closing:
                continue
            if cycle.response_started or _pipelined_after(p, cycle.scope):
                # Its response will not say `Connection: close` (started
                # before, or another request follows): the one after will.
                return True
        return False

    def response_start(self, scope: Message, message: Message) -> Message:
        """While leaving: `message` (an ``http.response.start``) with
        ``Connection: close``, unless a pipelined request follows on its
        connection."""
        protocol = None if self._server is None else _connection_of(self._server, scope)
        if protocol is not None and _pipelined_after(protocol, scope):
            return message  # the last of them says it
        headers = list(message.get("headers", []))
        if not any(name.lower() == b"connection" and b"close" in value.lower() for name, value in headers):
            headers.append(_CLOSE)
        if protocol is not None:
            self._closing.add(protocol)
        return {**message, "headers": headers}
