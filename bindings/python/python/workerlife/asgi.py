"""workerlife for ASGI servers: ``app = workerlife.asgi.WorkerLife(app)``.

Runs under ``uvicorn --workers N`` (or any ASGI server that restarts the
workers it loses), and under ``gunicorn -k uvicorn_worker.UvicornWorker -c
python:workerlife.gunicorn``, where the gunicorn hook wraps the app itself.

What counts as a request:

* an HTTP request begins when its scope arrives and ends when its response
  body starts (the whole response, or the first chunk of a streaming one),
  or when the app returns or raises (a client that went away included):
  ``request_timeout`` times the work before the first byte; a response that
  is streaming is legitimately open and is not timed;
* a WebSocket counts as one request when it closes and is never timed, however
  long it stays open;
* ``lifespan`` scopes pass through; at shutdown the worker leaves the pool
  (with ``WORKERLIFE_POOL``, the last worker out removes the file).

With no master of ours (uvicorn), each worker runs the engine's watchdog, a
native thread: a kill decision (``request_timeout``, ``heartbeat_timeout``)
ends the process even while the event loop or the GIL is stuck, and a
granted recycle sends the worker SIGTERM, which is how uvicorn leaves
gracefully (stop accepting, finish in-flight requests, run lifespan
shutdown); uvicorn's supervisor then starts a new worker. Any SIGTERM (the
watchdog's, gunicorn's master's, an operator's) first stops the worker
accepting and lets it read the requests of connections it has accepted
for 0.2 s before uvicorn's own exit begins, which would close them unread
(clients see a reset: the 502s of a proxy in front). And the listening
socket gets TCP_NODELAY, which uvicorn --workers leaves off (every response
then waits 40 ms for the client's delayed ACK). With
``heartbeat_timeout`` a task of the event loop beats, so a loop blocked
longer than that is killed. Memory and FDs are sampled by the watchdog every
``sample_interval``.

Settings, as arguments or from the environment:

``WORKERLIFE_POLICY`` (``policy=``)
    The policy spec (default: empty, every limit off). A bad key or value
    raises at start, naming it.
``WORKERLIFE_POOL`` (``pool=``)
    A path for the pool file the workers share (opened with
    :meth:`workerlife.Pool.open`), so that ``max_concurrent_recycles`` and
    ``min_recycle_interval`` hold across them; default: none, each worker
    keeps a pool of its own (the per-worker limits all work).
``WORKERLIFE_SLOTS`` (``slots=``)
    Slots of a shared pool file (default 64): at least the workers, plus
    those being replaced.

Under plain ``uvicorn`` with one process (no ``--workers``) nothing restarts
a worker that leaves, so a recycle ends the server: use ``--workers 1`` or
more.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import threading
from types import FrameType
from typing import Any, Awaitable, Callable, List, MutableMapping, Optional, Union

from . import Policy, Pool, PoolFullError, Watchdog, Worker

__all__ = ["WorkerLife"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _policy(policy: Union[Policy, str, None]) -> Policy:
    if isinstance(policy, Policy):
        return policy
    # A bad key or value raises PolicyError, naming both.
    return Policy.parse(os.environ.get("WORKERLIFE_POLICY", "") if policy is None else policy)


# How long a leaving worker goes on serving the connections it has already
# accepted, having stopped accepting, before its server's graceful exit
# begins: uvicorn's closes every connection whose request it has not read
# yet, which a client sees as a reset.
GRACE = 0.2


def _listening_fds(bound: bool = False) -> List[int]:
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


def _no_delay(fds: List[int]) -> bool:
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


def _stop_accepting(loop: asyncio.AbstractEventLoop) -> None:
    """This worker takes no new connection; the other workers (which share
    the listening socket) get them. Only this process's event loop stops
    watching the socket: the socket itself stays open for the others."""
    for fd in _listening_fds():
        try:
            loop.remove_reader(fd)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # a loop that does not let go: its server's own exit then


# Moves on in every forked child, so a middleware made before a fork
# (gunicorn --preload) prepares again in the worker.
_forks = [0]


def _after_fork_in_child() -> None:
    _forks[0] += 1


os.register_at_fork(after_in_child=_after_fork_in_child)


def _slots(slots: Optional[int]) -> int:
    if slots is not None:
        value = str(slots)
    else:
        value = os.environ.get("WORKERLIFE_SLOTS", "64")
    if not value.isdigit() or not 1 <= int(value) <= 1 << 20:
        raise ValueError(f"workerlife: bad WORKERLIFE_SLOTS {value!r}: expected 1..1048576")
    return int(value)


class WorkerLife:
    """ASGI middleware: reports every request of this worker to workerlife,
    and leaves (or is killed) when the policy says so. See the module's
    documentation for what counts as a request and how the worker leaves.

    ``worker`` and ``leave`` are for hosts that supervise the workers
    themselves (the gunicorn hook): a slot already claimed, and how to leave
    gracefully; no watchdog is started then, the master acts.
    """

    def __init__(
        self,
        app: ASGIApp,
        policy: Union[Policy, str, None] = None,
        *,
        pool: Union[str, "os.PathLike[str]", None] = None,
        slots: Optional[int] = None,
        worker: Optional[Worker] = None,
        leave: Optional[Callable[[], None]] = None,
    ) -> None:
        self.app = app
        # Checked now, so a bad setting stops the server at start.
        self.policy = _policy(policy)
        path = os.environ.get("WORKERLIFE_POOL", "") if pool is None else os.fspath(pool)
        self.path: Optional[str] = path or None
        self.slots = _slots(slots)
        self.worker = worker
        self._leave_host = leave
        self.pool: Optional[Pool] = None
        self.watchdog: Optional[Watchdog] = None
        self._beating = False
        self._beat_task: Optional[asyncio.Task[None]] = None
        self._term_installed = False
        # Scopes left on which to look for the listening socket (uvicorn).
        self._nodelay_tries = 0
        # The fork generation (`_forks`) this process was prepared in.
        self._prepared = -1
        # The process the slot belongs to: with --preload the app is made
        # in the master, and each worker claims its own after fork.
        self._pid = os.getpid() if worker is not None else 0

    def _setup(self) -> Optional[Worker]:
        """This process's slot (and watchdog), made on its first scope; None
        when the shared pool is full (the worker then runs unsupervised,
        and says so: a server must not fail to start for it)."""
        if self.watchdog is not None:
            self.watchdog.stop()  # a forked child's copy of the parent's
        # What was the parent's (its event loop, its signal handler) is not
        # this process's.
        self._beating = False
        self._term_installed = False
        if self._leave_host is not None and self.worker is not None:
            self._pid = os.getpid()
            return self.worker
        pid = os.getpid()
        self._pid = pid
        if self.path is not None:
            self.pool = Pool.open(self.path, self.policy, self.slots)
        else:
            self.pool = Pool(self.policy, 1)
        try:
            w = self.worker = self.pool.claim(pid)
        except PoolFullError as e:
            print(f"workerlife: worker {pid} runs unsupervised: {e}", file=sys.stderr)
            self.worker = None
            return None
        self.watchdog = w.watchdog(recycle_signal=signal.SIGTERM)
        self._nodelay_tries = 100
        return w

    def _leave(self) -> None:
        if self._leave_host is not None:
            self._leave_host()
        elif self.watchdog is not None:
            self.watchdog.wake()  # it sends SIGTERM now, not at its next look

    def _graceful_term(self) -> None:
        """SIGTERM (from the watchdog, the gunicorn master or an operator)
        first stops this worker accepting, then, GRACE later, runs the
        server's own handler (uvicorn's graceful exit)."""
        self._term_installed = True
        if threading.current_thread() is not threading.main_thread():
            return
        server_handler = signal.getsignal(signal.SIGTERM)
        if not callable(server_handler):
            return
        loop = asyncio.get_running_loop()

        def later(sig: int) -> None:
            _stop_accepting(loop)
            # Leaving for sure: the recycle permit goes back now, so the next
            # worker due need not wait for this one's whole shutdown.
            if self.worker is not None:
                self.worker.exiting()
            loop.call_later(GRACE, server_handler, sig, None)

        def on_term(sig: int, frame: Optional[FrameType]) -> None:
            loop.call_soon_threadsafe(later, sig)

        signal.signal(signal.SIGTERM, on_term)

    def _start_beating(self, w: Worker) -> None:
        """With heartbeat_timeout: a task of this event loop beats, so a
        loop blocked longer than the timeout is killed (under gunicorn too,
        beside its liveness loop, which beats only every --timeout)."""
        self._beating = True
        timeout = self.policy["heartbeat_timeout"]
        if not timeout:
            return
        every = max(0.01, min(timeout / 4, 1.0))

        async def beat() -> None:
            while True:
                w.heartbeat()
                await asyncio.sleep(every)

        w.heartbeat()
        self._beat_task = asyncio.get_running_loop().create_task(beat())

    def _shutdown(self) -> None:
        w = self.worker
        if w is not None:
            w.exiting()
        if self.watchdog is not None:
            self.watchdog.stop()
        if self.pool is not None and self.path is not None:
            try:
                self.pool.remove_if_last()
            except Exception as e:  # shutting down: say so, never fail it
                print(f"workerlife: leaving {self.path}: {e}", file=sys.stderr)

    def _prepare(self) -> Optional[Worker]:
        """Everything a scope needs in this process, once (again after a
        fork): the slot and watchdog, the heartbeat task, the SIGTERM
        handler, TCP_NODELAY."""
        w = self.worker
        if w is None or self._pid != os.getpid():
            w = self._setup()
        if w is None:
            self._prepared = _forks[0]
            return None
        if not self._beating:
            self._start_beating(w)
        if not self._term_installed:
            self._graceful_term()
        if self._nodelay_tries:
            self._nodelay_tries = 0 if _no_delay(_listening_fds(bound=True)) else self._nodelay_tries - 1
        if not self._nodelay_tries:
            self._prepared = _forks[0]
        return w

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # One comparison on the hot path (no getpid() system call): the
        # generation moves on in a forked child.
        w = self._prepare() if self._prepared != _forks[0] else self.worker
        if w is None:
            await self.app(scope, receive, send)
            return
        kind = scope["type"]
        if kind == "http":
            # The request that reaches max_requests is known when it begins:
            # leave now (SIGTERM: uvicorn stops accepting, finishes this one).
            if w.begin():
                self._leave()
            ended = False

            async def send_and_end(message: Message) -> None:
                nonlocal ended
                if not ended and message["type"] == "http.response.body":
                    # The response is complete or streaming: no longer timed.
                    ended = True
                    if w.end():
                        self._leave()
                await send(message)

            try:
                await self.app(scope, receive, send_and_end)
            finally:
                if not ended:
                    ended = True
                    if w.end():
                        self._leave()
        elif kind == "websocket":
            try:
                await self.app(scope, receive, send)
            finally:
                # One request, counted when it closes; never timed.
                w.begin()
                if w.end():
                    self._leave()
        elif kind == "lifespan":
            await self.app(scope, self._lifespan_receive(receive), send)
        else:
            await self.app(scope, receive, send)

    def _lifespan_receive(self, receive: Receive) -> Receive:
        async def receive_noting_shutdown() -> Message:
            message = await receive()
            # uvicorn sends it after the last connection closed.
            if message.get("type") == "lifespan.shutdown":
                self._shutdown()
            return message

        return receive_noting_shutdown
