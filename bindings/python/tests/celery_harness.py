"""A redis-server and a real ``celery worker -P prefork`` for a test, each
started by it and stopped by it (every process of the worker's session),
even when the test fails."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

from server import HERE, free_port, stop_group
from waiting import eventually


@contextlib.contextmanager
def redis_server(tmp: Path) -> Iterator[str]:
    """A redis-server of the test's own on a free port: its URL."""
    import redis

    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        client = redis.Redis(host="127.0.0.1", port=port)

        def answers() -> bool:
            if proc.poll() is not None:
                raise RuntimeError("redis-server exited")
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        eventually(answers, 20, "redis-server answering", interval=0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_group(proc, signal.SIGTERM, timeout=10)


class CeleryWorker:
    """``celery -A celery_app worker -P prefork -c N`` (and ``args``), its
    log in a file."""

    def __init__(
        self,
        tmp: Path,
        redis_url: str,
        policy: str = "",
        concurrency: int = 4,
        env: Optional[Dict[str, str]] = None,
        args: Sequence[str] = (),
    ) -> None:
        port = free_port()
        self.log_path = tmp / f"celery-{port}.log"
        # What Celery prints itself (an app that failed to load, a start refused).
        self.out_path = tmp / f"celery-{port}.out"
        self._out = open(self.out_path, "wb")
        full = {**os.environ, "CELERY_TEST_REDIS": redis_url, "WORKERLIFE_POLICY": policy, "WORKERLIFE_TICK": "0.05"}
        full.update(env or {})
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "celery_app", "worker", "-P", "prefork",
                "-c", str(concurrency), "--loglevel", "INFO", "--without-heartbeat",
                "--without-mingle", "--without-gossip", "--logfile", str(self.log_path), *args,
            ],
            cwd=HERE,
            env=full,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def refused(self, timeout: float = 60) -> str:
        """For a worker that must not start: waits for its exit (non-zero),
        then its log and output."""
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            self.stop()
        text = self.log() + self.out_path.read_text(errors="replace")
        assert code != 0, f"celery started: {text[-3000:]}"
        return text

    def wait_ready(self, timeout: float = 60) -> "CeleryWorker":
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"celery exited: {self.log()}")
            return "ready." in self.log()

        eventually(ready, timeout, lambda: f"celery ready: {self.log()}", interval=0.05)
        return self

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def lines(self, needle: str) -> List[str]:
        return [line for line in self.log().splitlines() if needle in line]

    def stop(self) -> None:
        stop_group(self.proc, signal.SIGTERM, timeout=30)  # a warm shutdown
        self._out.close()


@contextlib.contextmanager
def celery_worker(tmp: Path, redis_url: str, **kw: object) -> Iterator[CeleryWorker]:
    w = CeleryWorker(tmp, redis_url, **kw)  # type: ignore[arg-type]
    try:
        yield w.wait_ready()
    finally:
        w.stop()
