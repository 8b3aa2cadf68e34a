"""Starting a real gunicorn on 127.0.0.1 for a test, and a client."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple
from urllib.parse import quote

from waiting import eventually

HERE = Path(__file__).resolve().parent

# The engine stamps requests with CLOCK_MONOTONIC_COARSE (Linux clock id 6,
# which Python's time module does not name), which lags the true time by up to
# one kernel tick: a timeout can fire that much before the test's own clock
# says it is due. A lower bound on a measured timeout allows for it.
CLOCK_TICK = time.clock_getres(6) if sys.platform == "linux" else 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_group(proc: "subprocess.Popen[Any]", sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    """Stops a server a test started in a session of its own: ``sig``, up
    to ``timeout`` s for it to go, SIGKILL if it did not, then SIGKILL to
    whatever of its process group is left."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_clients(
    client: Callable[[], None],
    n: int,
    watch: Optional[Callable[[threading.Event], None]] = None,
    timeout: Optional[float] = 300,
) -> None:
    """Runs ``n`` threads of ``client`` to their end (each joined within
    ``timeout``), with ``watch(stop)`` in a thread of its own meanwhile,
    told to stop once they are done."""
    stop = threading.Event()
    watcher = threading.Thread(target=watch, args=(stop,)) if watch is not None else None
    if watcher is not None:
        watcher.start()
    clients = [threading.Thread(target=client) for _ in range(n)]
    for t in clients:
        t.start()
    for t in clients:
        t.join(timeout=timeout)
    stop.set()
    if watcher is not None:
        watcher.join()


def procs() -> Iterator[Tuple[int, int, int]]:
    """(pid, parent pid, process group) of every live (not zombie) process,
    from /proc."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            yield int(entry), int(fields[1]), int(fields[2])


def children_of(parent: int) -> List[int]:
    """Live (not zombie) children of `parent`."""
    return sorted(pid for pid, ppid, _ in procs() if ppid == parent)


def group_of(pgid: int) -> List[int]:
    """The live processes of process group `pgid` (a server's session)."""
    return sorted(pid for pid, _, group in procs() if group == pgid)


def live_children(parent: int) -> int:
    """How many live (not zombie) children `parent` has."""
    return len(children_of(parent))


def serve_beside_a_hang(server: "Gunicorn", hang_path: str) -> Tuple[List[BaseException], float, int, Set[int]]:
    """One request to `hang_path` in a thread, and, once a worker has it,
    requests to /slow from this one until it comes back (or 30 s): (what the
    hung request raised, the seconds it took, the requests served meanwhile,
    their pids)."""
    hung: List[BaseException] = []
    # The app writes its pid here as the hang begins (?mark=).
    mark = server.log_path.with_suffix(".hang")
    started = time.monotonic()

    def hang() -> None:
        try:
            server.get(f"{hang_path}{'&' if '?' in hang_path else '?'}mark={quote(str(mark))}", timeout=60)
        except BaseException as e:  # the connection drops when it is killed
            hung.append(e)

    t = threading.Thread(target=hang)
    t.start()
    eventually(mark.exists, 10, f"a worker took {hang_path}")
    served = 0
    pids: Set[int] = set()
    while t.is_alive() and time.monotonic() - started < 30:
        pids.add(server.get("/slow")[0])
        served += 1
    t.join(timeout=30)
    return hung, time.monotonic() - started, served, pids


def paced_load(server: "Gunicorn", path: str) -> Tuple[List[BaseException], int, Set[int]]:
    """4 clients × 120 requests to `path`, 10 ms apart (so a run spans many
    recycles), while the master's live children are counted from outside:
    (every failure, the most workers at once, the pids that answered)."""
    most = [0]

    def count(stop: threading.Event) -> None:
        while not stop.is_set():
            most[0] = max(most[0], live_children(server.proc.pid))
            time.sleep(0.005)

    failures: List[BaseException] = []
    pids: Set[int] = set()

    def client() -> None:
        for _ in range(120):
            try:
                pids.add(server.get(path)[0])
            except BaseException as e:  # every failure counts
                failures.append(e)
            time.sleep(0.01)

    run_clients(client, 4, watch=count, timeout=None)
    return failures, most[0], pids


class Gunicorn:
    """gunicorn with the workerlife hooks (or without, hook=False), its log
    in a file the test reads."""

    def __init__(
        self,
        tmp: Path,
        policy: str = "",
        workers: int = 2,
        worker_class: str = "sync",
        threads: int = 1,
        hook: bool = True,
        app: str = "apps:app",
        config: Optional[str] = None,
        extra_env: Optional[Dict[str, str]] = None,
        extra_args: Sequence[str] = (),
        app_dir: Optional[Path] = None,
        cgroup: Optional[Path] = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"gunicorn-{self.port}.log"
        self.worker_class = worker_class
        env = {**os.environ, "WORKERLIFE_POLICY": policy, "WORKERLIFE_TICK": "0.05"}
        env.update(extra_env or {})
        args = [
            sys.executable,
            "-m",
            "gunicorn",
            "--chdir",
            str(app_dir or HERE),
            "-b",
            f"127.0.0.1:{self.port}",
            "-w",
            str(workers),
            "-k",
            worker_class,
            "--threads",
            str(threads),
            "--log-level",
            "info",
            "--error-logfile",
            str(self.log_path),
            *extra_args,
        ]
        if config is not None:
            args += ["-c", config]
        elif hook:
            args += ["-c", "python:workerlife.gunicorn"]
        args.append(app)
        # Its own session, so that stop() ends every worker too, even those
        # of a master that had to be killed.
        # With `cgroup`, it starts in that cgroup (its `cgroup.procs`): so do
        # its workers.
        procs = None if cgroup is None else cgroup / "cgroup.procs"

        def enter() -> None:
            if procs is not None:
                procs.write_text(f"{os.getpid()}\n")

        self.proc = subprocess.Popen(
            args,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=enter if procs is not None else None,
        )

    def wait_ready(self, timeout: float = 30) -> "Gunicorn":
        def served() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.stderr()}\n{self.log()}")
            try:
                self.get("/")
                return True
            except OSError:
                return False

        eventually(served, timeout, lambda: f"{type(self).__name__} serving: {self.log()}", interval=0.05)
        return self

    def get(self, path: str = "/", timeout: float = 10) -> Tuple[int, int]:
        """(pid, rss) of the worker that answered."""
        with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
            pid, rss = r.read().split()
            return int(pid), int(rss)

    def fetch(self, path: str, timeout: float = 10) -> str:
        with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
            return str(r.read().decode())

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def lines(self, needle: str) -> List[str]:
        return [line for line in self.log().splitlines() if needle in line]

    def stderr(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")

    def stop(self) -> None:
        # Quick shutdown: a graceful one waits for hung requests. But
        # uvicorn's worker does not leave on the SIGQUIT that gunicorn's
        # quick shutdown sends it (the master waits out graceful_timeout,
        # 30 s, then kills it), and leaves at once on SIGTERM.
        uvicorn = self.worker_class.startswith("uvicorn_worker.")
        stop_group(self.proc, signal.SIGTERM if uvicorn else signal.SIGQUIT)


class Uvicorn(Gunicorn):
    """``uvicorn --workers N`` with the middleware in the app (no master of
    ours), its stderr (uvicorn's log and the watchdogs' lines) in a file."""

    def __init__(  # noqa: PLR0913 (the knobs the tests turn)
        self,
        tmp: Path,
        policy: str = "",
        workers: int = 2,
        app: str = "asgi_apps:app",
        pool: Optional[Path] = None,
        extra_env: Optional[Dict[str, str]] = None,
        http: str = "auto",
        loop: str = "auto",
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"uvicorn-{self.port}.log"
        env = {**os.environ, "WORKERLIFE_POLICY": policy}
        env.pop("WORKERLIFE_POOL", None)
        if pool is not None:
            env["WORKERLIFE_POOL"] = str(pool)
        env.update(extra_env or {})
        args = [
            sys.executable, "-m", "uvicorn", "--app-dir", str(HERE),
            "--host", "127.0.0.1", "--port", str(self.port),
            "--workers", str(workers), "--log-level", "info", "--no-access-log",
            "--http", http, "--loop", loop,
            app,
        ]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            args, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def stderr(self) -> str:
        return self.log()

    def stop(self, graceful: bool = False) -> None:
        # uvicorn's parent shuts its workers down on SIGTERM (gracefully:
        # it waits for open connections, so a test with a hung one asks
        # for no grace, and the group is killed).
        stop_group(self.proc, signal.SIGTERM, timeout=20 if graceful else 5)
        self._log.close()
