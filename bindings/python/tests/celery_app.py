"""The Celery app of the Celery tests (``celery -A celery_app worker``): its
broker and result backend are the test's own redis-server
(``CELERY_TEST_REDIS``), workerlife is installed (policy from
``WORKERLIFE_POLICY``), and with ``CELERY_PRELOAD_MB`` the parent holds that
much before it forks (a preloaded model). With ``CELERY_CRASH_AFTER=SECONDS``
each child exits with status 1 that long after it starts (a crash loop that
billiard's own start-up check does not catch)."""

from __future__ import annotations

import os
import threading
import time
from typing import List

from celery import Celery  # type: ignore[import-untyped]
from celery.signals import worker_process_init  # type: ignore[import-untyped]
from crash_at_start import crash_if_asked

import workerlife.celery

_url = os.environ.get("CELERY_TEST_REDIS", "redis://127.0.0.1:6379/0")
app = Celery("celery_app", broker=_url, backend=_url)
app.conf.update(
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    task_acks_late=os.environ.get("CELERY_ACKS_LATE") == "1",
    worker_prefetch_multiplier=1,
    result_expires=600,
)
if os.environ.get("CELERY_MAXTASKS"):
    app.conf.worker_max_tasks_per_child = int(os.environ["CELERY_MAXTASKS"])
if os.environ.get("CELERY_MAX_MEMORY_KB"):
    app.conf.worker_max_memory_per_child = int(os.environ["CELERY_MAX_MEMORY_KB"])
if os.environ.get("WORKERLIFE_OFF") != "1":
    workerlife.celery.install(app)


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _crash_if_asked(**_: object) -> None:
    crash_if_asked()  # in each child as it starts: the crash-loop scenario


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _crash_later_if_asked(**_: object) -> None:
    after = os.environ.get("CELERY_CRASH_AFTER")
    if after:
        timer = threading.Timer(float(after), os._exit, (1,))
        timer.daemon = True
        timer.start()


# Written, so resident: pages the children share with the parent.
_preloaded = b"m" * (int(os.environ.get("CELERY_PRELOAD_MB", "0")) << 20)
_leaked: List[bytes] = []


@app.task  # type: ignore[untyped-decorator]
def noop() -> float:
    """When it ran (the benchmark's latency: from its send to this)."""
    return time.time()


@app.task  # type: ignore[untyped-decorator]
def pid() -> int:
    return os.getpid()


@app.task  # type: ignore[untyped-decorator]
def leak(mib: int) -> int:
    _leaked.append(b"x" * (mib << 20))
    return os.getpid()


@app.task  # type: ignore[untyped-decorator]
def hang(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


@app.task  # type: ignore[untyped-decorator]
def crash() -> None:
    import signal

    os.kill(os.getpid(), signal.SIGKILL)
