"""What every host integration's master does the same way (gunicorn,
Celery): keep its supervisor and metrics server out of the way of
``fork()``, and log the pool's events one line each."""

from __future__ import annotations

import os
import threading
from typing import Any, Optional, Protocol, Set

from . import Pool
from ._metrics import MetricsServer


class ForkingHost(Protocol):
    """The part of a host's state that a fork touches."""

    fork_lock: threading.Lock
    thread: Optional[threading.Thread]
    adopted: Set[int]
    metrics: Optional[MetricsServer]


def quiesce_around_fork(state: ForkingHost) -> None:
    """``os.fork()`` takes ``state.fork_lock``, which the supervisor holds
    for a whole round (tick, signals, logging): no child starts with a lock
    of ours, or of the log stream, held by a thread it does not have. The
    child gets a fresh lock, no supervisor, no record of children, and
    closes every socket of the metrics server it inherited."""

    def before() -> None:
        state.fork_lock.acquire()

    def after_in_parent() -> None:
        state.fork_lock.release()

    def after_in_child() -> None:
        # The lock was held by the forking thread: the child gets a fresh one.
        state.fork_lock = threading.Lock()
        state.thread = None
        state.adopted = set()
        server, state.metrics = state.metrics, None
        if server is not None:
            server.close_inherited()

    os.register_at_fork(before=before, after_in_parent=after_in_parent, after_in_child=after_in_child)


def log_events(pool: Pool, log: Any, noun: str) -> None:
    """One line per event (what operators grep for, and what the end-to-end
    tests read back) to ``log``, a ``logging.Logger`` or gunicorn's own
    logger; ``noun`` is what the host calls a worker."""
    for ev in pool.events():
        if ev.oom_killed:
            # Named for what it was, not the host's guess ("Perhaps out of memory?").
            log.error("workerlife: %s %s was OOM-killed by the kernel: %s", noun, ev.pid, ev)
        elif ev.kind in ("killed", "crash_loop", "health_check_failed", "refused") or ev.crash:
            log.warning("workerlife: %s", ev)
        else:
            log.info("workerlife: %s", ev)
