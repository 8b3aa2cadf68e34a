"""workerlife for gunicorn: ``gunicorn -c python:workerlife.gunicorn app:app``.

Settings come from the environment:

``WORKERLIFE_POLICY``
    The policy spec, e.g. ``max_requests=1000,max_rss=300MiB,request_timeout=30s``
    (default: empty, every limit off; see docs/policy.md). A bad key or
    value stops gunicorn at start with a message naming it.
``WORKERLIFE_METRICS``
    ``127.0.0.1:PORT``: the master serves the pool's stats there, Prometheus
    text at ``/metrics`` and JSON at ``/stats``, with the library's server
    (:meth:`workerlife.Pool.serve_metrics`, a native thread; default: no
    server). An address that cannot be served stops gunicorn at start.
``WORKERLIFE_TICK``
    Seconds between two supervisor ticks in the master (default 0.1).
``WORKERLIFE_POOL``
    A path: the pool is published there as a named pool file (mode 0600,
    owned by the master's user) that ``workerlife top PATH`` attaches to;
    removed when gunicorn stops (default: an anonymous shared pool).

Workers give every request a ticket (``begin_ticket`` in ``pre_request``,
``end_ticket`` in ``post_request``), so each request in flight is timed on
its own: ``request_timeout`` holds for gthread's threads too (the master
kills the worker with one stuck among busy ones). When told to go, workers
leave after the response the way gunicorn's own ``max_requests`` does
(``worker.alive = False``). gunicorn's own liveness loop (``worker.notify``) is the heartbeat:
``heartbeat_timeout`` must be at least gunicorn's ``--timeout`` (it beats
every ``timeout / 2`` when idle), else gunicorn stops at start with a
message. The master runs a supervisor thread that ticks the pool, which
samples the workers' memory and FDs every ``sample_interval``, signals
workers through the identity-checked :func:`workerlife.kill` (SIGTERM to
recycle, SIGKILL to kill) and logs each recycle and kill with its reason.

With ``max_surge`` the hook replaces before retiring: for each replacement
the pool asks for, it raises gunicorn's worker count by one; the new worker
takes the slot kept for it and is ready once its app is loaded and it
starts serving; then the old worker drains, and the exit that follows gives
the extra worker back. Every new worker's readiness also returns the recycle
permit of the worker it follows (the budget counts workers missing).

A crash loop stops gunicorn: gunicorn starts its own workers, at once and
with no hook to hold a spawn back, so the delay of a ``crash_loop`` event
(more than ``max_restarts`` crashes of a slot within ``restart_window``)
could not be carried out. On the first one the master logs the event line
and a line saying why, and stops gunicorn with exit status 1 (every worker
stopped); its supervisor (systemd, Kubernetes) is what backs off. One crash,
or a worker killed from outside, stops nothing.

Whom to signal never comes from the shared pool, which every worker can
write: the supervisor adopts the pids gunicorn's arbiter lists as its
workers (``server.WORKERS``, its own dict), and an action for any other pid
is refused and logged (``workerlife: refused ...``). Around every fork the
supervisor is quiesced (``os.register_at_fork``), so a worker never starts
with one of its locks held; the library closes the metrics server's sockets
in every worker at the fork, so no worker holds the metrics port.

With a ``gunicorn.conf.py`` of your own, import the hooks you do not define::

    from workerlife.gunicorn import on_starting, when_ready, pre_request, post_request, child_exit, on_exit
    from workerlife.gunicorn import post_worker_init

and call ours from yours where you do define one, e.g.
``def post_fork(server, worker): workerlife.gunicorn.post_fork(server, worker); ...``.
Supported worker classes: ``sync`` and ``gthread`` (through the request
hooks), and uvicorn's ``uvicorn_worker.UvicornWorker`` for ASGI apps (the hook
wraps the app in :class:`workerlife.asgi.WorkerLife` once it is loaded; the
app needs no change, and an app wrapped in it anyway has its own wrapper
stand down, with one INFO line, rather than count every request twice).
"""

from __future__ import annotations

import importlib
import os
import signal
import socket
import threading
from typing import Any, Dict, Optional, Tuple

from . import TICKET_LAST, Error, Host, Policy, Pool, UnknownPidError, Worker, kill
from ._host import Supervisor, adopt_workers, log_events
from ._settings import _tick_interval, check_policy, let_go, master_pool, metrics_address, metrics_server, policy_from_env

__all__ = [
    "child_exit",
    "host_of",
    "on_exit",
    "on_starting",
    "policy_from_env",
    "post_fork",
    "post_request",
    "post_worker_init",
    "pre_request",
    "state",
    "when_ready",
]


class State(Supervisor):
    """What the hooks share in one gunicorn: the pool (made in the master
    before the first fork, so every worker shares it) and the master's
    supervisor (``_host.Supervisor``)."""

    def __init__(self) -> None:
        super().__init__()
        self.pool: Optional[Pool] = None
        self.worker: Optional[Worker] = None
        # Workers added for replacements (max_surge) not yet given back;
        # never more than max_surge, whatever the pool asks for.
        self.surge_extra = 0
        # Wait statuses the arbiter reaped, by pid, until child_exit tells
        # the pool (gunicorn passes the hook no status).
        self.statuses: Dict[int, int] = {}
        # Held while the pool's events are taken and logged, by the
        # supervisor's round and by child_exit in the arbiter's thread
        # (which must see a crash_loop the exit it reports gave).
        self.events_lock = threading.Lock()
        # The arbiter is stopping (its stop(), which reaps again and calls
        # child_exit again): a crash loop then stops nothing more.
        self.stopping = False
        # A crash loop already stopped gunicorn (HaltServer raised once).
        self.halting = False


state = State()


def host_of(server: Any) -> Host:
    """What this gunicorn can carry out, by its worker class. Every class:
    the arbiter starts a worker when ``num_workers`` grows (surge), and the
    master signals its own children (master kills). sync and gthread beat
    from gunicorn's liveness loop (``notify``, between requests and every
    ``timeout / 2`` when idle), and each request holds a ticket from
    ``pre_request`` to ``post_request`` (tickets): one stuck among a gthread
    worker's busy threads is timed on its own. uvicorn's worker class beats
    from its event loop (uvicorn's ``notify`` tick, and the middleware's
    beating task), where the middleware gives each request a ticket and
    cancels one request alone. Other worker classes (gevent, eventlet,
    tornado) are not said to beat."""
    cls = server.cfg.worker_class
    names = [c.__name__ for c in getattr(cls, "__mro__", ())]
    if "UvicornWorker" in names:
        return Host(
            "gunicorn + UvicornWorker",
            heartbeat=True, surge=True, cancel=True, concurrent=True, master_kills=True, tickets=True,
        )
    if "ThreadWorker" in names:
        threads = int(getattr(server.cfg, "threads", 1) or 1)
        return Host(
            "gunicorn (gthread)", heartbeat=True, surge=True, concurrent=threads > 1, master_kills=True, tickets=True
        )
    if "SyncWorker" in names:
        return Host("gunicorn (sync)", heartbeat=True, surge=True, master_kills=True, tickets=True)
    return Host(f"gunicorn ({server.cfg.worker_class_str})"[:64], surge=True, concurrent=True, master_kills=True)


def _check_config_file(server: Any) -> None:
    """``-c python:workerlife.gunicorn`` is gunicorn's config: a
    ``gunicorn.conf.py`` beside it would be silently ignored (its bind, its
    workers...), so it stops the start instead."""
    own = importlib.import_module("gunicorn.config").get_default_config_file()
    if str(getattr(server.cfg, "config", "") or "") == "python:workerlife.gunicorn" and own is not None:
        raise RuntimeError(
            f"workerlife: -c python:workerlife.gunicorn replaces {own}, which gunicorn then does not "
            "read; drop -c and import the hooks in your gunicorn.conf.py: "
            "from workerlife.gunicorn import *  (see docs/python.md)"
        )


def on_starting(server: Any) -> None:
    """Master, before anything starts: check the settings (a bad one stops
    gunicorn, named), make the pool, log the start-up line."""
    _check_config_file(server)
    policy = policy_from_env()
    host = host_of(server)
    check_policy(policy, host)
    _check_heartbeat(policy, server)
    state.tick = _tick_interval()
    workers = int(server.num_workers)
    # Room for workers added with TTIN, for a replacement that claims before
    # its predecessor's slot is retired, and for max_surge: the host's rule.
    slots = host.slots(workers, policy)
    metrics_address()  # a malformed address stops gunicorn before the pool is made
    pool = master_pool(policy, slots)
    try:
        pool.set_host(host)
        # The library's server, serving from now on (the pool is there to
        # read); a worker forked later holds none of its sockets.
        state.metrics = metrics_server(pool)
    except BaseException:
        let_go(pool)
        raise
    state.pool = pool
    state.stop.clear()
    state.stopping = state.halting = False
    _watch_exits(server)
    server.log.info(
        "%s%s",
        pool.startup_line(),
        f"; metrics on http://{state.metrics.address}/metrics" if state.metrics is not None else "",
    )


def _check_heartbeat(policy: Policy, server: Any) -> None:
    """heartbeat_timeout is fed by gunicorn's liveness loop, which beats at
    least every ``--timeout`` seconds (``timeout / 2`` when idle): a shorter
    heartbeat_timeout would kill healthy idle workers, so it stops gunicorn."""
    beat = float(policy["heartbeat_timeout"])
    if not beat:
        return
    timeout = float(getattr(server.cfg, "timeout", 0) or 0)
    if timeout <= 0 or beat < timeout:
        raise RuntimeError(
            f"workerlife: heartbeat_timeout={beat:g}s cannot be fed here: gunicorn's workers "
            f"report liveness only every --timeout ({timeout:g}s) when idle, so healthy idle "
            f"workers would be killed; use heartbeat_timeout >= {timeout:g}s or a lower --timeout"
        )


class _StatusRecorder:
    """gunicorn's arbiter module sees this in place of ``os``: its
    ``waitpid`` also keeps each worker's wait status for ``child_exit``."""

    def __init__(self, real: Any) -> None:
        self._os = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._os, name)

    def waitpid(self, pid: int, options: int) -> Tuple[int, int]:
        wpid, status = self._os.waitpid(pid, options)
        if wpid:
            state.statuses[wpid] = status
        return wpid, status


def _arbiter_module() -> Any:
    return importlib.import_module("gunicorn.arbiter")


def _watch_exits(server: Any) -> None:
    """Learns what gunicorn's hooks do not say: each worker's exit status,
    and which exits the arbiter itself asked for (graceful restart, scale
    down, shutdown: SIGTERM, SIGQUIT or SIGINT through ``kill_worker``),
    which are not crashes."""
    arbiter = _arbiter_module()
    if not isinstance(arbiter.os, _StatusRecorder):
        arbiter.os = _StatusRecorder(arbiter.os)
    kill_worker = server.kill_worker

    def kill_worker_noting_leavers(pid: int, sig: int) -> None:
        pool = state.pool
        if pool is not None and sig in (signal.SIGTERM, signal.SIGQUIT, signal.SIGINT):
            try:
                pool.exiting(pid)
            except UnknownPidError:
                pass  # not claimed yet, or already gone
        kill_worker(pid, sig)

    server.kill_worker = kill_worker_noting_leavers
    stop = server.stop

    def stop_noting_it(graceful: bool = True) -> None:
        state.stopping = True
        stop(graceful)

    server.stop = stop_noting_it


def when_ready(server: Any) -> None:
    """Master, listening: read the master as the workers' parent under
    ``--preload``, start the supervisor (the metrics server runs since
    ``on_starting``)."""
    pool = state.pool
    if pool is None:
        return
    if getattr(server.cfg, "preload_app", False):
        # The arbiter loaded the app at its setup and forks the first
        # workers after this hook (manage_workers in run()): the reading
        # holds what they start from, for relative limits (max_uss=3x) and
        # sharing. Without --preload the app loads in each worker and the
        # first tick reads the bare master.
        try:
            pool.read_parent()
        except Error as e:
            server.log.warning(
                "workerlife: could not read the master's memory as the workers' parent "
                "(%s); the first tick reads it",
                e,
            )
    state.start_supervisor(pool, server.log, lambda: _round(server, pool))


def _round(server: Any, pool: Pool) -> None:
    """One supervision round: adopt, tick, signal, log."""
    log = server.log
    # gunicorn's arbiter's own list of its workers: the only processes
    # the supervisor will signal.
    adopt_workers(pool, log, list(server.WORKERS), "worker")
    for a in pool.tick():
        if a.action == "spawn":
            if a.replaces is not None and state.surge_extra >= int(pool.policy["max_surge"]):
                # The processes this master added and that are still
                # alive cap the surge, not what the pool asks for.
                line = pool.round_error(
                    f"not starting a replacement: {state.surge_extra} extra worker(s) already"
                )
                if line is not None:
                    log.warning("workerlife: %s", line)
            elif a.replaces is not None:
                # Replace before retiring: one more worker for gunicorn
                # to start; it takes the slot kept for it, and the worker
                # in slot `replaces` drains once it is ready.
                server.num_workers += 1
                state.surge_extra += 1
                server.wakeup()  # the arbiter starts it now, not after its nap
                log.info(
                    "workerlife: starting a replacement for slot %s: %s", a.replaces, a.reason
                )
            continue  # otherwise gunicorn keeps its worker count itself
        # The event line (recycle_requested, killed) says whom and why.
        sig = signal.SIGTERM if a.action == "recycle" else signal.SIGKILL
        try:
            kill(a.pid, sig, a.identity)
        except Error as refused:  # gone or pid reused: nothing was sent
            log.info("workerlife: not signalling worker %s: %s", a.pid, refused)
    with state.events_lock:
        log_events(pool, log)


def post_fork(server: Any, worker: Any) -> None:
    """Worker, just forked: take a slot in the shared pool, and beat with
    gunicorn's own liveness loop."""
    if state.pool is None:
        return
    try:
        w = state.worker = state.pool.claim()
    except Error as e:
        state.worker = None
        worker.log.warning("workerlife: worker %s runs unsupervised: %s", os.getpid(), e)
        return
    notify = worker.notify

    def notify_and_beat() -> None:
        notify()
        w.heartbeat()

    worker.notify = notify_and_beat
    # Ready once the worker starts serving (its app loaded), even with a
    # config of the user's own that leaves out post_worker_init: the permit
    # of the recycle this worker follows waits for that (or its first request).
    run = worker.run

    def run_when_ready() -> None:
        pool = state.pool
        if pool is not None:
            pool.ready(w.slot)
        run()

    worker.run = run_when_ready


def _leave(worker: Any, w: Worker) -> None:
    worker.log.info("workerlife: worker %s leaving after this request: %s", os.getpid(), w.decision())
    # gunicorn's own graceful exit: stop accepting, finish what is in flight
    # (gthread's handler also wakes its poller, and closes the connection
    # after the response).
    worker.handle_exit(signal.SIGTERM, None)


# Where a request's ticket is kept, from pre_request to post_request: on
# gunicorn's request object, which each thread of gthread has its own of.
_TICKET = "_workerlife_ticket"


def pre_request(worker: Any, req: Any) -> None:
    w = state.worker
    if w is None:
        return
    # A ticket each, so a request stuck among others that keep ending (a
    # gthread worker's threads) is still timed from its own start.
    ticket = w.begin_ticket()
    setattr(req, _TICKET, ticket)
    # The request that reaches max_requests is known when it begins, as with
    # gunicorn's own max_requests: stop accepting now, not after the response.
    if ticket & TICKET_LAST and worker.alive:
        _leave(worker, w)


def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
    # gunicorn calls it from a `finally`: a request whose app raised ends
    # its ticket too.
    w = state.worker
    ticket = getattr(req, _TICKET, None)
    if w is None or ticket is None:
        return  # its pre_request took no ticket (failed before, or unsupervised)
    delattr(req, _TICKET)
    # Other limits (memory, lifetime...) are decided when a request ends.
    if w.end_ticket(ticket) and worker.alive:
        _leave(worker, w)


def child_exit(server: Any, worker: Any) -> None:
    """Master, a worker was reaped."""
    if state.pool is None:
        return
    # The real wait status (a signal, an exit code); 0 if gunicorn reaped it
    # some way we did not see. Whether it was a crash is the pool's call:
    # an exit nobody asked for.
    status = state.statuses.pop(worker.pid, 0)
    try:
        state.pool.exited(worker.pid, status)
    except UnknownPidError:
        pass  # it died before it claimed a slot
    # Each replacement added a worker; the next exit (the retired worker, or
    # a replacement that failed) gives it back, so the count holds.
    if state.surge_extra > 0:
        state.surge_extra -= 1
        server.num_workers -= 1
    _stop_on_crash_loop(server, state.pool)


def _stop_on_crash_loop(server: Any, pool: Pool) -> None:
    """The exit just reported may have made a ``crash_loop`` event: the
    events are logged now (the library's lines, each at its severity), and
    on the first crash loop gunicorn is stopped. gunicorn respawns a worker
    as soon as one exits and has no hook to delay it, so the event's delay
    would be a claim nobody carries out: the arbiter is halted instead with
    exit status 1 (``HaltServer``, raised here in its reap, which its run
    loop handles: every worker stopped, ``on_exit`` run), once, and never
    from its own stop (which reaps and calls child_exit again)."""
    with state.events_lock:
        events = pool.events()
        for ev in events:
            getattr(server.log, ev.severity)("workerlife: %s", ev)
    loops = [ev for ev in events if ev.kind == "crash_loop"]
    if not loops or state.halting or state.stopping:
        return
    state.halting = True
    policy = pool.policy
    server.log.error(
        "workerlife: stopping gunicorn: its workers crash in a loop (more than max_restarts=%s crashes "
        "of slot %s within restart_window=%ss, each before min_uptime=%ss); gunicorn cannot hold a "
        "respawn back, so it would restart them at full speed: its supervisor (systemd, Kubernetes) "
        "should back off and restart it",
        policy["max_restarts"],
        loops[0].slot,
        f"{float(policy['restart_window']):g}",
        f"{float(policy['min_uptime']):g}",
    )
    errors = importlib.import_module("gunicorn.errors")
    raise errors.HaltServer("workerlife: the workers crash in a loop (crash_loop)", 1)


def _is_asgi_worker(worker: Any) -> bool:
    """uvicorn's worker class for gunicorn (``uvicorn_worker.UvicornWorker``,
    or the older ``uvicorn.workers.UvicornWorker``) and its subclasses: they
    call no pre_request/post_request, so the hook wraps the app instead."""
    return any(c.__name__ == "UvicornWorker" for c in type(worker).__mro__)


def _wrap_asgi_app(worker: Any, w: Worker) -> None:
    from .asgi import WorkerLife, _hook_wraps_here

    leaving = False

    def leave() -> None:
        nonlocal leaving
        if leaving:
            return
        leaving = True
        worker.log.info("workerlife: worker %s leaving after this request: %s", os.getpid(), w.decision())
        # uvicorn's own graceful exit in a gunicorn worker: stop accepting,
        # finish what is in flight, run lifespan shutdown.
        os.kill(os.getpid(), signal.SIGTERM)

    assert state.pool is not None
    # An app wrapped in WorkerLife already: that one stands down, saying so.
    _hook_wraps_here(worker.log.info)
    worker.wsgi = WorkerLife(worker.wsgi, state.pool.policy, worker=w, leave=leave, log=worker.log.warning)


def _plain_listeners(worker: Any) -> None:
    """uvicorn's worker gets the listening sockets themselves, not
    gunicorn's wrappers of them. uvloop, handed a socket, closes its fd
    through libuv when its server closes, then calls the object's
    ``close()``, whose EBADF it expects and ignores; gunicorn's wrapper
    catches that EBADF first and logs ``Error while closing socket [Errno
    9] Bad file descriptor``: at every stop, and at every recycle, whose
    departure closes this process's uvloop servers to stop accepting (see
    :mod:`workerlife.uvicorn_process`). A plain socket is what ``uvicorn
    --workers`` hands its workers."""
    plain = [getattr(lnr, "sock", None) for lnr in worker.sockets]
    if all(isinstance(sock, socket.socket) for sock in plain):
        worker.sockets = plain


def post_worker_init(worker: Any) -> None:
    """Worker, app loaded: ready to serve (what a replacement waits for).
    An ASGI app of uvicorn's worker class is wrapped here."""
    if state.pool is not None and _is_asgi_worker(worker):
        _plain_listeners(worker)
    if state.pool is not None and state.worker is not None:
        if _is_asgi_worker(worker):
            _wrap_asgi_app(worker, state.worker)
        state.pool.ready(state.worker.slot)


def on_exit(server: Any) -> None:
    """Master, shutting down."""
    arbiter = _arbiter_module()
    if isinstance(arbiter.os, _StatusRecorder):
        arbiter.os = arbiter.os._os
    state.stop_supervisor()
    if state.pool is not None and os.environ.get("WORKERLIFE_POOL", "").strip():
        state.pool.remove_if_last()
