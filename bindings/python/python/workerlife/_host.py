"""What every host integration's master does the same way (gunicorn,
Celery): keep its supervisor out of the way of ``fork()``, and log the
pool's events one line each."""

from __future__ import annotations

import os
import threading
from typing import Any, Iterable, Optional, Protocol

from . import MetricsServer, Pool


class ForkingHost(Protocol):
    """The part of a host's state that a fork touches."""

    fork_lock: threading.Lock
    thread: Optional[threading.Thread]
    metrics: Optional[MetricsServer]


def quiesce_around_fork(state: ForkingHost) -> None:
    """``os.fork()`` takes ``state.fork_lock``, which the supervisor holds
    for a whole round (tick, signals, logging): no child starts with a lock
    of ours, or of the log stream, held by a thread it does not have. The
    child gets a fresh lock, no supervisor (the pool forgets the master's
    record of children and round errors itself), and lets go of the metrics
    server, which is not its own: the library closed the server's sockets
    (its port, the connection being answered) at the fork."""

    def before() -> None:
        state.fork_lock.acquire()

    def after_in_parent() -> None:
        state.fork_lock.release()

    def after_in_child() -> None:
        # The lock was held by the forking thread: the child gets a fresh one.
        state.fork_lock = threading.Lock()
        state.thread = None
        state.metrics = None

    os.register_at_fork(before=before, after_in_parent=after_in_parent, after_in_child=after_in_child)


def log_events(pool: Pool, log: Any) -> None:
    """Each event in the library's one line (what operators grep for, and
    what the end-to-end tests read back), at the event's own severity, to
    ``log``: a ``logging.Logger`` or gunicorn's own logger."""
    for ev in pool.events():
        getattr(log, ev.severity)("workerlife: %s", ev)


def round_failed(pool: Pool, log: Any, e: BaseException) -> None:
    """An error of the master's round, logged the library's way: each
    distinct one once, then with its count at 10, 100, 1000... (never a
    line per tick)."""
    line = pool.round_error(f"{type(e).__name__}: {e}")
    if line is not None:
        log.error("workerlife: supervisor round failed (supervision goes on): %s", line)


def adopt_workers(pool: Pool, log: Any, pids: Iterable[int], noun: str) -> None:
    """Takes on the server's own list of its workers (the only processes the
    master will signal); a pid that is not our child is refused, and said
    once (through ``round_error``)."""
    _, refused = pool.adopt_all(list(pids))
    for pid, why in refused:
        line = pool.round_error(f"not adopting {noun} {pid}: {why}")
        if line is not None:
            log.warning("workerlife: %s", line)
