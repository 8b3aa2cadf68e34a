"""What every host integration's master does the same way (gunicorn,
Celery): its supervisor thread (out of the way of ``fork()``, errors logged
once, stopped at shutdown), the pool's events one line each, and the
server's own list of its workers adopted."""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, Iterable, Optional

from . import MetricsServer, Pool


class Supervisor:
    """The master's supervisor, the same in every Python host (gunicorn,
    Celery): a thread that runs the host's round every ``tick`` seconds,
    each failing round logged the library's way (``round_failed``) and
    survived, and a stop that joins it and the metrics server.

    ``os.fork()`` takes ``fork_lock``, which the thread holds for a whole
    round (tick, signals, logging): no child starts with a lock of ours, or
    of the log stream, held by a thread it does not have. The child gets a
    fresh lock, no supervisor (the pool forgets the master's record of
    children and round errors itself), and lets go of the metrics server,
    which is not its own: the library closed the server's sockets (its
    port, the connection being answered) at the fork."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.thread: Optional[threading.Thread] = None
        self.metrics: Optional[MetricsServer] = None
        self.tick = 0.1
        self.fork_lock = threading.Lock()
        os.register_at_fork(
            before=self._before_fork,
            after_in_parent=self._after_fork_in_parent,
            after_in_child=self._after_fork_in_child,
        )

    def start_supervisor(self, pool: Pool, log: Any, round: Callable[[], None]) -> None:
        """Starts the thread (once; a running one is left alone)."""
        if self.thread is not None:
            return

        def supervise() -> None:
            while not self.stop.wait(self.tick):
                with self.fork_lock:
                    try:
                        round()
                    except BaseException as e:  # noqa: B036 -- the supervisor outlives any bad round
                        # Everything, a PanicException included (it is no
                        # Exception): a supervisor that died would leave
                        # every worker unguarded, silently.
                        round_failed(pool, log, e)

        self.stop.clear()
        self.thread = threading.Thread(target=supervise, name="workerlife-supervisor", daemon=True)
        self.thread.start()

    def stop_supervisor(self, timeout: float = 5) -> None:
        """At the host's shutdown: the thread stopped and joined (up to
        ``timeout`` s: a round is short), then the metrics server."""
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=timeout)
            self.thread = None
        if self.metrics is not None:
            self.metrics.stop()
            self.metrics = None

    def _before_fork(self) -> None:
        self.fork_lock.acquire()

    def _after_fork_in_parent(self) -> None:
        self.fork_lock.release()

    def _after_fork_in_child(self) -> None:
        # The lock was held by the forking thread: the child gets a fresh one.
        self.fork_lock = threading.Lock()
        self.thread = None
        self.metrics = None


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
