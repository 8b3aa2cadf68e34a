"""The Python API: policies, pools, worker handles, tick, events, stats."""

import os
import pickle
import threading
from pathlib import Path
from typing import Callable, Dict, List, Tuple, Type, Union

import pytest

import workerlife
from workerlife import Policy, Pool


def test_policy_parse_and_kwargs_agree() -> None:
    parsed = Policy.parse("max_requests=1000,max_rss=300MiB,request_timeout=30s")
    built = Policy(max_requests=1000, max_rss="300MiB", request_timeout=30)
    assert parsed == built
    assert hash(parsed) == hash(built)
    assert parsed["max_rss"] == 300 * 2**20
    assert parsed["request_timeout"] == 30.0
    assert parsed["max_requests"] == 1000


def test_policy_str_parses_back_for_every_key() -> None:
    values: Dict[str, Union[int, float, str]] = {
        "request_timeout": 1.5,
        "max_rss": "1GiB",
        "max_fds": 900,
        "max_requests_jitter": 7,
        "drain_timeout": "2m",
        "sample_interval": 0.25,
        "max_surge": 1,
        "ready_timeout": 10,
        "max_pool_rss": "2GiB",
        "memory_sustain": "30s",
        "container_memory": "auto",
        "container_headroom": "12.5%",
        "enforce": "max_rss+request_timeout",
    }
    p = Policy(**values)
    assert Policy.parse(str(p)) == p
    assert eval(repr(p), {"Policy": Policy}) == p
    assert pickle.loads(pickle.dumps(p)) == p
    assert set(Policy.keys()) == set(p.to_dict())
    assert len(Policy.keys()) == 31
    # Words the spec writes come back as that text; sizes as bytes.
    assert p["container_memory"] == "auto" and p["container_headroom"] == "12.5%"
    assert p["enforce"] == "request_timeout+memory_rss"
    assert Policy.parse("container_headroom=64MiB")["container_headroom"] == 64 << 20
    assert Policy()["container_headroom"] == "10%"


def test_policy_defaults_and_off() -> None:
    d = Policy().to_dict()
    assert d["max_requests"] == 0
    assert d["drain_timeout"] == 30.0
    assert d["max_concurrent_recycles"] == 1
    assert d["sample_interval"] == 1.0
    assert str(Policy()) == ""
    assert Policy.parse("") == Policy()
    # None is off, as 0 is.
    assert Policy(drain_timeout=None)["drain_timeout"] == 0
    assert Policy(max_rss=0) == Policy()


def test_policy_replace_keeps_the_rest() -> None:
    p = Policy(max_requests=10, max_rss="1GiB")
    q = p.replace(max_requests=20)
    assert q["max_requests"] == 20 and q["max_rss"] == 2**30
    assert p["max_requests"] == 10


def test_policy_is_immutable() -> None:
    p = Policy(max_requests=1)
    with pytest.raises(AttributeError):
        p.max_requests = 2  # type: ignore[attr-defined]


def test_request_context_and_max_requests() -> None:
    pool = Pool(Policy(max_requests=3), slots=1)
    w = pool.claim()
    assert w.slot == 0
    for _ in range(2):
        with w.request():
            pass
    assert not w.must_exit
    assert w.decision().action == "continue"
    assert w.decision().reason is None
    assert not w.decision()
    # The third reaches the limit: known when it begins, and at its end.
    assert w.begin() is True
    assert w.must_exit
    assert w.end() is True
    d = w.decision()
    assert (d.action, d.reason, d.value, d.limit) == ("recycle", "max_requests", 3, 3)
    assert str(d) == "max_requests: 3 >= 3"
    assert w.requests == 3
    assert w.must_exit


def test_request_context_counts_even_when_the_request_raises() -> None:
    pool = Pool("max_requests=1")
    w = pool.claim()
    with pytest.raises(RuntimeError):
        with w.request():
            raise RuntimeError("app failed")
    assert w.requests == 1 and w.must_exit


def test_timeouts_report_seconds() -> None:
    pool = Pool("request_timeout=30s", manual_clock=True)
    w = pool.claim()
    w.begin()
    pool.advance(31.5)
    d = w.decision()
    assert (d.action, d.reason) == ("kill", "request_timeout")
    assert d.value == pytest.approx(31.5) and d.limit == 30.0
    assert str(d) == "request_timeout: 31.5s >= 30s"


def test_health_reports_and_limits() -> None:
    pool = Pool(Policy(max_rss="100MiB", max_fds=50))
    w = pool.claim()
    w.report_health(rss=99 * 2**20, fds=10)
    assert not w.must_exit
    w.report_health(rss=100 * 2**20)
    d = w.decision()
    assert (d.reason, d.value, d.limit) == ("memory_rss", 100 * 2**20, 100 * 2**20)
    assert str(d) == "memory_rss: 100MiB >= 100MiB"
    # A recycle once decided stays decided, even if memory drops again.
    w.report_health(rss=1)
    assert w.decision().reason == "memory_rss"
    other = Pool(Policy(max_rss="100MiB", max_fds=50)).claim()
    other.report_health(rss=1, fds=50)
    assert other.decision().reason == "open_fds"


def test_a_limit_relative_to_the_parent_resolves_against_its_reading() -> None:
    # max_rss=2x waits with no reading of the parent, resolves at twice a
    # reported RSS; read_parent reads this process. A bad argument is
    # refused, naming it, with nothing kept.
    pool = Pool("max_rss=2x", slots=1, manual_clock=True)
    pool.spawned(0, os.getpid())
    w = pool.slot(0)
    w.report_health(rss=300 << 20)
    assert pool.decision(0).action == "continue", "no reading of the parent: the rule waits"
    assert pool.stats()["memory_limits"]["max_rss"] == {"setting": "2x", "bytes": None}
    before = pool.stats_json()
    bad: List[Tuple[str, Type[Exception], Callable[[], None]]] = [
        ("pid", OverflowError, lambda: pool.report_parent(-1, rss=100 << 20)),
        ("pid", OverflowError, lambda: pool.report_parent(0, rss=100 << 20)),
        ("pid", OverflowError, lambda: pool.report_parent(2**32, rss=100 << 20)),
        ("pid", TypeError, lambda: pool.report_parent(None, rss=100 << 20)),  # type: ignore[arg-type]
        ("pid", TypeError, lambda: pool.report_parent(True, rss=100 << 20)),
        ("rss", OverflowError, lambda: pool.report_parent(4021, rss=-1)),
        ("rss", OverflowError, lambda: pool.report_parent(4021, rss=2**64)),
        ("uss", TypeError, lambda: pool.report_parent(4021, uss=0.5)),  # type: ignore[arg-type]
        ("pss", TypeError, lambda: pool.report_parent(4021, pss="1")),  # type: ignore[arg-type]
    ]
    for what, exc, call in bad:
        with pytest.raises(exc, match=f"^{what} must be an int"):
            call()
    assert pool.stats_json() == before, "nothing was kept"
    pool.report_parent(4021, rss=100 << 20)
    st = pool.stats()
    assert st["memory_limits"]["max_rss"]["bytes"] == 200 << 20
    assert [st["parent"][k] for k in ("pid", "rss_bytes", "uss_bytes")] == [4021, 100 << 20, None]
    w.report_health(rss=(200 << 20) - 1)
    assert pool.decision(0).action == "continue"
    w.report_health(rss=200 << 20)
    d = pool.decision(0)
    assert (d.action, d.reason, d.value, d.limit) == ("recycle", "memory_rss", 200 << 20, 200 << 20)
    read = pool.read_parent()
    assert set(read) == {"rss", "uss", "pss"}
    rss = read["rss"]
    assert rss is not None and rss > 0
    st = pool.stats()
    assert [st["parent"][k] for k in ("pid", "rss_bytes")] == [os.getpid(), rss]
    assert st["memory_limits"]["max_rss"]["bytes"] == 2 * rss


def test_sample_self_reads_this_process() -> None:
    pool = Pool("max_uss=100GiB")
    w = pool.claim()
    s = w.sample_self(uss=True)
    assert s.rss is not None and s.rss > 1 << 20
    assert s.uss is not None and s.pss is not None
    assert s.uss <= s.pss <= s.rss
    assert s.fds is not None and s.fds >= 3
    assert pool.stats()["per_slot"][0]["rss"] == s.rss
    plain = w.sample_self()
    assert plain.uss is None and plain.missing() == {"uss": "not_requested", "pss": "not_requested"}


def test_health_checks() -> None:
    pool = Pool("max_health_failures=2")
    w = pool.claim()
    w.check(False)
    w.check(True)
    w.check(False)
    assert not w.must_exit
    w.check(False)
    assert w.decision().reason == "health_check"


def test_tick_actions_events_and_stats() -> None:
    pool = Pool("max_requests=1", slots=2, manual_clock=True)
    pool.spawned(0, 100)
    pool.spawned(1, 101)
    w = pool.slot(0)
    with w.request():
        pass
    actions = pool.tick()
    assert [(a.action, a.slot, a.pid, a.reason) for a in actions] == [
        ("recycle", 0, 100, "max_requests")
    ]
    assert pool.tick() == []  # each action once
    assert pool.exited(100, 0) == 0
    spawn = pool.tick()
    assert [(a.action, a.slot, a.pid) for a in spawn] == [("spawn", 0, 0)]
    assert spawn[0].not_before == 0.0
    kinds = [(e.kind, e.slot, e.reason) for e in pool.events()]
    assert kinds == [
        ("spawned", 0, None),
        ("spawned", 1, None),
        ("recycle_requested", 0, "max_requests"),
        ("exited", 0, "max_requests"),
    ]
    assert pool.events() == []
    st = pool.stats()
    assert st["requests_total"] == 1
    assert st["recycles"]["max_requests"] == 1
    assert sum(st["recycles"].values()) == 1
    assert st["workers"]["vacant"] == 1 and st["workers"]["running"] == 1
    text = pool.prometheus()
    assert 'workerlife_recycles_total{reason="max_requests"} 1' in text
    assert "# TYPE workerlife_requests_total counter" in text


def test_exiting_returns_the_permit_and_manual_recycle() -> None:
    # ready_timeout=0: the permit comes back as the worker leaves (no wait
    # for the worker after it to serve).
    pool = Pool("max_requests=1,max_concurrent_recycles=1,ready_timeout=0", slots=2, manual_clock=True)
    pool.spawned(0, 100)
    pool.spawned(1, 101)
    for i in (0, 1):
        with pool.slot(i).request():
            pass
    assert [(a.action, a.slot) for a in pool.tick()] == [("recycle", 0)]
    assert pool.tick() == []  # slot 1 waits for the permit
    pool.slot(0).exiting()
    assert [(a.action, a.slot) for a in pool.tick()] == [("recycle", 1)]
    pool.exited(100)
    pool.spawned(0, 102)
    pool.recycle(0)
    assert pool.decision(0).reason == "manual"


def test_crash_loop_backoff() -> None:
    pool = Pool("max_restarts=1,backoff_initial=2s,min_uptime=10s", manual_clock=True)
    for pid in (100, 101):
        pool.spawned(0, pid)
        pool.exited(pid, 256)
    assert pool.next_spawn_in() == 2.0
    assert pool.tick() == []
    pool.advance(2)
    assert [a.action for a in pool.tick()] == ["spawn"]
    assert any(e.kind == "crash_loop" and e.delay == 2.0 for e in pool.events())


def test_pool_properties() -> None:
    pool = Pool("max_requests=5", slots=4, shared=True)
    assert (pool.slots, len(pool), pool.sharing, pool.path) == (4, 4, "shared", None)
    assert pool.policy == Policy(max_requests=5)
    assert Pool().sharing == "private" and Pool().policy == Policy()
    assert pool.now >= 0.0


def test_threads_lose_no_request() -> None:
    pool = Pool(slots=1)
    w = pool.claim()

    def serve() -> None:
        for _ in range(20000):
            w.begin()
            w.end()

    threads = [threading.Thread(target=serve) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert w.requests == 160000
    assert pool.stats()["per_slot"][0]["in_flight"] == 0


def test_version() -> None:
    import importlib.metadata
    import re
    from pathlib import Path

    cargo = (Path(__file__).resolve().parents[3] / "Cargo.toml").read_text()
    m = re.search(r'\[workspace\.package\]\nversion = "([^"]+)"', cargo)
    assert m is not None
    assert workerlife.__version__ == m.group(1) == importlib.metadata.version("workerlife")


def test_the_extension_exports_only_its_init() -> None:
    """pyo3 stays out of libworkerlife.so, and the C ABI out of the
    extension: one exported symbol."""
    import shutil
    import subprocess
    from pathlib import Path

    from workerlife import _workerlife

    nm = shutil.which("nm")
    assert nm is not None, "nm (binutils) is needed"
    out = subprocess.run(
        [nm, "-D", "--defined-only", str(Path(_workerlife.__file__))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert [line.split()[-1] for line in out.splitlines()] == ["PyInit__workerlife"]


HOT_PATH_ALLOCATIONS = """
import itertools, threading, tracemalloc
from workerlife import Pool

pool = Pool("max_requests=1000000")
w = pool.claim()
lock = threading.Lock()


def traced(f, n=10000):
    # (net, peak) bytes traced over n calls of f, after 1000 that let the
    # interpreter specialise the code first (it allocates to do so).
    for _ in range(1000):
        f()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        for _ in itertools.repeat(None, n):
            f()
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return after - before, peak - before


def nothing():
    pass


def begin_end():
    w.begin()
    w.end()
    w.heartbeat()


def with_request():
    with w.request():
        pass


def with_lock():
    with lock:
        pass


floor = traced(nothing)  # tracemalloc's own bookkeeping
print([floor, traced(begin_end), traced(with_request), traced(with_lock), traced(with_request, 30000)])
"""


def test_the_hot_path_allocates_no_python_objects() -> None:
    """begin/end and heartbeat create no Python objects, not even a
    temporary one; the request context allocates only what CPython's with
    statement allocates for any C context manager (the bound __exit__,
    as for threading.Lock). The engine side is the Rust no_alloc test.
    Measured in a process of its own: tracemalloc counts every thread's
    allocations, and a test runner's threads (pytest-xdist's) allocate too."""
    import ast
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", HOT_PATH_ALLOCATIONS], check=True, capture_output=True, text=True)
    floor, begin_end, with_request, with_lock, thrice = ast.literal_eval(out.stdout)
    assert begin_end == floor, out.stdout
    assert with_request == with_lock, out.stdout
    # Nothing kept per request: three times the requests, the same net bytes
    # (a fresh process may keep one freed object on CPython's free list).
    assert with_request[0] == thrice[0] < 1024, out.stdout


def test_names_come_from_the_library_and_the_stubs_agree() -> None:
    """Every enum's names, in number order, are the engine's; the stubs'
    Literal types list the same names."""
    import ast
    from pathlib import Path

    t = workerlife.TABLES
    assert t["action"] == ["continue", "recycle", "kill"]
    assert t["pool_action"] == ["recycle", "kill", "spawn"]
    assert t["sharing"] == ["private", "shared", "named"]
    assert "max_requests" in t["reason"] and "refused" in t["event"]
    stub = Path(workerlife.__file__).with_name("_workerlife.pyi").read_text()
    literals = {}
    for cls in ast.parse(stub).body:
        if isinstance(cls, ast.ClassDef):
            for fn in cls.body:
                if isinstance(fn, ast.FunctionDef) and isinstance(fn.returns, ast.Subscript):
                    if ast.unparse(fn.returns.value) == "Literal":
                        elts = fn.returns.slice
                        names = [e.value for e in getattr(elts, "elts", [elts])]
                        literals[f"{cls.name}.{fn.name}"] = names
    assert literals == {
        "Decision.action": t["action"],
        "Action.action": t["pool_action"],
        "Pool.sharing": t["sharing"],
        "Event.severity": t["severity"],
    }
    # What the objects say is in the tables.
    pool = workerlife.Pool("max_requests=1", slots=1, manual_clock=True)
    pool.spawned(0, os.getpid())
    w = pool.slot(0)
    w.begin()
    w.end()
    d = w.decision()
    assert d.action in t["action"] and d.reason in t["reason"]
    assert {a.action for a in pool.tick()} <= set(t["pool_action"])
    assert {e.kind for e in pool.events()} <= set(t["event"])
    assert pool.sharing in t["sharing"]


def test_numbers_stay_numbers() -> None:
    """Keyword values that are numbers reach the engine as numbers, not as
    text (1e-05 used to fail as the string "1e-05")."""
    assert workerlife.Policy(request_timeout=1e-5)["request_timeout"] == 1e-5
    assert workerlife.Policy(max_rss=512 * 2**20)["max_rss"] == 512 * 2**20
    assert workerlife.Policy(max_lifetime=90.5)["max_lifetime"] == 90.5
    for key, bad, why in [
        ("max_rss", 1.5, "whole number"),
        ("max_requests", 2.5, "whole number"),
        ("request_timeout", float("nan"), "finite"),
        ("request_timeout", float("inf"), "finite"),
        ("request_timeout", -1.0, ">= 0"),
        ("request_timeout", 4e-7, "rounds to 0"),
        ("max_requests", 2**70, "too large"),
        ("max_requests", -3, "negative"),
    ]:
        with pytest.raises(workerlife.PolicyError, match=why) as e:
            workerlife.Policy(**{key: bad})
        assert e.value.key == key


def test_a_worker_samples_itself_when_due() -> None:
    pool = workerlife.Pool("max_rss=1GiB,sample_interval=2s", manual_clock=True)
    w = pool.claim()
    assert w.sample_if_due() is True
    assert pool.stats()["per_slot"][0]["rss"] > 0
    assert w.sample_if_due() is False
    pool.advance(2)
    assert w.sample_if_due() is True


def test_watchdog_options_and_stop() -> None:
    pool = Pool(None, 1)
    w = pool.claim()
    for bad in (0, -1, 9, 19, 65):  # 9 SIGKILL and 19 SIGSTOP cannot be a graceful signal
        with pytest.raises(workerlife.InvalidArgument, match=f"recycle_signal {bad}"):
            w.watchdog(recycle_signal=bad)
    for interval in (0.0, 61.0):
        with pytest.raises(workerlife.InvalidArgument, match="interval"):
            w.watchdog(interval=interval)
    with pytest.raises(ValueError, match="interval"):
        w.watchdog(interval=float("nan"))
    with w.watchdog(interval=0.05) as dog:
        assert dog.running
        dog.wake()
    assert not dog.running
    dog.stop()  # again: nothing


def test_a_watchdog_kills_a_process_stuck_holding_the_gil() -> None:
    """A busy loop holding the GIL, with no master: the native thread ends
    the process at request_timeout."""
    pool = Pool("request_timeout=300ms", 2, shared=True)
    r, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        os.dup2(wfd, 2)
        w = pool.claim()
        w.watchdog()
        w.begin()
        while True:
            pass
    os.close(wfd)
    from waiting import reaped

    try:
        status = reaped(pid, 20, "the spinning child killed")
    except AssertionError:  # never left spinning, even when the test fails
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise
    err = os.read(r, 4096).decode()
    os.close(r)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == 9, (status, err)
    assert "workerlife: killed slot=" in err and " reason=request_timeout (" in err, err


def test_open_shares_a_file_and_the_last_removes_it(tmp_path: "os.PathLike[str]") -> None:
    path = os.path.join(str(tmp_path), "shared.pool")
    a = Pool.open(path, "max_requests=10", slots=4)
    b = Pool.open(path, "max_requests=10", slots=4)  # another process would do the same
    w = b.claim()
    w.begin()
    w.end()
    assert a.stats()["requests_total"] == 1
    with pytest.raises(workerlife.BadPoolFile, match="in use with another policy"):
        Pool.open(path, "max_requests=11")
    assert not a.remove_if_last()  # b still holds it
    assert b.remove_if_last()
    assert not os.path.exists(path)
    foreign = os.path.join(str(tmp_path), "foreign")
    with open(foreign, "w") as f:
        f.write("not a pool")
    os.chmod(foreign, 0o600)
    with pytest.raises(workerlife.BadPoolFile, match="not a workerlife pool"):
        Pool.open(foreign)
    with open(foreign) as f:
        assert f.read() == "not a pool"


def test_a_slot_taken_by_number_that_nobody_started_starts_its_generation(tmp_path: Path) -> None:
    pool = Pool.create(tmp_path / "pool", "max_requests=5", slots=3)
    w = pool.slot(1)
    for _ in range(5):
        w.begin()
        w.end()
    d = pool.decision(1)
    assert (d.action, d.reason) == ("recycle", "max_requests")
    st = pool.stats()["per_slot"][1]
    assert (st["state"], st["pid"], st["generation"], st["requests"]) == ("draining", os.getpid(), 1, 5)


def test_a_host_declares_what_it_can_carry_out() -> None:
    gunicorn = workerlife.Host("gunicorn (sync)", heartbeat=True, surge=True, master_kills=True)
    assert gunicorn.name == "gunicorn (sync)"
    assert gunicorn.capabilities == ["heartbeat", "surge", "master_kills"]
    assert workerlife.TABLES["capability"] == [
        "heartbeat", "surge", "cancel", "concurrent", "master_kills", "watchdog_kills", "numbered", "tickets"
    ]
    celery = workerlife.Host("Celery prefork", master_kills=True)
    beat = Policy.parse("heartbeat_timeout=2s")
    gunicorn.check(beat)
    with pytest.raises(workerlife.NotForHost) as e:
        celery.check(beat)
    assert isinstance(e.value, workerlife.PolicyError)
    assert (e.value.key, e.value.value, e.value.host) == ("heartbeat_timeout", "2s", "Celery prefork")
    assert str(e.value).startswith("heartbeat_timeout=2s: Celery prefork ")
    assert "request_timeout" in str(e.value)
    with pytest.raises(workerlife.NotForHost, match="max_surge=0"):
        celery.check(Policy(max_surge=1))
    # The pool-size rule: numbered hosts need one slot a worker, others more.
    surge = Policy(max_surge=1)
    assert workerlife.Host("C master", numbered=True, surge=True).slots(4, surge) == 5
    assert gunicorn.slots(4, surge) == 17
    for bad in ("", "a\nb", "x" * 65):
        with pytest.raises(workerlife.InvalidArgument):
            workerlife.Host(bad)
    with pytest.raises(TypeError):
        workerlife.Host("h", True)  # type: ignore[call-arg]


def test_a_pool_checks_its_policy_against_its_host_and_says_so() -> None:
    pool = Pool("heartbeat_timeout=2s,max_requests=5", slots=3)
    assert pool.host is None
    celery = workerlife.Host("Celery prefork", master_kills=True)
    with pytest.raises(workerlife.NotForHost, match="heartbeat_timeout=2s"):
        pool.set_host(celery)
    assert pool.host is None, "nothing recorded"
    gunicorn = workerlife.Host("gunicorn (sync)", heartbeat=True, surge=True, master_kills=True)
    pool.set_host(gunicorn)
    assert pool.host == gunicorn
    line = pool.startup_line()
    assert line.startswith("workerlife on for gunicorn (sync): policy "), line
    assert "max_requests=5" in line and "3 slots" in line, line


def test_round_errors_are_said_once_then_counted() -> None:
    pool = Pool()
    said = [pool.round_error("boom") for _ in range(100)]
    assert said[0] == "boom"
    assert said[9] == "boom (seen 10 times)"
    assert said[99] == "boom (seen 100 times)"
    assert sum(s is not None for s in said) == 3
    assert pool.round_error("other") == "other"


def test_adopt_all_takes_children_and_refuses_the_rest() -> None:
    import subprocess
    import sys

    pool = Pool(slots=4, shared=True)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        adopted, refused = pool.adopt_all([child.pid, 1])
        assert adopted == [child.pid]
        assert [pid for pid, _ in refused] == [1], "init is nobody's worker"
        assert "not a child" in refused[0][1], refused
        assert pool.adopt_all([child.pid]) == ([], []), "adopted once"
    finally:
        child.kill()
        child.wait()


def test_event_severity_and_the_librarys_line() -> None:
    pool = Pool("max_requests=1", slots=1, manual_clock=True)
    pool.spawned(0, 100)
    with pool.slot(0).request():
        pass
    pool.tick()
    events = pool.events()
    assert [(e.kind, e.severity) for e in events] == [("spawned", "info"), ("recycle_requested", "info")]
    line = str(events[1])
    assert "reason=max_requests (1 >= 1)" in line, line
    assert line.count("max_requests") == 1, line


def test_a_dress_rehearsal_decides_and_acts_on_nothing() -> None:
    """enforce is text (which rules act), never a number; a rule rehearsed
    gives a continue with its reason and figures (``would``), the master
    files it once per generation as would_recycle (info) or would_kill
    (warning), overdue() cancels nothing for it, and the stats count it."""
    assert Policy()["enforce"] == "all"
    assert Policy.parse("enforce=off")["enforce"] == "off"
    assert Policy(enforce="max_rss+max_requests").to_dict()["enforce"] == "memory_rss+max_requests"
    for bad in (0, 3, 1.5):
        with pytest.raises(workerlife.PolicyError, match="enforce") as e:
            Policy(enforce=bad)
        assert e.value.key == "enforce"
    p = Policy.parse("enforce=max_rss")
    assert p.enforces("max_rss") and p.enforces("memory_rss") and not p.enforces("max_requests")
    assert p.enforces("manual") and p.enforces("drain_timeout"), "they always act"
    with pytest.raises(KeyError, match="max_request"):
        p.enforces("max_request")
    assert {"would_recycle", "would_kill"} <= set(workerlife.TABLES["event"])
    pool = Pool("max_requests=3,request_timeout=1s,enforce=off", manual_clock=True)
    pool.spawned(0, os.getpid())
    w = pool.slot(0)
    for _ in range(3):
        assert not w.begin(), "no last request: nothing is enforced"
        assert not w.end(), "max_requests is rehearsed: the worker serves on"
    d = pool.decision(0)
    assert (d.action, d.reason, d.value, d.limit) == ("continue", "max_requests", 3, 3)
    assert d.would and not d.must_exit and not d
    assert str(d) == "continue (would recycle: max_requests: 3 >= 3)"
    assert not w.must_exit
    assert pool.tick() == []
    assert [(e.kind, e.severity) for e in pool.events()] == [("spawned", "info"), ("would_recycle", "info")]
    t = w.begin_ticket()
    assert not t & workerlife.TICKET_LAST
    pool.advance(2)
    d = w.decision()
    assert (d.action, d.reason, d.value, d.limit, d.would) == ("continue", "request_timeout", 2.0, 1.0, True)
    assert w.overdue() == [], "a rehearsed request_timeout cancels nothing"
    assert pool.tick() == []
    kill = pool.events()
    assert [(e.kind, e.severity, e.reason) for e in kill] == [("would_kill", "warning", "request_timeout")]
    assert str(kill[0]).startswith(f"would_kill slot=0 pid={os.getpid()} gen=1 reason=request_timeout (2s >= 1s) ")
    assert pool.tick() == [] and pool.events() == [], "once per generation and reason"
    assert w.end_ticket(t) is False
    stats = pool.stats()
    assert stats["enforce"] == "off"
    assert (stats["would"]["max_requests"], stats["would"]["request_timeout"]) == (1, 1)
    assert sorted(stats["per_slot"][0]["would"]) == ["max_requests", "request_timeout"]
    text = pool.prometheus()
    assert 'workerlife_would_recycle_total{reason="max_requests"} 1\n' in text
    assert 'workerlife_would_kill_total{reason="request_timeout"} 1\n' in text
    assert not Pool("", 1).decision(0).would


def test_tickets_time_each_request_in_flight_on_its_own() -> None:
    assert (workerlife.TICKETS, workerlife.TICKET_LAST) == (16, 1 << 52)
    pool = Pool("request_timeout=5s,max_requests=4", manual_clock=True)
    pool.spawned(0, os.getpid())
    w = pool.slot(0)
    stuck = w.begin_ticket()
    assert isinstance(stuck, int) and 0 <= stuck < 1 << 53
    assert not stuck & workerlife.TICKET_LAST
    pool.advance(3)
    busy = w.begin_ticket()
    assert busy != stuck and w.overdue() == []
    pool.advance(2)
    assert w.overdue() == [stuck]
    # The other request ending does not restart the stuck one's timer.
    assert w.end_ticket(busy) is False
    assert (pool.decision(0).action, pool.decision(0).reason) == ("kill", "request_timeout")
    assert w.end_ticket(stuck) is False
    assert w.overdue() == [] and pool.decision(0).action == "continue"
    # The request that reaches max_requests says so in its ticket, and its
    # end gives the ticket back with the bit set.
    a, last = w.begin_ticket(), w.begin_ticket()
    assert not a & workerlife.TICKET_LAST and last & workerlife.TICKET_LAST
    w.end_ticket(a)
    assert w.end_ticket(last) is True
    assert w.requests == 4


def test_a_ticket_not_in_flight_is_refused_and_bad_input_raises() -> None:
    pool = Pool("max_requests=10", slots=2, manual_clock=True)
    w0, w1 = pool.slot(0), pool.slot(1)
    t = w0.begin_ticket()
    with pytest.raises(workerlife.BadTicket, match=f"ticket {t} is not a request in flight") as e:
        w1.end_ticket(t)  # another worker's
    assert isinstance(e.value, ValueError) and e.value.ticket == t
    w0.end_ticket(t)
    with pytest.raises(workerlife.BadTicket, match="ended already"):
        w0.end_ticket(t)
    assert w0.requests == 1, "the refused end changed nothing"
    for bad, exc in [
        (True, TypeError),
        (1.0, TypeError),
        ("1", TypeError),
        (None, TypeError),
        (-1, OverflowError),
        (1 << 64, OverflowError),
        (1 << 200, OverflowError),
    ]:
        with pytest.raises(exc, match="ticket"):
            w0.end_ticket(bad)  # type: ignore[arg-type]
    with pytest.raises(workerlife.BadTicket):
        w0.end_ticket((1 << 64) - 1)
    assert w0.requests == 1


def test_past_the_untimed_requests_a_slot_counts_begin_ticket_is_refused() -> None:
    pool = Pool("", manual_clock=True)
    w = pool.slot(0)
    held = [w.begin_ticket() for _ in range(workerlife.TICKETS + 65535)]
    with pytest.raises(workerlife.TooManyInFlight, match="too many requests in flight") as e:
        w.begin_ticket()
    assert isinstance(e.value, RuntimeError)
    for t in held:
        w.end_ticket(t)
    assert w.requests == len(held)
    w.end_ticket(w.begin_ticket())


def test_a_concurrent_host_with_tickets_may_time_requests() -> None:
    timeout = Policy.parse("request_timeout=1s")
    with pytest.raises(workerlife.NotForHost, match="begin_ticket"):
        workerlife.Host("threads", concurrent=True, master_kills=True).check(timeout)
    host = workerlife.Host("threads", concurrent=True, master_kills=True, tickets=True)
    assert host.capabilities == ["concurrent", "master_kills", "tickets"]
    host.check(timeout)
