"""workerlife for Celery's prefork pool: ``workerlife.celery.install(app)``.

One line, where the app is made::

    app = Celery("tasks", broker="redis://localhost:6379/0")
    workerlife.celery.install(app)  # policy from WORKERLIFE_POLICY, or:
    workerlife.celery.install(app, policy="max_requests=1000,max_uss=200MiB")

Each task is a request: the child counts it (``begin`` before it runs,
``end`` after it, failed or retried too), and when workerlife decides that a
child must go it leaves the way billiard's own ``worker_max_memory_per_child``
makes it leave: after the task, once its result is handed to the parent
(exit status ``EX_RECYCLE``), never in the middle of one and never with a
``WorkerLostError`` for a task that finished. The parent makes the pool
before billiard forks its children (they share its memory), adopts each child
billiard starts, samples their *current* memory and FDs (``max_rss``,
``max_uss``, ``max_pss``: not billiard's ``ru_maxrss``, a peak that counts
every page a child shares with its parent), kills a child whose task runs
past ``request_timeout`` (billiard then fails that task with
``WorkerLostError`` and starts a new child), and logs each recycle, kill and
crash with its reason.

A recycle decided while a child waits for work (``max_lifetime``, ``idle``,
a memory reading the parent took) does not wait for a next task: billiard's
child looks for work in one-second waits, and between two of them, holding
no task, it leaves the way billiard's own shutdown sentinel makes it leave.

Children that crash in a loop (more than ``max_restarts`` exits nobody
asked for before ``min_uptime``, within ``restart_window``) stop the worker:
billiard starts a new child as soon as one is gone and cannot hold that
start back, so the library's backoff delay cannot be carried out here. At
the first ``crash_loop`` event the parent logs it and why it stops, at
error, and stops the worker with exit status 1 (Celery's warm shutdown,
every child stopped), for the supervisor that runs it (systemd, Kubernetes)
to back off.

Settings come from the environment, as for gunicorn
(:mod:`workerlife.gunicorn`): ``WORKERLIFE_POLICY`` (when ``policy`` is
None), ``WORKERLIFE_TICK`` (the parent's tick, default 0.1 s),
``WORKERLIFE_METRICS`` (``HOST:PORT``: the parent serves Prometheus text at
``/metrics`` and JSON at ``/stats`` with the library's server, a native
thread whose sockets no child inherits; default none) and ``WORKERLIFE_POOL``
(publish the pool as a named file for ``workerlife top``).

Celery's own ``worker_max_tasks_per_child`` and
``worker_max_memory_per_child`` keep working when set: a child leaves at
whichever comes first. workerlife's recycle goes through the memory check
billiard makes after every task (when ``worker_max_memory_per_child`` is
unset it is set to a limit no reading reaches, so the check runs), reading
the child's own figure unless workerlife says it must go.

With ``max_surge`` a child is replaced before it retires: for each
replacement the pool asks for, billiard's pool is grown by one (as Celery's
autoscaler grows it, in Celery's event loop) and billiard starts the child
at once; it says it is ready as it starts, the child it replaces then
leaves by the recycle path, and that exit lowers billiard's count back, so
billiard does not replace it. At most ``max_surge`` children are added at
a time.

With ``--autoscale=MAX,MIN`` the pool is sized for MAX children (when it
is above ``--concurrency``): every child the autoscaler adds claims a slot.
A MAX the pool cannot hold stops the start, naming ``--autoscale``.

Only the prefork pool has children to recycle; with another pool
(``-P solo``, ``threads``, ``gevent``) ``install`` logs so and does nothing.
"""

from __future__ import annotations

import functools
import logging
import os
import select
import signal
import sys
from collections import deque
from typing import Any, Callable, Deque, Optional, Tuple, Union

from . import Error, Host, Policy, PolicyError, Pool, Worker, kill
from ._host import Supervisor, adopt_workers
from ._settings import (
    _tick_interval,
    check_policy,
    let_go,
    master_pool,
    metrics_address,
    metrics_server,
    pool_path,
    policy_from_env,
)

__all__ = ["install", "state"]

log = logging.getLogger("workerlife.celery")

# What Celery's prefork pool can carry out: its parent ticks the pool and
# signals its own children (master kills), and starts a replacement when
# asked (surge). Not heartbeat: a child runs one task at a time in its main
# thread, and nothing in billiard beats while a task runs, so a silent child
# is a busy one, not a stuck one (the idle workers of issue 33 were killed
# for it): request_timeout catches a stuck task. Surge without choosing a
# child to retire (billiard's shrink() ends any idle one, the replacement as
# likely as the child it replaces): the pool's count is raised by one for
# the replacement (grow(), in Celery's event loop), the replaced child
# leaves by the recycle path once its replacement is up, and its exit lowers
# the count back before billiard would replace it (_grow_now).
HOST = Host("Celery prefork", surge=True, master_kills=True)

# billiard's check compares KiB: a limit no reading reaches, for when the
# user set none (the check must run for a recycle to go through it).
_NO_LIMIT_KIB = 1 << 60
_U32_MAX = (1 << 32) - 1


class State(Supervisor):
    """What the parent and each child share: the pool (made in the parent
    before billiard forks), the child's handle, and the parent's
    supervisor (``_host.Supervisor``)."""

    def __init__(self) -> None:
        super().__init__()
        self.policy: Optional[Policy] = None
        self.pool: Optional[Pool] = None
        self.worker: Optional[Worker] = None
        # In a child: workerlife decided it leaves after this task (and
        # said so in the log).
        self.leaving = False
        self.told = False
        # billiard's memory limit in KiB, and whether the user set it.
        self.limit_kib = _NO_LIMIT_KIB
        self.user_limit = False
        self.controller: Any = None
        self.installed = False
        # Said once the worker is ready (its log set up by then).
        self.startup_line = ""
        # The first crash_loop event stopped the worker (said once).
        self.crash_stopped = False
        # max_surge: replacements the supervisor asked for (the slot each
        # replaces), for the event loop to grow billiard's pool by; and how
        # many children billiard's pool was grown by and not given back
        # (the event loop's alone).
        self.surge_wanted: Deque[int] = deque()
        self.surge_grown = 0


state = State()


def install(app: Any, policy: Union[None, str, Policy] = None) -> None:
    """Recycles ``app``'s prefork children by workerlife's rules. ``policy``:
    a spec string or a :class:`~workerlife.Policy`; None reads
    ``WORKERLIFE_POLICY``. A bad setting (a bad policy, a rule Celery's
    prefork pool cannot carry out, a bad ``WORKERLIFE_TICK``,
    ``WORKERLIFE_METRICS`` or ``WORKERLIFE_POOL``) raises ``RuntimeError``
    naming it, here, before the worker starts."""
    from celery import signals  # type: ignore[import-untyped]

    if policy is None:
        chosen = policy_from_env()
    elif isinstance(policy, Policy):
        chosen = policy
    else:
        try:
            chosen = Policy.parse(policy)
        except PolicyError as e:
            raise RuntimeError(f"workerlife: bad policy {policy!r}: {e}") from e
    check_policy(chosen, HOST, "WORKERLIFE_POLICY" if policy is None else "policy")
    state.policy = chosen
    state.tick = _tick_interval()
    metrics_address()  # a malformed address stops the worker here, named
    pool_path()  # likewise a pool file whose directory is missing
    if state.installed:
        return
    state.installed = True
    for signal_, handler in (
        (signals.worker_init, _on_worker_init),
        (signals.worker_ready, _on_worker_ready),
        (signals.worker_shutdown, _on_worker_shutdown),
        (signals.worker_process_init, _on_child_start),
        (signals.worker_process_shutdown, _on_child_shutdown),
        (signals.task_prerun, _on_prerun),
        (signals.task_postrun, _on_postrun),
    ):
        signal_.connect(handler, weak=False, dispatch_uid=f"workerlife.{handler.__name__}")


# -- the parent ---------------------------------------------------------------


def _on_worker_init(sender: Any = None, **_: Any) -> None:
    """Parent, before the pool of children is made: the workerlife pool,
    and billiard's memory check turned into workerlife's way out. A setting
    that cannot be served (WORKERLIFE_POOL held by another worker or not a
    pool, WORKERLIFE_METRICS not bindable here) stops the worker: Celery
    logs and goes on past an exception of a signal handler, so it is a
    SystemExit, said in the log and on stderr."""
    if "prefork" not in str(getattr(sender, "pool_cls", "prefork")).lower():
        log.warning("workerlife: the %s pool has no children to recycle; not installed", sender.pool_cls)
        return
    try:
        _start(sender)
    except RuntimeError as e:
        log.critical("%s", e)
        raise SystemExit(str(e)) from e


def _start(sender: Any) -> None:
    policy = state.policy or Policy()
    pool = master_pool(policy, _slots(sender, policy))
    try:
        pool.set_host(HOST)
        if state.metrics is None:
            # The library's server, serving from now on; no child billiard
            # forks holds its sockets.
            state.metrics = metrics_server(pool)
    except BaseException as e:
        let_go(pool)
        if isinstance(e, PolicyError):
            raise RuntimeError(f"workerlife: bad policy {str(policy)!r}: {e}") from e
        raise
    state.pool = pool
    state.controller = sender
    # worker_init comes after Celery imported the app's task modules
    # (loader.init_worker) and before billiard forks any child: the
    # reading holds what they start from, for relative limits (max_uss=3x)
    # and sharing.
    try:
        pool.read_parent()
    except Error as e:
        log.warning(
            "workerlife: could not read this worker's memory as its children's parent (%s); "
            "the first tick reads it",
            e,
        )
    user = getattr(sender, "max_memory_per_child", None)
    state.user_limit = bool(user)
    state.limit_kib = int(user) if user else _NO_LIMIT_KIB
    if not user:
        sender.max_memory_per_child = _NO_LIMIT_KIB
    _route_billiard_memory_check()
    _leave_between_tasks()
    _report_exits()
    _event_loop_timers()
    metrics = f"; metrics on http://{state.metrics.address}/metrics" if state.metrics is not None else ""
    state.startup_line = pool.startup_line() + metrics


def _autoscale_max(sender: Any) -> Tuple[int, str]:
    """The most children ``--autoscale=MAX,MIN`` lets Celery run (0
    without it) and the setting as given, from the worker's options as its
    Pool step reads them: the command line's (max, min), or a "MAX,MIN"
    string or a list given to ``app.Worker``."""
    value = (getattr(sender, "options", None) or {}).get("autoscale")
    if not value:
        return 0, ""
    if isinstance(value, str):
        text, first = value, value.partition(",")[0]
    else:
        text, first = ",".join(str(v) for v in value), (list(value) or [""])[0]
    try:
        return int(first), text
    except (TypeError, ValueError):
        raise RuntimeError(f"workerlife: --autoscale={text}: not MAX,MIN") from None


def _slots(sender: Any, policy: Policy) -> int:
    """The pool's slots: for ``--concurrency`` children, or for the
    ``--autoscale`` maximum when it is higher (the autoscaler grows the pool
    up to it; each child claims a slot as it starts). A maximum the pool
    cannot hold stops the start, named."""
    try:
        concurrency = int(getattr(sender, "concurrency", 0) or 0)
    except (TypeError, ValueError):
        concurrency = 0  # "auto": resolved by Celery after worker_init
    concurrency = concurrency or (os.cpu_count() or 1)
    most, given = _autoscale_max(sender)
    if most <= concurrency:
        return HOST.slots(concurrency, policy)
    ceiling = HOST.slots(_U32_MAX, policy)  # the library's most
    slots = HOST.slots(min(most, _U32_MAX), policy)
    if slots >= ceiling:
        raise RuntimeError(
            f"workerlife: --autoscale={given}: {most} children are more than a workerlife pool "
            f"can hold ({ceiling} slots, two a child while one leaves and its successor starts); "
            "use a lower --autoscale maximum"
        )
    return slots


def _route_billiard_memory_check() -> None:
    """billiard's child calls ``billiard.pool.mem_rss()`` after every task
    and leaves (``EX_RECYCLE``) when it is over the limit: it reads past the
    limit once workerlife says the child must go, else the child's own
    figure (a user's ``worker_max_memory_per_child`` still holds) or, with
    no user limit, a figure under it."""
    import billiard.pool  # type: ignore[import-untyped]

    original: Callable[[], int] = billiard.pool.mem_rss
    if getattr(original, "_workerlife", False):
        return

    def mem_rss() -> int:
        if state.leaving:
            return state.limit_kib + 1
        return original() if state.user_limit else 1

    mem_rss._workerlife = True  # type: ignore[attr-defined]
    billiard.pool.mem_rss = mem_rss
    # billiard then warns that the child exceeded its memory limit: true of
    # billiard's figure only, so that line goes when workerlife decided.
    logging.getLogger("multiprocessing").addFilter(_LeavingFilter())


def _report_exits() -> None:
    """billiard reaps its children itself (``Process.join`` in
    ``_join_exited_workers``): each exit it saw is reported to the pool with
    its wait status, so a crash is counted as one, a kernel OOM kill is
    named, a child killed by workerlife is told from one that died by
    itself, and the recycle permit of a child that left comes back now
    rather than once the pool finds it gone (seconds later). The report is
    made here, in the event loop, before billiard starts the replacement:
    left to the supervisor's next round, the permit was still held when the
    replacement finished its first task, and with ``max_requests=1`` half
    the children served two (the pool's calls are thread-safe). A child
    that exits between the look and billiard's own is found gone by the
    pool, as before."""
    from billiard import pool as bpool

    original = bpool.Pool._join_exited_workers
    if getattr(original, "_workerlife", False):
        return

    def join_exited_workers(self: Any, shutdown: bool = False) -> Any:
        # The children billiard removed from its list, not those that looked
        # gone before: one that exits between a look and billiard's own
        # would be reaped without its count going back down (and billiard
        # would replace it).
        before = list(self._pool)
        try:
            return original(self, shutdown=shutdown)
        finally:
            still = {id(p) for p in self._pool}
            for p in before:
                if id(p) in still or not p.pid or p.exitcode is None:
                    continue
                _give_back_surge(self, p)  # before the supervisor hears of the exit
                code = p.exitcode
                # multiprocessing's exit code: the status, or minus the signal.
                _exited(p.pid, -code if code < 0 else (code & 0xFF) << 8)

    join_exited_workers._workerlife = True  # type: ignore[attr-defined]
    bpool.Pool._join_exited_workers = join_exited_workers


def _exited(pid: int, status: int) -> None:
    pool = state.pool
    if pool is None:
        return
    try:
        pool.exited(pid, status)
    except Error:
        pass  # not one of ours (never adopted), or found gone already


def _event_loop_timers() -> None:
    """Two timers beside billiard's own in Celery's event loop (where
    billiard's pool is run, never from the supervisor's thread), every
    tick: ``_reap_now`` and, with ``max_surge``, ``_grow_now``."""
    from celery.concurrency import asynpool  # type: ignore[import-untyped]

    cls = asynpool.AsynPool
    original = cls.timers
    if getattr(original.fget, "_workerlife", False):
        return

    def timers(self: Any) -> Any:
        out = dict(original.fget(self))
        pool = state.pool
        if pool is not None:
            out[functools.partial(_reap_now, self)] = state.tick
            if int(pool.policy["max_surge"]) > 0:
                out[functools.partial(_grow_now, self)] = state.tick
        return out

    timers._workerlife = True  # type: ignore[attr-defined]
    cls.timers = property(timers)


def _reap_now(bpool: Any) -> None:
    """In the event loop: a child that has exited is reaped now, not at
    billiard's next maintenance (every 5 s). Celery reaps when a child's
    sentinel pipe reads EOF, but the pipe closes while the child is still
    exiting, before it can be waited for: billiard's look then finds it
    running and stops watching. Until the reaping, the exited child's
    replacement is not started, a task written to its pipe waits, and its
    recycle permit is held (so the next recycle waits too)."""
    from billiard.pool import RUN

    if getattr(bpool, "_state", None) != RUN:
        return
    # ``exitcode`` waits for the child without blocking (WNOHANG).
    if any(p.exitcode is not None for p in list(bpool._pool) if getattr(p, "_popen", None) is not None):
        bpool.maintain_pool()


def _grow_now(bpool: Any) -> None:
    """max_surge: a replacement is one more child for billiard's pool.
    billiard keeps its pool at ``_processes`` children and starts one only
    to keep that count, so the pool is grown by one (``grow``, as Celery's
    autoscaler grows it) and billiard starts the child at once
    (``maintain_pool``); the new child claims the slot the pool kept for the
    replacement and says it is ready as it starts. The next exit (the
    replaced child, leaving by the recycle path once its replacement is up,
    or a replacement that died) lowers the count back before billiard looks
    at it, so nobody replaces that child.

    In the event loop: one more child for each replacement asked for,
    while fewer than ``max_surge`` added children are still there. A
    replacement asked for while the child added for the last one has not
    been reaped yet (billiard reaps a recycled child up to 5 s after it
    left, and the pool may find it gone first) waits for that."""
    from billiard.pool import RUN

    pool = state.pool
    if pool is None or not state.surge_wanted:
        return
    if state.crash_stopped or getattr(bpool, "_state", None) != RUN:
        state.surge_wanted.clear()
        return
    n = 0
    while state.surge_wanted and state.surge_grown + n < int(pool.policy["max_surge"]):
        state.surge_wanted.popleft()
        n += 1
    if not n:
        return
    bpool.grow(n)
    state.surge_grown += n
    bpool.maintain_pool()


def _give_back_surge(bpool: Any, proc: Any) -> None:
    """In the event loop, a child gone: while the pool holds children added
    for replacements, the count goes back down by one (billiard's shrink
    without its pick of a child), so billiard does not replace this one.
    A child billiard itself ended to shrink (the autoscaler) was counted
    down already."""
    if state.surge_grown <= 0 or getattr(proc, "_controlled_termination", False):
        return
    state.surge_grown -= 1
    bpool._processes -= 1
    if getattr(bpool, "_putlock", None) is not None:
        bpool._putlock.shrink()


def _leave_between_tasks() -> None:
    """Celery's child waits for its next task in a blocking read of its own
    job pipe (billiard's one-second wait does not apply to Celery's pipes).
    The read is put behind a ``select`` of one second at a time: between
    two, holding no task, a child that workerlife says must go leaves with
    ``sys.exit`` (billiard's own way out of its work loop, which then waits
    for the parent to take its last results). A job the parent wrote in the
    moment between is not lost: Celery puts a job back that a child left
    without accepting. So a recycle decided while the child idles takes
    effect within a second, not after a next task that may not come."""
    import billiard.pool

    worker_cls = billiard.pool.Worker
    original = worker_cls._make_child_methods
    if getattr(original, "_workerlife", False):
        return

    def _make_child_methods(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        reader = getattr(self.inq, "_reader", None)
        if reader is None:
            return  # not a pipe of its own: the next task is the way out
        fd = reader.fileno()
        shutdown = getattr(self, "_shutdown", None)
        wait_for_job = self.wait_for_job

        def wait_for_job_unless_leaving(*a: Any, **kw: Any) -> Any:
            if select.select([fd], [], [], 1.0)[0] or (shutdown is not None and shutdown.is_set()):
                return wait_for_job(*a, **kw)
            w = state.worker
            if w is not None and w.must_exit:
                state.leaving = True
                log.info("workerlife: child %s leaving while idle: %s", os.getpid(), w.decision())
                sys.exit(billiard.pool.EX_RECYCLE)  # billiard's sys.exit: it keeps the status
            return None  # no task yet: billiard's loop asks again

        self.wait_for_job = wait_for_job_unless_leaving

    _make_child_methods._workerlife = True  # type: ignore[attr-defined]
    worker_cls._make_child_methods = _make_child_methods


class _LeavingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (state.leaving and "exceeding memory limit" in record.getMessage())


def _on_worker_ready(sender: Any = None, **_: Any) -> None:
    """Parent, once the children run: the supervisor starts (the metrics
    server runs since ``worker_init``)."""
    pool = state.pool
    if pool is None or state.thread is not None:
        return
    if state.startup_line:
        # Once Celery's logging is set up; at warning, so that it shows at
        # Celery's default log level too.
        log.warning("%s", state.startup_line)
        state.startup_line = ""
    state.start_supervisor(pool, log, lambda: _round(pool))


def _on_worker_shutdown(sender: Any = None, **_: Any) -> None:
    state.stop_supervisor()
    if state.crash_stopped:
        log.error("workerlife: Celery worker stopped: its children crash in a loop (exit 1)")
    if state.pool is not None and os.environ.get("WORKERLIFE_POOL", "").strip():
        try:
            state.pool.remove_if_last()
        except Error:
            pass


def _children() -> list[int]:
    """The pids of billiard's children, from its own list."""
    pool = getattr(getattr(state.controller, "pool", None), "_pool", None)
    procs = getattr(pool, "_pool", None) or []
    return [p.pid for p in list(procs) if getattr(p, "pid", None)]


def _round(pool: Pool) -> None:
    """One supervisor round: adopt new children, tick, act, log events
    (billiard's exits are reported as it reaps them)."""
    adopt_workers(pool, log, _children(), "child")
    for a in pool.tick():
        if a.action == "kill":
            try:
                kill(a.pid, signal.SIGKILL, a.identity)
            except Error as e:
                log.info("workerlife: not signalling child %s: %s", a.pid, e)
        elif a.action == "spawn" and a.replaces is not None:
            _ask_for_replacement(pool, a.replaces, a.reason)
        # recycle: never a signal, the child leaves after its current task
        # when its own end() sees the decision (billiard's EX_RECYCLE); the
        # event line says so. Any other spawn: billiard keeps its count.
    for ev in pool.events():
        if ev.kind == "crash_loop":
            log.error("workerlife: %s", ev)
            if not state.crash_stopped:
                state.crash_stopped = True
                _stop_for_crash_loop()
        else:
            getattr(log, ev.severity)("workerlife: %s", ev)


def _ask_for_replacement(pool: Pool, slot: int, reason: Optional[str]) -> None:
    """max_surge: one more child, for the event loop to start (at most
    ``max_surge`` asked for and not yet started)."""
    if len(state.surge_wanted) >= int(pool.policy["max_surge"]):
        line = pool.round_error(f"not starting a replacement: {len(state.surge_wanted)} asked for already")
        if line is not None:
            log.warning("workerlife: %s", line)
        return
    state.surge_wanted.append(slot)
    log.info("workerlife: starting a replacement for slot %s: %s", slot, reason)


def _stop_for_crash_loop() -> None:
    """Children crash in a loop (more than ``max_restarts`` leaving unasked
    before ``min_uptime`` within ``restart_window``). billiard starts a new
    child as soon as one is gone, and nothing in it can hold that start
    back, so the library's delay cannot be carried out here: the worker
    stops, exit 1, for the supervisor that runs it (systemd, Kubernetes) to
    back off. Celery's consumer loop turns ``should_stop`` into its
    ``WorkerShutdown`` (a warm shutdown: billiard restarts no child once it
    closes, and waits for every child to exit)."""
    from celery.worker import state as worker_state  # type: ignore[import-untyped]

    log.error(
        "workerlife: stopping the Celery worker (exit 1): its children crash in a loop (%s); "
        "billiard starts its own children at once and cannot hold a respawn back, so workerlife "
        "cannot delay them: the worker's supervisor (systemd, Kubernetes) should back off",
        _crash_rules(),
    )
    worker_state.should_stop = 1  # EX_FAILURE: Celery's own exit code for a failed worker


def _crash_rules() -> str:
    p = state.pool.policy if state.pool is not None else (state.policy or Policy())
    return (
        f"more than max_restarts={p['max_restarts']} exits before min_uptime={float(p['min_uptime']):g}s "
        f"within restart_window={float(p['restart_window']):g}s"
    )


# -- each child ---------------------------------------------------------------


def _on_child_start(sender: Any = None, **_: Any) -> None:
    """Child, once forked: its slot."""
    state.leaving = state.told = False
    state.worker = None
    if state.pool is None:
        return
    try:
        state.worker = state.pool.claim(os.getpid())
    except Error as e:
        log.warning("workerlife: child %s runs unsupervised: %s", os.getpid(), e)
        return
    if int(state.pool.policy["max_surge"]) > 0:
        # Initialized (worker_process_init is billiard's initializer), it
        # takes work from now on: the child it replaces drains now, not
        # after a first task that may not come (an idle pool would wait
        # ready_timeout and kill the replacement). Without max_surge a
        # child serves at its first task, as before (the permit of the one
        # it follows comes back then).
        state.pool.ready(state.worker.slot)


def _on_prerun(sender: Any = None, **_: Any) -> None:
    w = state.worker
    if w is not None and w.begin():
        # The task that reaches max_requests: the last this child takes.
        state.leaving = True


def _on_postrun(sender: Any = None, **_: Any) -> None:
    w = state.worker
    if w is None:
        return
    if w.end() and not state.leaving:
        state.leaving = True
    if state.leaving and not state.told:
        state.told = True
        log.info("workerlife: child %s leaving after this task: %s", os.getpid(), w.decision())


def _on_child_shutdown(sender: Any = None, pid: Optional[int] = None, exitcode: Any = None, **_: Any) -> None:
    """Child, on its way out (billiard's recycle, Celery's shutdown): not a
    crash, and a recycle permit it held goes back."""
    if state.worker is not None:
        state.worker.exiting()
