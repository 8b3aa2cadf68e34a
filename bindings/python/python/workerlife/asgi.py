"""workerlife for ASGI servers: ``app = workerlife.asgi.WorkerLife(app)``.

Runs under ``uvicorn --workers N`` (or any ASGI server that restarts the
workers it loses), and under ``gunicorn -k uvicorn_worker.UvicornWorker -c
python:workerlife.gunicorn``, where the gunicorn hook wraps the app itself.

What counts as a request:

* an HTTP request begins when its scope arrives and ends when its response
  body starts (the whole response, or the first chunk of a streaming one),
  or when the app returns or raises (a client that went away included);
* a WebSocket counts as one request when it closes and is never timed, however
  long it stays open;
* ``lifespan`` scopes pass through; at shutdown the worker leaves the pool
  (with ``WORKERLIFE_POOL``, the last worker out removes the file).

``request_timeout`` under an event loop times the app's own work on a
request: from its scope to its first response byte, less the time the app
spends waiting on the client in ``receive()`` (a slow body is the client's
time, not the app's). Each request holds a ticket of the slot
(``Worker.begin_ticket``) from its scope to its end, so the slot times it on
its own; a task of the event loop asks the slot which are past
``request_timeout`` (``Worker.overdue``) every ``request_timeout``/20 (at
most 1 s). A request past it is cancelled, alone: a 504 (with
``Connection: close``) when no response has started, else its connection is
closed; its slot counts it ended, and a line says so (``request_cancelled``,
with method, path and time). The worker lives on, its other requests and
WebSockets untouched. Only when the event loop itself stops (a blocking call
in a handler, a busy loop), which stops the loop's beats, does the watchdog
(or gunicorn's master) kill the worker, once its oldest request is past
``request_timeout`` and the loop has not beaten for half of it. With
``client_timeout`` (off by default) a request whose app has waited on the
client that long in one ``receive()`` is cancelled too (408).

With no master of ours (uvicorn), each worker runs the engine's watchdog, a
native thread: a kill decision (a stopped loop, ``heartbeat_timeout``) ends
the process even while the event loop or the GIL is stuck, and a granted
recycle sends the worker SIGTERM. Any SIGTERM (the watchdog's, gunicorn's
master's, an operator's) makes the worker leave without resetting anyone
(see :mod:`workerlife.uvicorn_process`: every response then says
``Connection: close``, the worker stops accepting and waits up to
``leave_grace`` for its keep-alive connections to carry one more request or
be closed, then uvicorn's own graceful exit runs), and uvicorn's supervisor
starts a new worker. The listening socket gets TCP_NODELAY, which uvicorn
--workers leaves off (every response then waits 40 ms for the client's
delayed ACK). A task of the event loop beats, so a loop blocked longer than
``heartbeat_timeout`` is killed. Memory and FDs are sampled by the watchdog
every ``sample_interval``. A rule only rehearsed (``enforce``) neither
makes a worker leave nor cancels a request: its decision is "continue",
and the watchdog (or gunicorn's master) says its ``would_recycle`` /
``would_kill`` line, once per worker and reason.

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
``WORKERLIFE_LEAVE_GRACE`` (``leave_grace=``)
    Seconds a leaving worker waits for its keep-alive connections before
    uvicorn's exit (default 3; at most half the policy's ``drain_timeout``
    when that is set, so the exit has time to finish).
``WORKERLIFE_CLIENT_TIMEOUT`` (``client_timeout=``)
    Seconds an app may wait on the client in one ``receive()`` before its
    request is cancelled with a 408 (default 0: off).

Under gunicorn's hook the app needs no wrapper: the hook wraps it. An app
wrapped anyway would have every request counted twice, so the app's own
middleware stands down in each worker whose app the hook wrapped (it passes
every scope through; the hook's counts, under the hook's
``WORKERLIFE_POLICY``) and says so in one INFO line.

Under plain ``uvicorn`` with one process (no ``--workers``) nothing restarts
a worker that leaves, so a recycle ends the server: use ``--workers 1`` or
more.

``WORKERLIFE_METRICS`` is served by a master of workerlife's (gunicorn's
hook, Celery's parent). ``uvicorn --workers N`` runs none (its supervisor is
uvicorn's, and each worker is a process of its own), so the middleware
refuses the setting at start, naming it, rather than serve nothing: run
``gunicorn -k uvicorn_worker.UvicornWorker -c python:workerlife.gunicorn``,
whose master serves it, or give the workers a pool file (``WORKERLIFE_POOL``)
and read it with ``workerlife top PATH``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from typing import Any, Awaitable, Callable, Dict, List, MutableMapping, Optional, Set, Tuple, Union

from . import TICKET_LAST, TICKETS, Error, Host, Policy, PolicyError, Pool, PoolFullError, TooManyInFlight, Watchdog, Worker
from ._settings import pool_path
from .uvicorn_process import Departure, listening_fds, no_delay, stop_server_at_start

__all__ = ["WorkerLife"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _policy(policy: Union[Policy, str, None]) -> Policy:
    if isinstance(policy, Policy):
        return policy
    # A bad key or value raises PolicyError, naming both (and the setting).
    if policy is not None:
        return Policy.parse(policy)
    spec = os.environ.get("WORKERLIFE_POLICY", "")
    try:
        return Policy.parse(spec)
    except PolicyError as e:
        named = type(e)(f"workerlife: bad WORKERLIFE_POLICY {spec!r}: {e}")
        named.key, named.value = e.key, e.value
        raise named from e


# What this middleware carries out where no master of ours runs (uvicorn
# --workers N): a task of the event loop beats (heartbeat), each worker's
# watchdog carries out its kills, a request past its time is cancelled
# alone, one worker serves many requests at once, each holding a ticket.
# Not surge: nothing of ours starts a worker (uvicorn's supervisor replaces
# one that left).
def _host(under_uvicorn: bool) -> Host:
    name = "uvicorn" if under_uvicorn else "ASGI server"
    return Host(name, heartbeat=True, cancel=True, concurrent=True, watchdog_kills=True, tickets=True)


_NOT_LAST = ~TICKET_LAST


def _begin(w: Worker) -> Optional[int]:
    """A request's ticket; None past the most a slot counts in flight
    (65,551): that request is served, uncounted."""
    try:
        return w.begin_ticket()
    except TooManyInFlight:
        return None


# The rules that make a worker leave: with one uvicorn process (no
# --workers, or --workers 1) nothing starts another, and the server ends.
_RECYCLING = (
    "max_requests", "max_lifetime", "max_idle", "max_rss", "max_uss", "max_pss", "max_fds",
    "max_health_failures", "max_pool_rss", "memory_forecast", "container_memory",
)


def _uvicorn_config() -> Optional[Any]:
    """uvicorn's Config when the app is being loaded by uvicorn (the
    middleware is made while ``Config.load`` imports the app), else None."""
    module = sys.modules.get("uvicorn.config")
    config_cls = getattr(module, "Config", None)
    if config_cls is None:
        return None
    frame = sys._getframe(1)
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, config_cls):
            return candidate
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _check_single_process(policy: Policy, config: Any) -> None:
    """uvicorn runs no supervisor for one worker: a recycle would end the
    server. Refused at start, naming the first rule that recycles; a rule
    only rehearsed (``enforce``) recycles nobody."""
    if int(getattr(config, "workers", 1) or 1) > 1:
        return
    # max_pool_rss is no rule of its own (enforce cannot name it): kept as it was.
    on = [
        k
        for k in _RECYCLING
        if policy[k] not in (0, 0.0, "0", "off") and (k == "max_pool_rss" or policy.enforces(k))
    ]
    if on:
        raise RuntimeError(
            f"workerlife: {on[0]}={policy.to_dict()[on[0]]}: uvicorn with one process (no --workers, "
            "or --workers 1) runs no supervisor, so a recycled worker is never started again and the "
            "server ends; use --workers 2 or more (or gunicorn -k uvicorn_worker.UvicornWorker)"
        )


def _check_no_metrics(config: Optional[Any]) -> None:
    """WORKERLIFE_METRICS where no master of ours can serve it: under
    uvicorn (``config``), or any server but gunicorn with the workerlife
    hook (its config module imported: ``-c python:workerlife.gunicorn``, or
    a gunicorn.conf.py importing the hooks), whose master serves it. A
    RuntimeError naming the setting, why, and what to do instead."""
    value = os.environ.get("WORKERLIFE_METRICS", "").strip()
    if not value or (config is None and "workerlife.gunicorn" in sys.modules):
        return
    if config is None:
        server = "this ASGI server runs"
    else:
        server = "uvicorn --workers runs" if int(getattr(config, "workers", 1) or 1) > 1 else "uvicorn runs"
    raise RuntimeError(
        f"workerlife: WORKERLIFE_METRICS={value} cannot be served here: no master to serve it "
        f"({server} none of workerlife's, and each worker is a process of its own); unset it, and "
        "run gunicorn -k uvicorn_worker.UvicornWorker -c python:workerlife.gunicorn, whose master "
        "serves it, or give the workers a pool file (WORKERLIFE_POOL) and read it with "
        "workerlife top PATH"
    )


def _seconds(name: str, env: str, value: Optional[float], default: float) -> float:
    """A setting in seconds, from its argument or the environment: a finite
    number from 0 to 1e6, else a ValueError naming it."""
    raw: object = value if value is not None else os.environ.get(env, "")
    if raw == "":
        return default
    try:
        secs = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        secs = float("nan")
    if not 0 <= secs <= 1e6:
        raise ValueError(f"workerlife: bad {name} {raw!r}: expected seconds from 0 to 1e6 ({env})")
    return secs


# The gunicorn hook's own middleware wraps the app in this process: (its
# pid, its logger's info). A WorkerLife of the app's inside it stands down.
_hook_wraps: Optional[Tuple[int, Callable[[str], None]]] = None


def _hook_wraps_here(info: Callable[[str], None]) -> None:
    """Called by the gunicorn hook as it wraps the app of this worker."""
    global _hook_wraps
    _hook_wraps = (os.getpid(), info)


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


# The event loop's clock (asyncio's and uvloop's `loop.time()` are the
# monotonic clock), read without a method call per request.
_monotonic = time.monotonic
_current_task = asyncio.current_task


class _Timed:
    """One HTTP request the event loop times, until its first response byte:
    its task, its start moved on by each wait on the client (so that
    ``now - start`` is the app's own time), and why it was cancelled."""

    __slots__ = ("task", "start", "waiting_since", "fired", "inner", "clock", "key")

    def __init__(
        self, task: "Optional[asyncio.Task[Any]]", start: float, inner: Receive, clock: "WorkerLife"
    ) -> None:
        self.task = task
        self.start = start
        self.waiting_since: Optional[float] = None
        self.fired: Optional[str] = None
        self.inner = inner
        self.clock = clock
        # Its ticket (without TICKET_LAST) when the slot times it, as
        # `overdue()` names it; None beyond the slot's cells.
        self.key: Optional[int] = None

    def app_time(self, now: float) -> float:
        return (now if self.waiting_since is None else self.waiting_since) - self.start

    async def receive(self) -> Message:
        """The app's `receive`, its wait left out of the app's time (on the
        middleware's beat-exact clock)."""
        since = self.waiting_since = self.clock._clock
        try:
            return await self.inner()
        finally:
            self.start += self.clock._clock - since
            self.waiting_since = None


class WorkerLife:
    """ASGI middleware: reports every request of this worker to workerlife,
    and leaves (or is killed) when the policy says so. See the module's
    documentation for what counts as a request and how the worker leaves.

    ``worker`` and ``leave`` are for hosts that supervise the workers
    themselves (the gunicorn hook): a slot already claimed, and how to leave
    gracefully; no watchdog is started then, the master acts. ``log`` takes
    the middleware's lines (default: stderr).
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
        leave_grace: Optional[float] = None,
        client_timeout: Optional[float] = None,
        log: Optional[Callable[[str], None]] = None,
    ) -> None:
        self.app = app
        # Where its lines go: stderr (uvicorn's log), or the host's logger.
        self._log = log or (lambda line: print(line, file=sys.stderr))
        config = _uvicorn_config() if leave is None else None
        # Declared only under uvicorn, where this middleware is the host (an
        # app module imported elsewhere, e.g. under the gunicorn hook, which
        # declares its own, must still load).
        self.host: Optional[Host] = _host(True) if config is not None else None
        try:
            self._configure(policy, pool, slots, leave_grace, client_timeout)
            if leave is None:
                # Not wrapped by a host of ours (the gunicorn hook passes
                # `leave`): is anyone there to serve WORKERLIFE_METRICS?
                _check_no_metrics(config)
            if self.host is not None:
                self.host.check(self.policy)
                _check_single_process(self.policy, config)
                if self.path is not None:
                    # This process serves (uvicorn loads the app in each
                    # worker): a pool file that is not one, or one held
                    # under another policy, stops the start here. Opened to
                    # check only, and let go (the file too, if no other
                    # worker holds it): the first scope opens it for good.
                    Pool.open(self.path, self.policy, self.slots).remove_if_last()
        except (Error, ValueError, RuntimeError) as e:
            if config is None:
                raise
            # Under uvicorn: one line, and the server stops, non-zero (no
            # worker started again and again).
            text = str(e) if str(e).startswith("workerlife: ") else f"workerlife: {e}"
            stop_server_at_start(config, text)
        self.worker = worker
        self._leave_host = leave
        self.pool: Optional[Pool] = None
        self.watchdog: Optional[Watchdog] = None
        self._beating = False
        self._beat_task: Optional[asyncio.Task[None]] = None
        self._term_installed = False
        self.departure = Departure(self.leave_grace, self._leaving_for_sure)
        # The requests the event loop times (with request_timeout or
        # client_timeout), by ticket, those beyond the slot's cells (which
        # overdue() never names), and how many it has cancelled.
        self._timed: Dict[int, _Timed] = {}
        self._untimed: Set[_Timed] = set()
        self._clock = 0.0
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self.cancelled = 0
        # Scopes left on which to look for the listening socket (uvicorn).
        self._nodelay_tries = 0
        # The fork generation (`_forks`) this process was prepared in.
        self._prepared = -1
        # The process the slot belongs to: with --preload the app is made
        # in the master, and each worker claims its own after fork.
        self._pid = os.getpid() if worker is not None else 0

    def _configure(
        self,
        policy: Union[Policy, str, None],
        pool: Union[str, "os.PathLike[str]", None],
        slots: Optional[int],
        leave_grace: Optional[float],
        client_timeout: Optional[float],
    ) -> None:
        """The settings, each checked now, so a bad one stops the server at
        start, named."""
        self.policy = _policy(policy)
        path = os.environ.get("WORKERLIFE_POOL", "") if pool is None else os.fspath(pool)
        self.path: Optional[str] = pool_path(path)
        self.slots = _slots(slots)
        grace = _seconds("leave_grace", "WORKERLIFE_LEAVE_GRACE", leave_grace, 3.0)
        drain = float(self.policy["drain_timeout"])
        # The exit that follows needs time too before drain_timeout's kill.
        self.leave_grace = min(grace, drain / 2) if drain else grace
        self.client_timeout = _seconds("client_timeout", "WORKERLIFE_CLIENT_TIMEOUT", client_timeout, 0.0)
        self.request_timeout = float(self.policy["request_timeout"])
        # A rehearsed request_timeout (`enforce`) cancels no request: the
        # slot's overdue() names none then, and the requests judged here
        # alone are held to it only when it acts.
        self._cancels_late = bool(self.request_timeout) and self.policy.enforces("request_timeout")
        self._timing = bool(self.request_timeout or self.client_timeout)

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
        self.departure = Departure(self.leave_grace, self._leaving_for_sure)
        self._timed = {}
        self._untimed = set()
        if self._leave_host is not None and self.worker is not None:
            self._pid = os.getpid()
            return self.worker
        pid = os.getpid()
        self._pid = pid
        hook = _hook_wraps
        if hook is not None and hook[0] == pid:
            # The app's own wrapper inside the gunicorn hook's: counting here
            # too would count every request twice.
            hook[1](
                f"workerlife: worker {pid}: the app's own WorkerLife middleware stands down (its settings "
                "unused): the gunicorn hook (-c python:workerlife.gunicorn) wraps the app too and counts "
                "its requests, under WORKERLIFE_POLICY; use one of them, the hook needs no wrapper"
            )
            self.worker = None
            return None
        if self.path is not None:
            self.pool = Pool.open(self.path, self.policy, self.slots)
        else:
            self.pool = Pool(self.policy, 1)
        if self.host is not None:
            self.pool.set_host(self.host)
            # Once per worker process: uvicorn starts each one afresh.
            self._log(f"{self.pool.startup_line()} (worker {pid})")
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
        # Responses from now on say `Connection: close`, before the SIGTERM
        # that starts the departure arrives.
        self.departure.leaving = True
        if self._leave_host is not None:
            self._leave_host()
        elif self.watchdog is not None:
            self.watchdog.wake()  # it sends SIGTERM now, not at its next look

    def _leaving_for_sure(self) -> None:
        # The recycle permit goes back now, so the next worker due need not
        # wait for this one's whole departure.
        if self.worker is not None:
            self.worker.exiting()

    def _start_beating(self, w: Worker) -> None:
        """A task of this event loop beats (for heartbeat_timeout: a loop
        blocked longer is killed, under gunicorn too, beside its liveness
        loop, which beats only every --timeout) and ends the timed requests
        past their time. With request_timeout the slot says so
        (`on_event_loop`): the worker is killed for a request only once the
        loop has stopped beating too."""
        self._beating = True
        periods = []
        heartbeat = float(self.policy["heartbeat_timeout"])
        if heartbeat:
            periods.append(heartbeat / 4)
        for timeout in (self.request_timeout, self.client_timeout):
            if timeout:
                periods.append(timeout / 20)
        if not periods:
            return
        if self.request_timeout:
            w.on_event_loop()
        every = max(0.01, min(min(periods), 1.0))
        loop = asyncio.get_running_loop()

        self._loop = loop
        self._clock = _monotonic()

        async def beat() -> None:
            while True:
                w.heartbeat()
                # The clock timed requests read: exact to one beat, which
                # is all the precision their cancellation has anyway.
                self._clock = now = _monotonic()
                if self._timed or self._untimed:
                    self._end_overdue(w, now)
                await asyncio.sleep(every)

        w.heartbeat()
        self._beat_task = loop.create_task(beat())

    def _end_overdue(self, w: Worker, now: float) -> None:
        """Cancels each timed request past request_timeout (its app's own
        time) or client_timeout (one wait on the client). The slot names the
        requests in flight past request_timeout (`overdue()`, from each
        ticket's start); of those, the ones whose app time, less its waits
        on the client, has passed it too are cancelled. Requests beyond the
        slot's cells, and every request with client_timeout, are looked at
        here alone."""
        if self.client_timeout:
            look: List[_Timed] = list(self._timed.values())
            if self.request_timeout and not self._cancels_late:
                # Rehearsed: it names no ticket, but marks the slot
                # would_kill for a request past request_timeout.
                w.overdue()
        else:
            by_ticket = self._timed
            look = [t for t in map(by_ticket.get, w.overdue()) if t is not None]
        if self._untimed:
            look.extend(self._untimed)
        for t in look:
            if t.task is None:
                continue
            if t.fired is not None:
                # An app that swallowed the cancellation: again.
                t.task.cancel()
                continue
            if self._cancels_late and t.app_time(now) >= self.request_timeout:
                t.fired = "request_timeout"
            elif (
                self.client_timeout
                and t.waiting_since is not None
                and now - t.waiting_since >= self.client_timeout
            ):
                t.fired = "client_timeout"
            else:
                continue
            t.task.cancel()

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
        fork): the slot and watchdog, the beating task, the SIGTERM
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
            self._term_installed = self.departure.install()
        if self._nodelay_tries:
            self._nodelay_tries = 0 if no_delay(listening_fds(bound=True)) else self._nodelay_tries - 1
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
        if kind != "http":
            await self._other(w, kind, scope, receive, send)
            return
        # Each request holds a ticket from its scope to its end, so the slot
        # times it on its own among the others in flight.
        ticket = _begin(w)
        if self._timing:
            # Inline rather than a coroutine of its own: an await is 0.1 µs,
            # and this path's budget is about 1 µs in all.
            if ticket is not None and ticket & TICKET_LAST:
                self._leave()
            ended = False
            started = False
            departure = self.departure
            pending = self._timed
            timed = _Timed(_current_task(self._loop), self._clock, receive, self)
            key = None if ticket is None else ticket & _NOT_LAST
            # A ticket no other request in flight holds is one of the
            # slot's cells (those beyond them all hold the same number);
            # this loop is the slot's only user, so the count tells.
            if key is not None and len(pending) < TICKETS and key not in pending:
                timed.key = key
                pending[key] = timed
            else:
                self._untimed.add(timed)

            async def send_timed(message: Message) -> None:
                nonlocal ended, started
                kind = message["type"]
                if kind == "http.response.start":
                    started = True
                    if departure.leaving:
                        message = departure.response_start(scope, message)
                elif not ended and kind == "http.response.body":
                    ended = True
                    timed.task = None  # streaming or complete: no longer timed
                    if ticket is not None and self._end(w, ticket, timed):
                        self._leave()
                await send(message)

            try:
                await self.app(scope, timed.receive, send_timed)
            except asyncio.CancelledError:
                task = timed.task
                if timed.fired is None or task is None:
                    raise
                timed.task = None  # ours to finish: no second cancellation
                uncancel = getattr(task, "uncancel", None)
                if uncancel is not None:
                    uncancel()
                await self._cancelled(scope, timed, started, send_timed)
            finally:
                if not ended:
                    ended = True
                    # Cancelled or not, its ticket goes back.
                    if ticket is not None and self._end(w, ticket, timed):
                        self._leave()
            return
        # The request that reaches max_requests is known when it begins:
        # leave now (SIGTERM: uvicorn stops accepting, finishes this one).
        if ticket is not None and ticket & TICKET_LAST:
            self._leave()
        ended = False
        departure = self.departure

        async def send_and_end(message: Message) -> None:
            nonlocal ended
            kind = message["type"]
            if kind == "http.response.start":
                if departure.leaving:
                    message = departure.response_start(scope, message)
            elif not ended and kind == "http.response.body":
                # The response is complete or streaming: counted now.
                ended = True
                if ticket is not None and w.end_ticket(ticket):
                    self._leave()
            await send(message)

        try:
            await self.app(scope, receive, send_and_end)
        finally:
            if not ended:
                ended = True
                if ticket is not None and w.end_ticket(ticket):
                    self._leave()

    async def _other(self, w: Worker, kind: str, scope: Scope, receive: Receive, send: Send) -> None:
        if kind == "websocket":
            try:
                await self.app(scope, receive, send)
            finally:
                # One request, counted when it closes; never timed.
                ticket = _begin(w)
                if ticket is not None and w.end_ticket(ticket):
                    self._leave()
        elif kind == "lifespan":
            await self.app(scope, self._lifespan_receive(receive), send)
        else:
            await self.app(scope, receive, send)

    def _end(self, w: Worker, ticket: int, timed: _Timed) -> bool:
        """A timed request's ticket goes back, and the loop stops timing
        it; whether the worker should leave."""
        if timed.key is not None:
            self._timed.pop(timed.key, None)
        else:
            self._untimed.discard(timed)
        return w.end_ticket(ticket)

    async def _cancelled(self, scope: Scope, timed: _Timed, started: bool, send: Send) -> None:
        """A request ended at its time: a line, then a 504 (408 for the
        client's time) if no response has started; otherwise uvicorn closes
        the connection of a response left unfinished."""
        self.cancelled += 1
        why = timed.fired or "request_timeout"
        limit = self.request_timeout if why == "request_timeout" else self.client_timeout
        method = scope.get("method", "?")
        path = scope.get("path", "?")
        self._log(f"workerlife: worker {os.getpid()} request_cancelled {method} {path!r}: {why} {limit:g}s")
        if started:
            return
        status = 504 if why == "request_timeout" else 408
        body = f"{why}\n".encode()
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _lifespan_receive(self, receive: Receive) -> Receive:
        async def receive_noting_shutdown() -> Message:
            message = await receive()
            # uvicorn sends it after the last connection closed.
            if message.get("type") == "lifespan.shutdown":
                self._shutdown()
            return message

        return receive_noting_shutdown
