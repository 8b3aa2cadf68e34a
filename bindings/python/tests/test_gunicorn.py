"""End to end with a real gunicorn on 127.0.0.1, started by each test."""

from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import socket
import tempfile
import subprocess
import threading
import urllib.request
import time
import urllib.error
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

from server import CLOCK_TICK, HERE, Gunicorn, children_of, free_port, group_of, paced_load, serve_beside_a_hang
from waiting import eventually, quiet_for


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[List[Gunicorn]]:
    started: List[Gunicorn] = []
    yield started
    for s in started:
        s.stop()


def start(servers: List[Gunicorn], tmp_path: Path, **kw: object) -> Gunicorn:
    g = Gunicorn(tmp_path, **kw)  # type: ignore[arg-type]
    servers.append(g)
    return g.wait_ready()


@pytest.mark.parametrize("worker_class", ["sync", "gthread"])
def test_max_requests_rotates_pids(servers: List[Gunicorn], tmp_path: Path, worker_class: str) -> None:
    # Without a budget, so no worker has to wait for a permit (a worker that
    # waits keeps serving, by design).
    g = start(
        servers,
        tmp_path,
        policy="max_requests=20,max_concurrent_recycles=0",
        worker_class=worker_class,
        threads=4 if worker_class == "gthread" else 1,
    )
    per_pid: collections.Counter[int] = collections.Counter()
    failed = 0
    for _ in range(300):
        try:
            pid, _ = g.get("/")
            per_pid[pid] += 1
        except (OSError, urllib.error.URLError):
            failed += 1
    assert failed == 0
    # The request that reaches the limit is known when it begins. gthread's
    # main loop may still accept one connection that arrived in the same
    # poll as the wake-up (gunicorn's own max_requests has the same race);
    # with one client that is one request at most. sync stops exactly.
    slack = 1 if worker_class == "gthread" else 0
    assert max(per_pid.values()) <= 20 + slack, per_pid
    assert len(per_pid) >= 300 // (20 + slack)
    leaving = g.lines("leaving after this request: max_requests: 20 >= 20")
    assert len(leaving) >= 300 // 20 - 2, g.log()


def test_leaking_app_is_held_under_max_rss(servers: List[Gunicorn], tmp_path: Path) -> None:
    limit = 100 << 20
    g = start(servers, tmp_path, policy="max_rss=100MiB,sample_interval=50ms")
    rss_seen: List[int] = []
    pids = set()
    for _ in range(400):
        pid, rss = g.get("/leak")  # about 1 MiB more each
        pids.add(pid)
        rss_seen.append(rss)
        time.sleep(0.004)
    # Sampling every 50 ms at ~5 ms a request lets a worker pass the limit
    # by about 10 MiB before it is told; without workerlife it would reach
    # 200+ MiB in each worker.
    assert max(rss_seen) < limit + (24 << 20), max(rss_seen)
    assert len(pids) >= 4
    recycles = g.lines("recycle_requested") + g.lines("leaving after this request")
    assert recycles and all("memory_rss" in line for line in recycles), g.log()
    assert not g.lines("workerlife: killed slot=")
    # Each recycle says, once, why and how fast the worker grew: about 1 MiB
    # a request (the library's line: one line a recycle in the master).
    grew = [re.search(r"reason=memory_rss \(\S+ >= 100MiB, grew ([\d.]+) (KiB|MiB)/request over (\d+) requests\)", line)
            for line in g.lines("recycle_requested")]
    assert grew and all(grew), g.log()
    assert all(line.count("memory_rss") == 1 for line in g.lines("recycle_requested")), g.log()
    for m in grew:
        assert m is not None
        per_request = float(m.group(1)) * (1 << (20 if m.group(2) == "MiB" else 10))
        assert abs(per_request - (1 << 20)) <= 0.1 * (1 << 20), m.group(0)


def test_hanging_request_is_killed_while_the_other_worker_serves(
    servers: List[Gunicorn], tmp_path: Path
) -> None:
    g = start(servers, tmp_path, policy="request_timeout=2s", workers=2)
    hung, elapsed, served, pids = serve_beside_a_hang(g, "/hang")
    assert hung, "the hanging request came back"
    assert 1.9 < elapsed < 15, elapsed
    assert served >= 20
    # The master logs the kill after it (the client may see it first).
    kills = eventually(lambda: g.lines("workerlife: killed slot="), 10, g.log)
    assert len(kills) == 1 and re.search(r"reason=request_timeout \(\d+(\.\d+)?s >= 2s\)", kills[0]), g.log()
    killed_pid = int(re.search(r" pid=(\d+)", kills[0]).group(1))  # type: ignore[union-attr]
    assert killed_pid not in pids  # the other worker served all the while
    # And the server goes on with a replacement.
    assert g.get("/")[0] != killed_pid


def test_gthread_kills_a_worker_with_one_request_stuck_among_busy_threads(
    servers: List[Gunicorn], tmp_path: Path
) -> None:
    """Each request holds a ticket: one hung request among 3 clients that
    keep the same worker's threads busy with short ones is killed at its own
    request_timeout (before tickets, the others' ends restarted the timer),
    and the replacement serves on."""
    g = start(servers, tmp_path, policy="request_timeout=1s", worker_class="gthread", threads=4, workers=1)
    assert g.lines("workerlife on for gunicorn (gthread)"), g.log()
    first, _ = g.get("/")
    stop = threading.Event()
    lock = threading.Lock()
    served: List[Tuple[float, int]] = []  # (when, pid) of each short request

    def busy() -> None:
        while not stop.is_set():
            try:
                pid, _ = g.get("/slow")
            except OSError:  # those in flight when the worker is killed
                continue
            with lock:
                served.append((time.monotonic(), pid))

    clients = [threading.Thread(target=busy) for _ in range(3)]
    for t in clients:
        t.start()
    try:
        # The clients keep the worker busy before the hang begins.
        eventually(lambda: len(served) >= 30, 10, "30 short requests served")
        failed_at: List[float] = []
        sent = time.monotonic()

        def hang() -> None:
            try:
                g.get("/hang", timeout=30)
            except OSError:  # the connection drops when the worker is killed
                failed_at.append(time.monotonic())

        stuck = threading.Thread(target=hang)
        stuck.start()
        stuck.join(timeout=15)
        assert failed_at, "the stuck request was never ended"
        elapsed = failed_at[0] - sent
        assert 1.0 - CLOCK_TICK <= elapsed < 2.0, elapsed
        # The master logs the kill after it (the client may see it first).
        kills = eventually(lambda: g.lines("workerlife: killed slot="), 10, g.log)
        assert len(kills) == 1 and f" pid={first} " in kills[0], g.log()
        assert re.search(r"reason=request_timeout \(1(\.\d+)?s >= 1s\)", kills[0]), kills[0]
        # The same worker kept serving short requests while the hung one waited.
        with lock:
            beside = [pid for when, pid in served if sent < when < failed_at[0]]
        assert len(beside) >= 10 and set(beside) == {first}, beside
        # Serving goes on, from the replacement.
        def after() -> bool:
            with lock:
                return len([pid for when, pid in served if when > failed_at[0] and pid != first]) >= 10

        eventually(after, 15, lambda: f"10 requests served by the replacement: {g.log()}")
    finally:
        stop.set()
        for t in clients:
            t.join(timeout=15)
    assert len(g.lines("workerlife: killed slot=")) == 1, g.log()


def test_gthread_requests_that_raise_give_their_tickets_back(servers: List[Gunicorn], tmp_path: Path) -> None:
    """post_request ends a failed request's ticket: after 20 requests whose
    app raised, no cell is left in flight to time, so request_timeout kills
    no worker (a ticket left behind would get it killed after 1 s)."""
    g = start(servers, tmp_path, policy="request_timeout=1s", worker_class="gthread", threads=4, workers=1)
    pid, _ = g.get("/")
    for _ in range(20):
        with pytest.raises(urllib.error.HTTPError) as e:
            g.get("/boom")
        assert e.value.code == 500
    quiet_for(
        2.5,
        "more than twice request_timeout: a ticket left behind would get the worker killed",
        holds=lambda: g.get("/slow")[0] == pid,
        interval=0,
        what=g.log,
    )
    assert not g.lines("workerlife: killed slot="), g.log()
    assert len(g.lines("Error handling request")) == 20, g.log()


def parse_events(log: str) -> List[Tuple[str, int]]:
    out = []
    for m in re.finditer(r"workerlife: (recycle_requested|exited|spawned|killed) slot=(\d+)", log):
        out.append((m.group(1), int(m.group(2))))
    return out


@pytest.mark.parametrize("worker_class", ["sync", "gthread"])
def test_concurrent_load_no_failures_and_the_budget_holds(
    servers: List[Gunicorn], tmp_path: Path, worker_class: str
) -> None:
    g = start(
        servers,
        tmp_path,
        policy="max_requests=40,max_requests_jitter=20,max_concurrent_recycles=1",
        workers=4,
        worker_class=worker_class,
        threads=2 if worker_class == "gthread" else 1,
    )
    ok = collections.Counter[int]()
    errors: List[str] = []
    lock = threading.Lock()

    def client() -> None:
        for _ in range(150):
            try:
                pid, _ = g.get("/")
                with lock:
                    ok[pid] += 1
            except Exception as e:
                with lock:
                    errors.append(repr(e))

    threads = [threading.Thread(target=client) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(ok.values()) == 900
    # The last recycles and exits reach the log (a worker that waited for
    # the permit is told to go once it has it, idle or not).
    eventually(lambda: (lambda kinds: kinds.count("recycle_requested") >= 4 and kinds.count("exited") >= 3)(
        [kind for kind, _ in parse_events(g.log())]), 10, g.log)
    events = parse_events(g.log())
    draining: set[int] = set()
    most = 0
    recycles = 0
    for kind, slot in events:
        if kind == "recycle_requested":
            draining.add(slot)
            recycles += 1
        elif kind in ("exited", "killed"):
            draining.discard(slot)
        most = max(most, len(draining))
    # One drain at a time paces the recycles: a worker waiting for the
    # permit keeps serving past its limit (by design), so there are fewer
    # recycles than 900 / 60.
    assert recycles >= 4, g.log()
    assert most == 1, g.log()
    # Workers told to go did leave (which pids the clients then meet
    # depends on the kernel's accept order, so they are not counted).
    exits = [slot for kind, slot in events if kind == "exited"]
    assert len(exits) >= 3, g.log()


def test_bad_policy_stops_gunicorn_naming_the_key(tmp_path: Path) -> None:
    g = Gunicorn(tmp_path, policy="max_requests=10,max_reqests=5")
    assert g.proc.wait(timeout=30) != 0
    err = g.stderr() + g.log()
    assert "max_reqests" in err and "WORKERLIFE_POLICY" in err
    bad_value = Gunicorn(tmp_path, policy="max_rss=lots")
    assert bad_value.proc.wait(timeout=30) != 0
    assert 'invalid value "lots" for max_rss' in bad_value.stderr()


def test_metrics_and_own_config_file(servers: List[Gunicorn], tmp_path: Path) -> None:
    from server import free_port

    conf = tmp_path / "gunicorn.conf.py"
    marker = tmp_path / "forked"
    conf.write_text(
        "import workerlife.gunicorn\n"
        "from workerlife.gunicorn import on_starting, when_ready, pre_request, post_request, child_exit, on_exit\n"
        "def post_fork(server, worker):\n"
        "    workerlife.gunicorn.post_fork(server, worker)\n"
        f"    open({str(marker)!r}, 'a').write('x')\n"
    )
    port = free_port()
    g = start(
        servers,
        tmp_path,
        policy="max_requests=7",
        config=str(conf),
        extra_env={"WORKERLIFE_METRICS": f"127.0.0.1:{port}"},
    )
    for _ in range(30):
        g.get("/")
    import urllib.request

    def counted() -> str:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        total = re.search(r"^workerlife_requests_total (\d+)", text, re.M)
        recycled = re.search(r'^workerlife_recycles_total\{reason="max_requests"\} [1-9]', text, re.M)
        return text if total and int(total.group(1)) >= 30 - 1 and recycled else ""

    eventually(counted, 10, "the requests and a max_requests recycle in /metrics")
    # The user's own hook ran in every worker: the first two and the
    # replacements (forked once the old ones have gone).
    eventually(lambda: len(marker.read_text()) >= 4, 10, lambda: f"4 forks, {marker.read_text()!r}")
    import json

    stats = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5).read())
    assert stats["slots"] == 2 * 2 + 8
    assert len(marker.read_text()) >= 4  # the user's own hook ran in every worker


def test_a_worker_cannot_aim_the_root_masters_signals(servers: List[Gunicorn], tmp_path: Path) -> None:
    """The master runs as root, the workers as nobody (gunicorn --user), as
    production servers run; an app claims a slot for an unrelated root
    process and asks for its recycle, or leaves a request hanging on it."""
    # The workers, as nobody, import the app: from a copy they can read
    # (the checkout may sit where only root can enter, as root's home does).
    readable = Path(tempfile.mkdtemp(prefix="workerlife-apps-"))
    os.chmod(readable, 0o755)
    for name in ("apps.py", "crash_at_start.py"):  # apps.py imports crash_at_start
        shutil.copy(Path(__file__).parent / name, readable / name)
        os.chmod(readable / name, 0o644)
    victim = subprocess.Popen(["sleep", "60"])
    try:
        g = start(
            servers,
            tmp_path,
            policy="request_timeout=1s",
            workers=2,
            extra_args=("--user", "nobody", "--group", "nogroup"),
            app_dir=readable,
        )
        worker_pid, _ = g.get("/")
        assert os.stat(f"/proc/{worker_pid}").st_uid != 0, "the workers dropped root"
        g.get(f"/attack?pid={victim.pid}&how=recycle")
        g.get(f"/attack?pid={victim.pid}&how=hang")
        quiet_for(
            2.5,
            "past request_timeout, many supervisor ticks: the victim is never signalled",
            holds=lambda: victim.poll() is None,
        )
        assert not g.lines(f"worker {victim.pid}"), g.log()
        refused = g.lines(f"refused slot=")
        assert any(f"pid={victim.pid}" in line and "reason=manual" in line for line in refused), g.log()
        assert any(f"pid={victim.pid}" in line and "reason=request_timeout" in line for line in refused)
        assert g.get("/")[0] > 0, "and the server still serves"
    finally:
        victim.kill()
        victim.wait()
        shutil.rmtree(readable, ignore_errors=True)


def test_heartbeat_timeout_is_fed_by_gunicorns_liveness_loop(servers: List[Gunicorn], tmp_path: Path) -> None:
    g = Gunicorn(tmp_path, policy="heartbeat_timeout=2s")  # gunicorn's --timeout is 30 s
    assert g.proc.wait(timeout=30) != 0
    assert "heartbeat_timeout=2s cannot be fed here" in g.stderr() + g.log()
    fed = start(servers, tmp_path, policy="heartbeat_timeout=2s", extra_args=("--timeout", "2"))
    fed.get("/")
    quiet_for(6, "idle, three heartbeat_timeouts: only gunicorn's own loop beats, and no worker is killed",
              holds=lambda: not fed.lines("killed slot="), what=fed.log)
    assert fed.get("/")[0] > 0


def socket_fds(pid: int) -> int:
    fd_dir = f"/proc/{pid}/fd"
    return sum(os.readlink(f"{fd_dir}/{fd}").startswith("socket:") for fd in os.listdir(fd_dir))


def port_socket_inodes(port: int) -> set[str]:
    """The inodes of every TCP socket with ``port`` at either end: the
    listener, and both ends of each connection (/proc/net/tcp)."""
    found: set[str] = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if port in (int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)):
                found.add(fields[9])
    return found


def socket_inodes(pid: int) -> set[str]:
    fd_dir = f"/proc/{pid}/fd"
    links = []
    for fd in os.listdir(fd_dir):
        try:
            links.append(os.readlink(f"{fd_dir}/{fd}"))
        except OSError:
            pass  # closed meanwhile
    return {link[len("socket:[") : -1] for link in links if link.startswith("socket:[")}


def test_workers_inherit_no_metrics_sockets(servers: List[Gunicorn], tmp_path: Path) -> None:
    """Workers fork while the master's metrics server holds a client (40
    wait their turn, each sending nothing): no worker holds the metrics port
    or a connection of the server's (the library closes them at the fork)."""
    metrics_port = free_port()
    g = start(
        servers,
        tmp_path,
        policy="max_requests=5,max_concurrent_recycles=0",
        extra_env={"WORKERLIFE_METRICS": f"127.0.0.1:{metrics_port}"},
    )
    held = [socket.create_connection(("127.0.0.1", metrics_port)) for _ in range(40)]
    try:
        # The metrics server (in the master) holds the first: the listener
        # and an accepted connection among the master's sockets.
        eventually(lambda: len(socket_inodes(g.proc.pid) & port_socket_inodes(metrics_port)) >= 2, 10,
                   "the metrics server accepted a client")
        seen = set()
        for _ in range(30):  # workers recycle and new ones fork meanwhile
            seen.add(g.get("/")[0])
        assert len(seen) >= 4, seen
        # Every worker alive now (one may leave, its 5 requests served,
        # while it is looked at: it holds nothing then).
        looked = 0
        for pid in children_of(g.proc.pid):
            try:
                fds = socket_fds(pid)
                held_here = socket_inodes(pid) & port_socket_inodes(metrics_port)
            except FileNotFoundError:
                continue
            assert fds < 8, (pid, fds)
            assert not held_here, (pid, held_here)
            looked += 1
        assert looked >= 1, "no live worker to look at"
    finally:
        for s in held:
            s.close()


def test_a_worker_that_dies_is_a_crash_and_a_scale_down_is_not(
    servers: List[Gunicorn], tmp_path: Path
) -> None:
    metrics_port = free_port()
    g = start(servers, tmp_path, extra_env={"WORKERLIFE_METRICS": f"127.0.0.1:{metrics_port}"})
    metrics = f"http://127.0.0.1:{metrics_port}/metrics"

    def crashes() -> int:
        with urllib.request.urlopen(metrics, timeout=5) as r:
            text = r.read().decode()
        m = re.search(r"^workerlife_crashes_total (\d+)$", text, re.M)
        assert m is not None, text
        return int(m.group(1))

    def wait_for(*needles: str) -> List[str]:
        return eventually(
            lambda: [line for line in g.lines("workerlife: exited") if any(n in line for n in needles)],
            10,
            lambda: f"an exit line with {needles!r}:\n{g.log()}",
        )

    with pytest.raises(Exception):
        g.get("/die")  # the app kills its own worker with SIGKILL
    died = wait_for("status=9")
    assert len(died) == 1 and died[0].rstrip().endswith("crash") and "[WARNING]" in died[0], died
    assert crashes() == 1
    # A scale-down: gunicorn's arbiter asks a worker to leave (SIGTERM).
    g.proc.send_signal(signal.SIGTTOU)
    # Status 0, or SIGTERM itself when it reached a worker still booting
    # (before gunicorn installs its handlers): asked for either way.
    left = wait_for("status=0", "status=15")
    assert not any(line.rstrip().endswith("crash") for line in left), left
    assert crashes() == 1
    # One crash is no crash loop: gunicorn goes on serving.
    assert g.proc.poll() is None and not g.lines("crash_loop") and not g.lines("stopping gunicorn"), g.log()
    assert g.get("/")[0] > 0


@pytest.mark.parametrize(
    "worker_class,app",
    [("sync", "apps:app"), ("gthread", "apps:app"), ("uvicorn_worker.UvicornWorker", "asgi_apps:plain")],
)
def test_a_crash_loop_stops_gunicorn_non_zero(
    servers: List[Gunicorn], tmp_path: Path, worker_class: str, app: str
) -> None:
    """Every worker exits with status 1 as it imports the app: gunicorn
    respawns at once and cannot delay it, so the first crash_loop event
    stops it, said, with exit status 1 and no worker left."""
    record = tmp_path / "crashed"
    g = Gunicorn(tmp_path, worker_class=worker_class, app=app, extra_env={"WL_HOSTS_CRASH": str(record)})
    servers.append(g)
    rc = g.proc.wait(timeout=30)
    log = g.log()
    assert rc == 1, log
    assert not group_of(g.proc.pid), "every worker stopped"
    # Slot by slot: the 6th crash of a slot (max_restarts=5) is the loop.
    assert 6 <= len(record.read_text().splitlines()) <= 20, log
    loops = [line for line in log.splitlines() if "workerlife: crash_loop slot=" in line]
    assert len(loops) >= 1 and all("[ERROR]" in line for line in loops), log
    stopping = g.lines("workerlife: stopping gunicorn: its workers crash in a loop")
    assert len(stopping) == 1 and "[ERROR]" in stopping[0], log
    assert "its supervisor (systemd, Kubernetes) should back off" in stopping[0]
    assert log.index("workerlife: crash_loop slot=") < log.index("workerlife: stopping gunicorn")
    assert g.lines("Reason: workerlife: the workers crash in a loop"), log
    assert "Traceback" not in log + g.stderr(), log


@pytest.mark.parametrize(
    "reason,policy,path",
    [
        ("max_requests", "max_requests=40,max_surge=1", "/"),
        ("max_lifetime", "max_lifetime=1s,max_surge=1", "/"),
        ("memory_rss", "max_rss=48MiB,max_surge=1,sample_interval=100ms", "/leak"),
    ],
)
@pytest.mark.parametrize("worker_class", ["sync", "gthread"])
def test_replace_before_retire_under_load(
    servers: List[Gunicorn], tmp_path: Path, worker_class: str, reason: str, policy: str, path: str
) -> None:
    """max_surge=1: every recycle (by requests, lifetime or memory) starts a
    replacement first and retires the old worker once it is ready; under load
    no request fails and gunicorn never runs more than workers + 1 workers
    (counted from outside)."""
    g = start(
        servers,
        tmp_path,
        policy=policy,
        workers=2,
        worker_class=worker_class,
        threads=2 if worker_class == "gthread" else 1,
    )
    failures, most, pids = paced_load(g, path)
    assert not failures, failures[:3]
    assert most <= 3, f"{most} workers at once with 2 workers and max_surge=1\n{g.log()}"
    assert len(pids) >= 4, (pids, g.log())  # 2 first workers and their replacements
    assert any(line.endswith(reason) for line in g.lines("starting a replacement for slot")), g.log()
    assert g.lines("workerlife: ready slot="), g.log()


def test_a_replacement_that_never_gets_ready_is_killed_and_the_worker_retires(
    servers: List[Gunicorn], tmp_path: Path
) -> None:
    """Boots 1 and 2 are the first workers; boot 3, the first replacement,
    hangs in import: killed at ready_timeout, the old worker then retires the
    plain way, and the server goes on serving without a failed request."""
    g = start(
        servers,
        tmp_path,
        policy="max_requests=20,max_surge=1,ready_timeout=2s",
        workers=2,
        app="apps_hang_once:app",
        extra_env={"WL_BOOT_COUNT": str(tmp_path / "boots"), "WL_HANG_BOOT": "3"},
    )
    failures = 0

    def killed_late() -> List[str]:
        return [line for line in g.lines("workerlife: killed slot=") if "reason=ready_timeout" in line]

    def served_until_killed() -> List[str]:
        nonlocal failures
        try:
            g.get("/")
        except OSError:
            failures += 1
        return killed_late()

    eventually(served_until_killed, 30, lambda: f"the hung replacement killed at ready_timeout: {g.log()}")
    served = set()
    for _ in range(60):  # the pool goes on: more recycles, now with ready replacements
        try:
            served.add(g.get("/")[0])
        except OSError:
            failures += 1
        time.sleep(0.01)
    assert failures == 0
    assert len(served) >= 2
    assert len((tmp_path / "boots").read_text()) >= 5, "replacements booted after the hung one"


def test_the_hook_as_config_refuses_to_hide_a_gunicorn_conf_py(servers: List[Gunicorn], tmp_path: Path) -> None:
    import shutil

    app_dir = tmp_path / "app"
    app_dir.mkdir()
    shutil.copy(HERE / "apps.py", app_dir / "apps.py")
    (app_dir / "gunicorn.conf.py").write_text("workers = 3\n")
    g = Gunicorn(tmp_path, app_dir=app_dir)
    assert g.proc.wait(timeout=30) != 0
    err = g.stderr() + g.log()
    assert "replaces" in err and "gunicorn.conf.py" in err, err
    ok = start(servers, tmp_path, policy="max_requests=50")
    ok.get("/")
    assert len(ok.lines("workerlife on for gunicorn (sync)")) == 1, ok.log()


def test_bad_metrics_and_a_pool_another_master_holds_stop_gunicorn(servers: List[Gunicorn], tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        g = Gunicorn(tmp_path, extra_env={"WORKERLIFE_METRICS": f"127.0.0.1:{port}"})
        assert g.proc.wait(timeout=30) != 0
        err = g.stderr() + g.log()
        assert f"bad WORKERLIFE_METRICS 127.0.0.1:{port}" in err, err
    path = tmp_path / "pool"
    first = start(servers, tmp_path, policy="max_requests=50", extra_env={"WORKERLIFE_POOL": str(path)})
    second = Gunicorn(tmp_path, policy="max_requests=50", extra_env={"WORKERLIFE_POOL": str(path)})
    assert second.proc.wait(timeout=30) != 0
    err = second.stderr() + second.log()
    assert "bad WORKERLIFE_POOL" in err and "another live server holds this pool" in err, err
    assert first.get("/")[0] > 0, "the first serves on"


def test_a_dress_rehearsal_logs_would_recycle_and_recycles_no_worker(
    servers: List[Gunicorn], tmp_path: Path
) -> None:
    """``max_requests=5,enforce=off``: every worker that serves 5 trips the
    rule, the master logs its would_recycle once (at INFO) and counts it in
    /metrics, and no worker is recycled: the same two serve every request."""
    port = free_port()
    g = start(
        servers,
        tmp_path,
        policy="max_requests=5,enforce=off",
        extra_env={"WORKERLIFE_METRICS": f"127.0.0.1:{port}"},
    )

    def two_workers() -> List[int]:
        k = children_of(g.proc.pid)
        return k if len(k) == 2 else []

    before = eventually(two_workers, 10, g.log)
    served: collections.Counter[int] = collections.Counter(g.get("/")[0] for _ in range(40))
    assert set(served) <= set(before), f"served by a worker started later: {served} {before}\n{g.log()}"
    tripped = sorted(pid for pid, n in served.items() if n >= 5)
    assert tripped, served

    def would(pid: int) -> List[str]:
        # The figures when the master's round sees the rule still tripped
        # (not while the request that reached it, and marked it, is in flight).
        pattern = rf"\[INFO\] workerlife: would_recycle slot=\d+ pid={pid} gen=\d+ reason=max_requests( \(\d+ >= 5\))? "
        return [line for line in g.lines("would_recycle") if re.search(pattern, line)]

    eventually(lambda: all(would(pid) for pid in tripped), 10, lambda: f"would_recycle for {tripped}\n{g.log()}")

    def counted() -> str:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        return text if re.search(r'^workerlife_would_recycle_total\{reason="max_requests"\} [1-9]', text, re.M) else ""

    text = eventually(counted, 10, "workerlife_would_recycle_total in /metrics")
    # Counted once per worker generation, however many requests it served on.
    assert f'workerlife_would_recycle_total{{reason="max_requests"}} {len(tripped)}\n' in text, text
    assert all(len(would(pid)) == 1 for pid in tripped), g.log()
    assert children_of(g.proc.pid) == before, g.log()
    assert not g.lines("recycle_requested") and not g.lines("leaving after this request"), g.log()


def test_a_rehearsed_max_requests_leaves_request_timeout_acting(servers: List[Gunicorn], tmp_path: Path) -> None:
    """``enforce=request_timeout``: a stuck request is still killed at its
    time, while the other worker, past max_requests (rehearsed), serves on."""
    g = start(servers, tmp_path, policy="max_requests=3,request_timeout=1s,enforce=request_timeout")
    before = eventually(lambda: (lambda k: k if len(k) == 2 else None)(children_of(g.proc.pid)), 10, g.log)
    hung, elapsed, served, pids = serve_beside_a_hang(g, "/hang")
    assert hung, "the hanging request came back"
    kills = eventually(lambda: g.lines("workerlife: killed slot="), 10, g.log)
    assert len(kills) == 1 and "reason=request_timeout (" in kills[0], g.log()
    killed = int(re.search(r" pid=(\d+)", kills[0]).group(1))  # type: ignore[union-attr]
    (beside,) = set(before) - {killed}
    assert beside in pids, (pids, before)
    line = rf"workerlife: would_recycle slot=\d+ pid={beside} gen=\d+ reason=max_requests( \(\d+ >= 3\))? "
    # Each look sends a request, so the worker beside passes max_requests.
    eventually(lambda: g.get("/") and [x for x in g.lines("would_recycle") if re.search(line, x)], 10, g.log)
    assert beside in children_of(g.proc.pid), g.log()
    assert not g.lines("recycle_requested") and not g.lines("leaving after this request"), g.log()
