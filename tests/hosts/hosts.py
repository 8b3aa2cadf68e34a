"""THE table of hosts: every server workerlife is wired into, each as a
user starts it (the workerlife hook, middleware, plugin or helper of its
docs page), with 2 workers on a free 127.0.0.1 port.

A host entry knows how to start its server with a given policy (in
``WORKERLIFE_POLICY`` or the host's equivalent), which app it serves (each
answers the worker's pid, has a leaking and a stuck endpoint or task), how
to send it a request or task, how to list its worker pids, where it serves
metrics (if it does), and how to stop everything it started.

Every app also crashes on demand: started with ``WL_HOSTS_CRASH=FILE`` in
its environment, each worker appends its pid and a newline to FILE and
exits with status 1 right after it starts, before serving (the crash-loop
scenario)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Set

from harness import (
    ROOT,
    Failed,
    Group,
    children,
    free_port,
    http_get,
    http_text,
    make_tmp,
    remove_tmp,
    until,
)

PY_TESTS = ROOT / "bindings" / "python" / "tests"
PERL_APP = ROOT / "bindings" / "perl" / "t" / "apps" / "app.psgi"
RUBY_APPS = ROOT / "bindings" / "ruby" / "test" / "apps"
NODE_APP = ROOT / "tests" / "hosts" / "apps" / "node_cluster.js"
C_SERVER = ROOT / "target" / "c" / "prefork_server"
UNICORN_CONF = ROOT / "examples" / "ruby" / "unicorn.conf.rb"

WORKERS = 2

# What a request is, by kind: the app's path for it (HTTP hosts).
PATHS = {"hello": "/", "leak": "/leak", "hang": "/hang"}


class Server:
    """One start of a host: its processes, how to reach them."""

    def __init__(self, host: "Host", group: Group, tmp: Path, port: int, metrics_url: Optional[str]) -> None:
        self.host = host
        self.group = group
        self.tmp = tmp
        self.port = port
        self.metrics_url = metrics_url
        self.extra: List[Group] = []  # what else it started (Celery's redis-server)

    def output(self) -> str:
        return self.group.output()

    def serving(self) -> bool:
        """One request answered (no wait beyond its own short timeout)."""
        try:
            self.request("hello", timeout=2)
            return True
        except Failed:
            return False

    def request(self, kind: str, timeout: float = 10) -> int:
        """The pid of the worker that served a request of ``kind``
        ("hello", "leak", "hang"), or Failed."""
        return http_get(self.port, self.host.paths.get(kind, PATHS[kind]), timeout=timeout)

    def worker_pids(self) -> Set[int]:
        return {pid for pid, cmd in children(self.group.pid).items() if self.host.is_worker(cmd)}

    def metrics(self) -> str:
        assert self.metrics_url is not None
        return http_text(self.metrics_url)

    def stop(self) -> None:
        try:
            self.group.stop()
            for g in self.extra:
                g.stop()
        finally:
            remove_tmp(self.tmp)


class CeleryServer(Server):
    """A Celery worker and its own redis-server; a task is a request."""

    def __init__(self, host: "Host", group: Group, tmp: Path, redis: Group, url: str, metrics_url: Optional[str]) -> None:
        super().__init__(host, group, tmp, 0, metrics_url)
        self.extra.append(redis)
        self.url = url
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                from celery import Celery  # type: ignore[import-untyped]

                self._client = Celery("hosts_client", broker=self.url, backend=self.url)
                self._client.conf.update(broker_connection_retry_on_startup=True)
            return self._client

    def serving(self) -> bool:
        if "ready." not in self.output():
            return False
        try:
            self.request("hello", timeout=5)
            return True
        except Failed:
            return False

    def request(self, kind: str, timeout: float = 10) -> int:
        name, args = {"hello": ("celery_app.pid", []), "leak": ("celery_app.leak", [1]), "hang": ("celery_app.hang", [3600])}[kind]
        try:
            return int(self.client().send_task(name, args=args).get(timeout=timeout))
        except Exception as e:  # every failure of a task counts (WorkerLostError, a timeout...)
            raise Failed(f"task {name}: {e!r}") from None

    def stop(self) -> None:
        try:
            if self._client is not None:
                self._client.close()
        finally:
            super().stop()


Starter = Callable[["Host", str, bool], Server]


@dataclass
class Host:
    """A row of the table: ``start(policy, metrics)`` gives a Server."""

    name: str
    wiring: str  # how workerlife is wired in, for the page
    starter: Starter
    # Scenarios this host cannot run, each with its reason (a policy key's
    # scenario also needs the host to refuse the key at start).
    not_here: Dict[str, str] = field(default_factory=dict)
    is_worker: Callable[[str], bool] = lambda cmd: True
    # Where the metrics are served: "env" (WORKERLIFE_METRICS=HOST:PORT,
    # /metrics there), "app" (a path of the app), or None.
    metrics: Optional[str] = None
    # Paths of this host's app that differ from PATHS: an event loop's
    # stuck request awaits what never comes (the loop turns on), as a
    # request stuck on a backend does.
    paths: Dict[str, str] = field(default_factory=dict)

    def start(self, policy: str, metrics: bool = False, crash: Optional[Path] = None) -> Server:
        """Started with ``policy``; with ``crash``, every worker crashes
        at start, writing its pid there (see the module's doc)."""
        _CRASH.file = crash
        try:
            return self.starter(self, policy, metrics)
        finally:
            _CRASH.file = None


# The crash file of the start under way in this thread (each host's
# scenarios run in one thread), read by _env: so every starter passes it on
# without a parameter of its own.
_CRASH = threading.local()


def _env(**more: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKERLIFE_") and k != "WL_HOSTS_CRASH"}
    crash = getattr(_CRASH, "file", None)
    if crash is not None:
        env["WL_HOSTS_CRASH"] = str(crash)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env.update(more)
    return env


def _metrics_env(env: Dict[str, str], metrics: bool) -> Optional[str]:
    if not metrics:
        return None
    port = free_port()
    env["WORKERLIFE_METRICS"] = f"127.0.0.1:{port}"
    return f"http://127.0.0.1:{port}/metrics"


def _gunicorn(worker_class: str, threads: int = 1, app: str = "apps:app") -> Starter:
    def start(host: Host, policy: str, metrics: bool) -> Server:
        tmp = make_tmp(host.name)
        port = free_port()
        env = _env(WORKERLIFE_POLICY=policy)
        murl = _metrics_env(env, metrics)
        argv = [
            sys.executable, "-m", "gunicorn", "--chdir", str(PY_TESTS), "-b", f"127.0.0.1:{port}",
            "-w", str(WORKERS), "-k", worker_class, "--threads", str(threads), "--log-level", "info",
            "-c", "python:workerlife.gunicorn", app,
        ]
        # SIGQUIT: gunicorn's quick shutdown (a graceful one waits for stuck
        # requests). uvicorn's worker class ignores it (gunicorn waits out its
        # graceful timeout, then kills it) and leaves at once on SIGTERM.
        uvicorn = worker_class.startswith("uvicorn_worker.")
        stop = signal.SIGTERM if uvicorn else signal.SIGQUIT
        g = Group(argv, env, PY_TESTS, tmp, stop_signal=stop)
        return Server(host, g, tmp, port, murl)

    return start


def _uvicorn(host: Host, policy: str, metrics: bool) -> Server:
    tmp = make_tmp(host.name)
    port = free_port()
    env = _env(WORKERLIFE_POLICY=policy)
    argv = [
        sys.executable, "-m", "uvicorn", "--app-dir", str(PY_TESTS), "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(WORKERS), "--log-level", "info", "--no-access-log", "asgi_apps:app",
    ]
    return Server(host, Group(argv, env, PY_TESTS, tmp), tmp, port, None)


def _celery(host: Host, policy: str, metrics: bool) -> Server:
    tmp = make_tmp(host.name)
    rport = free_port()
    redis = Group(
        ["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp)],
        _env(), tmp, tmp,
    )
    url = f"redis://127.0.0.1:{rport}/0"
    try:
        import redis as redis_client

        c = redis_client.Redis(host="127.0.0.1", port=rport)

        def pong() -> bool:
            try:
                return bool(c.ping())
            except redis_client.ConnectionError:
                return False

        if not until(pong, 20):
            raise RuntimeError(f"redis-server did not start: {redis.output()}")
        c.close()
        env = _env(WORKERLIFE_POLICY=policy, CELERY_TEST_REDIS=url)
        murl = _metrics_env(env, metrics)
        argv = [
            sys.executable, "-m", "celery", "-A", "celery_app", "worker", "-P", "prefork", "-c", str(WORKERS),
            "--loglevel", "INFO", "--without-heartbeat", "--without-mingle", "--without-gossip",
        ]
        # SIGQUIT: Celery's cold shutdown (a warm one waits for stuck tasks).
        g = Group(argv, env, PY_TESTS, tmp, stop_signal=signal.SIGQUIT)
    except BaseException:
        redis.stop()
        remove_tmp(tmp)
        raise
    return CeleryServer(host, g, tmp, redis, url, murl)


def _perl_env(policy: str) -> Dict[str, str]:
    blib = ROOT / "bindings" / "perl" / "blib"
    lib = f"{blib / 'arch'}:{blib / 'lib'}:{ROOT / 'bindings' / 'perl' / 'lib'}"
    old = os.environ.get("PERL5LIB")
    # bindings/perl/t/apps/app.psgi takes its policy from WL_TEST_POLICY and
    # serves the pool's stats at /_workerlife.
    return _env(PERL5LIB=f"{lib}:{old}" if old else lib, WL_TEST_POLICY=policy, WL_TEST_POOL="")


def _starman(host: Host, policy: str, metrics: bool) -> Server:
    tmp = make_tmp(host.name)
    port = free_port()
    argv = ["starman", "--listen", f"127.0.0.1:{port}", "--workers", str(WORKERS), "--preload-app", str(PERL_APP)]
    g = Group(argv, _perl_env(policy), tmp, tmp)
    return Server(host, g, tmp, port, f"http://127.0.0.1:{port}/_workerlife" if metrics else None)


def _starlet(host: Host, policy: str, metrics: bool) -> Server:
    tmp = make_tmp(host.name)
    port = free_port()
    argv = [
        "plackup", "-s", "Starlet", "--host", "127.0.0.1", "--port", str(port), "--max-workers", str(WORKERS),
        "--max-reqs-per-child", "1000000", "-E", "deployment", str(PERL_APP),
    ]
    g = Group(argv, _perl_env(policy), tmp, tmp)
    return Server(host, g, tmp, port, f"http://127.0.0.1:{port}/_workerlife" if metrics else None)


def _ruby_env(policy: str, **more: str) -> Dict[str, str]:
    lib = str(ROOT / "bindings" / "ruby" / "lib")
    old = os.environ.get("RUBYLIB")
    return _env(RUBYLIB=f"{lib}:{old}" if old else lib, WORKERLIFE_POLICY=policy, **more)


def _puma(host: Host, policy: str, metrics: bool) -> Server:
    tmp = make_tmp(host.name)
    port = free_port()
    # Threads as Puma runs them by default (Rails ships 3): each worker
    # serves several requests at once.
    env = _ruby_env(policy, APP_PORT=str(port), APP_WORKERS=str(WORKERS), APP_THREADS="4")
    murl = _metrics_env(env, metrics)
    argv = ["puma", "-C", str(RUBY_APPS / "puma.rb"), str(RUBY_APPS / "config.ru")]
    return Server(host, Group(argv, env, tmp, tmp), tmp, port, murl)


def _unicorn(host: Host, policy: str, metrics: bool) -> Server:
    tmp = make_tmp(host.name)
    port = free_port()
    # The Puma tests' config.ru, with its own `use WorkerLife::Rack`.
    env = _ruby_env(policy, APP_MIDDLEWARE="1", UNICORN_WORKERS=str(WORKERS))
    murl = _metrics_env(env, metrics)
    argv = ["unicorn", "-c", str(UNICORN_CONF), "-l", f"127.0.0.1:{port}", str(RUBY_APPS / "config.ru")]
    # SIGINT: Unicorn's quick shutdown (SIGQUIT waits for stuck requests).
    return Server(host, Group(argv, env, tmp, tmp, stop_signal=signal.SIGINT), tmp, port, murl)


def _node(host: Host, policy: str, metrics: bool) -> Server:
    tmp = make_tmp(host.name)
    port = free_port()
    env = _env(WORKERLIFE_POLICY=policy, APP_PORT=str(port), APP_DIR=str(tmp), APP_WORKERS=str(WORKERS))
    murl = _metrics_env(env, metrics)
    g = Group(["node", str(NODE_APP)], env, tmp, tmp)
    return Server(host, g, tmp, port, murl)


def _c(host: Host, policy: str, metrics: bool) -> Server:
    tmp = make_tmp(host.name)
    port = free_port()
    # The policy is the example's third argument.
    env = _env()
    murl = _metrics_env(env, metrics)
    g = Group([str(C_SERVER), str(port), str(WORKERS), policy], env, tmp, tmp)
    return Server(host, g, tmp, port, murl)


NO_METRICS = "serves no metrics endpoint"

HOSTS: List[Host] = [
    Host(
        "gunicorn sync",
        "`gunicorn -c python:workerlife.gunicorn -k sync` (docs/python.md)",
        _gunicorn("sync"),
        metrics="env",
    ),
    Host(
        "gunicorn gthread",
        "`gunicorn -c python:workerlife.gunicorn -k gthread --threads 4`",
        _gunicorn("gthread", threads=4),
        metrics="env",
    ),
    Host(
        "uvicorn --workers 2",
        "`app = workerlife.asgi.WorkerLife(app)`, `uvicorn --workers 2`",
        _uvicorn,
        paths={"hang": "/hang?how=await"},
        not_here={
            "metrics": "no master to serve it: uvicorn --workers runs none of workerlife's; "
            "WORKERLIFE_METRICS is refused at start",
            "crash_loop": "uvicorn's supervisor runs none of workerlife's code: it restarts a crashed "
            "worker itself, and a worker that crashes at start does so before the middleware exists",
        },
        is_worker=lambda cmd: "resource_tracker" not in cmd,
    ),
    Host(
        "gunicorn UvicornWorker",
        "`gunicorn -c python:workerlife.gunicorn -k uvicorn_worker.UvicornWorker`",
        _gunicorn("uvicorn_worker.UvicornWorker", app="asgi_apps:plain"),
        paths={"hang": "/hang?how=await"},
        metrics="env",
    ),
    Host(
        "Celery prefork",
        "`workerlife.celery.install(app)`, `celery worker -P prefork -c 2`",
        _celery,
        metrics="env",
    ),
    Host(
        "Starman",
        "`enable 'WorkerLife'` (Plack), `starman --preload-app --workers 2`",
        _starman,
        metrics="app",
    ),
    Host(
        "Starlet",
        "`enable 'WorkerLife'` (Plack), `plackup -s Starlet --max-workers 2`",
        _starlet,
        metrics="app",
    ),
    Host(
        "Puma cluster",
        "`plugin :workerlife` in puma.rb, `workers 2`, `threads 1, 4`",
        _puma,
        metrics="env",
    ),
    Host(
        "Node cluster",
        "`workerlife.cluster({ workers: 2 })` and `workerlife.http.handler`",
        _node,
        metrics="env",
    ),
    Host(
        "C prefork example",
        "`examples/c/prefork_server.c`: a master of its own on `wl_pool_tick`",
        _c,
        metrics="env",
    ),
    Host(
        "Unicorn",
        "`examples/ruby/unicorn.conf.rb` (`WorkerLife::Host.start` in `after_fork`), `use WorkerLife::Rack`",
        _unicorn,
        metrics="env",
    ),
]
