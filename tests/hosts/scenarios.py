"""THE list of scenarios, in priority order, and the one driver of each,
run against every host of hosts.HOSTS.

A scenario either has a start of its own (a policy of its own: short) or
runs on the host's shared start (``SHARED_POLICY``, with metrics on where
the host serves them), in list order. Each gives a Cell: "pass", "fail" or
"not here" (with its reason), and what was seen."""

from __future__ import annotations

import os
import re
import signal
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Set, Tuple

from harness import Failed, alive, grep, tail, until
from hosts import WORKERS, Host, Server

# Requests (or tasks) of the rotation scenarios, the pause between two, and
# the distinct workers they must meet with max_requests=5 and 2 workers
# (60 / 5 = 12 generations; a worker waiting for the recycle permit serves
# on, by design, so fewer). Rotation goes on past PACED, up to
# PACED_SECONDS, until MIN_PIDS workers have served.
PACED = 60
# Rotation goes on past PACED requests, for up to this many seconds, until
# MIN_PIDS workers have served: the promise is that workers keep rotating
# with no request failed, not how fast a host respawns (billiard reaps a
# recycled child up to 5 s after it left; the speed is docs/benchmarks.md's).
PACED_SECONDS = 60.0
PAUSE = 0.05
MIN_PIDS = 8
# How long a host has to refuse a bad policy, or to start serving.
START_DEADLINE = 30.0
REFUSE_DEADLINE = 20.0
HEARTBEAT = 2.0  # heartbeat_timeout, seconds
IDLE = 3 * HEARTBEAT
REQUEST_TIMEOUT = 1.0
MAX_RSS_MIB = 128
LEAK_REQUESTS = 1000  # 1 MiB each: past max_rss in any worker
LEAK_DEADLINE = 40.0
# The stuck request is in before the others are sent.
STUCK_HEAD_START = 0.3
# How long the others are sent while the stuck one is watched (past that
# it has failed), and by how many clients at once: the stuck request's
# worker keeps beginning and ending others (threads, an event loop), the
# case a worker-wide timer misses.
STUCK_WATCH = 5.0
BUSY_CLIENTS = 3

SHARED_POLICY = "max_requests=5"

# The dress rehearsal: requests sent under max_requests=5,enforce=off (each
# worker passes its limit several times over), and how long the host has to
# log its would_recycle lines once they are due.
REHEARSAL_REQUESTS = 30
REHEARSAL_LINES_DEADLINE = 10.0

# The crash loop: how long it is watched, and the most workers a host that
# backs off may start meanwhile (the default policy: 5 quick crashes a
# slot, then 1 s, 2 s, 4 s...; a loop at full speed starts hundreds).
CRASH_WATCH = 12.0
CRASH_MAX_STARTS = 40

# The series every host that serves metrics must serve (src/view/stats.rs).
CORE_SERIES = [
    "workerlife_recycles_total",
    "workerlife_workers",
    "workerlife_requests_total",
    "workerlife_exits_total",
    "workerlife_crashes_total",
    "workerlife_recycle_permits",
]


@dataclass
class Cell:
    status: str  # "pass", "fail" or "not here"
    detail: str
    seconds: float = 0.0
    refused: bool = False  # passed by refusing the policy key at start
    how: str = ""  # how it passed, where a scenario allows two ways

    def label(self) -> str:
        """What the page shows (no figure that changes between runs)."""
        if self.status == "pass":
            if self.refused:
                return "pass (refused at start)"
            return f"pass ({self.how})" if self.how else "pass"
        if self.status == "fail":
            return "**FAIL**"
        return f"not here: {self.detail}"


def ok(detail: str, refused: bool = False) -> Cell:
    return Cell("pass", detail, refused=refused)


def fail(detail: str) -> Cell:
    return Cell("fail", detail)


# -- helpers of the drivers ------------------------------------------------


def wait_start(server: Server, deadline: float = START_DEADLINE) -> str:
    """"serving", "exited" or "neither", whichever is known first."""

    def look() -> Optional[str]:
        if server.group.exited() is not None:
            return "exited"
        if server.serving():
            return "serving"
        return None

    return until(look, deadline, every=0.1) or "neither"


def names_key(text: str, key: str) -> bool:
    return re.search(rf"\b{re.escape(key)}\b", text) is not None


def refusal(server: Server, key: str) -> Tuple[str, Cell]:
    """How the host took a policy with ``key``: ("refused", a passing cell)
    when it exited non-zero naming the key; ("serving", a placeholder) when
    it serves; else ("bad", a failing cell)."""
    how = wait_start(server, REFUSE_DEADLINE)
    out = server.output()
    if how == "exited":
        rc = server.group.exited()
        if rc != 0 and names_key(out, key):
            line = next((ln for ln in out.splitlines() if names_key(ln, key)), "")
            return "refused", ok(f"exit {rc}: {line.strip()[:200]}", refused=True)
        return "bad", fail(f"exited {rc} without naming {key}:\n{tail(out)}")
    if how == "serving":
        return "serving", fail("")
    return "bad", fail(f"neither exited nor served within {REFUSE_DEADLINE:g}s:\n{tail(out)}")


def serve_or_raise(server: Server) -> None:
    how = wait_start(server)
    if how != "serving":
        raise RuntimeError(f"did not serve ({how}, exit {server.group.exited()}):\n{tail(server.output())}")


def workers_settled(server: Server, timeout: float = 15) -> Set[int]:
    """The worker pids once the host runs its WORKERS workers."""
    pids = until(lambda: (lambda p: p if len(p) == WORKERS else None)(server.worker_pids()), timeout)
    if pids is None:
        raise RuntimeError(f"expected {WORKERS} workers, saw {sorted(server.worker_pids())}")
    return pids


def paced(server: Server, n: int = PACED, kind: str = "hello", until_pids: int = 0) -> Tuple[List[str], Set[int]]:
    """``n`` requests one after another, PAUSE apart, and more (for up to
    PACED_SECONDS in all) until ``until_pids`` workers have served:
    (failures, pids)."""
    failures: List[str] = []
    pids: Set[int] = set()
    sent = 0
    deadline = time.monotonic() + PACED_SECONDS
    while sent < n or (len(pids) < until_pids and time.monotonic() < deadline):
        sent += 1
        try:
            pids.add(server.request(kind))
        except Failed as e:
            failures.append(str(e))
        time.sleep(PAUSE)  # the pacing itself, not a wait for anything
    return failures, pids


def rotation_cell(server: Server) -> Cell:
    failures, pids = paced(server, until_pids=MIN_PIDS)
    seen = f"{PACED} requests or more (up to {PACED_SECONDS:g} s): {len(failures)} failed, {len(pids)} distinct workers"
    if failures:
        return fail(f"{seen}; first: {failures[0]}\n{tail(server.output())}")
    if len(pids) < MIN_PIDS:
        return fail(f"{seen} (want >= {MIN_PIDS})\n{tail(server.output())}")
    return ok(seen)


def kill_lines(text: str, key: str) -> List[str]:
    """The lines of an event for reason ``key`` (every host logs the
    library's event line, ``killed slot=... reason=KEY (...)``); a worker
    that went without one is caught by its pid changing."""
    return [ln for ln in text.splitlines() if f"reason={key}" in ln]


# -- the drivers -------------------------------------------------------------

Own = Callable[[Host], Cell]  # starts what it needs
Shared = Callable[[Server], Cell]  # runs on the shared start


def with_start(host: Host, policy: str, body: Callable[[Server], Cell]) -> Cell:
    server = host.start(policy)
    try:
        return body(server)
    finally:
        server.stop()


def bad_policy(host: Host) -> Cell:
    """``max_request=5`` (a typo): the host exits non-zero at start, and its
    output names ``max_request``."""

    def body(server: Server) -> Cell:
        how, cell = refusal(server, "max_request")
        if how == "serving":
            return fail(f"started and served with a bad policy:\n{tail(server.output())}")
        if how == "refused":
            cell.refused = False  # refusing is the scenario itself
        return cell

    return with_start(host, "max_request=5", body)


def rotation(server: Server) -> Cell:
    """max_requests=5: 60 paced requests (more, for up to 60 s, until 8
    workers served), 0 failed, >= 8 distinct workers."""
    return rotation_cell(server)


def heartbeat(host: Host) -> Cell:
    """heartbeat_timeout=2s: refused at start naming it, or idle workers
    live through 3x the timeout (the same pids, no kill line)."""

    def body(server: Server) -> Cell:
        how, cell = refusal(server, "heartbeat_timeout")
        if how != "serving":
            return cell
        before = workers_settled(server)
        started = time.monotonic()
        changed = until(lambda: server.worker_pids() != before or None, IDLE, every=0.2)
        idle = time.monotonic() - started
        after = server.worker_pids()
        kills = kill_lines(server.output(), "heartbeat_timeout")
        if changed or kills:
            return fail(
                f"idle workers {sorted(before)} became {sorted(after)} after {idle:.1f}s idle; "
                f"kill lines: {kills[:2]}\n{tail(server.output())}"
            )
        try:
            server.request("hello")
        except Failed as e:
            return fail(f"no request served after {IDLE:g}s idle: {e}")
        return ok(f"same {WORKERS} workers after {idle:.1f}s idle, no kill")

    return with_start(host, f"heartbeat_timeout={HEARTBEAT:g}s", body)


def surge(host: Host) -> Cell:
    """max_surge=1,max_requests=5: refused naming max_surge, or rotation
    goes on (60 paced requests or more, 0 failed, >= 8 distinct workers)."""

    def body(server: Server) -> Cell:
        how, cell = refusal(server, "max_surge")
        if how != "serving":
            return cell
        return rotation_cell(server)

    return with_start(host, "max_surge=1,max_requests=5", body)


def exits_total(server: Server) -> Optional[int]:
    """The exits the host's metrics count now (None: no metrics)."""
    if server.metrics_url is None:
        return None
    try:
        m = re.search(r"^workerlife_exits_total (\d+)", server.metrics(), re.M)
    except OSError:
        return None
    return int(m.group(1)) if m else None


def sigkill(server: Server) -> Cell:
    """A worker SIGKILLed from outside is replaced; the host serves on."""
    before = workers_settled(server)
    exits_before = exits_total(server)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    started = time.monotonic()

    def replaced() -> Optional[Set[int]]:
        now = server.worker_pids()
        return now if not alive(victim) and len(now) == WORKERS and victim not in now else None

    now = until(replaced, 20)
    took = time.monotonic() - started
    if now is None:
        return fail(f"worker {victim} not replaced in 20s: workers {sorted(server.worker_pids())}\n{tail(server.output())}")
    # Rotation goes on past it (max_requests=5): the dead worker's slot
    # and any permit it held came back.
    failures, pids = paced(server, n=10, until_pids=WORKERS + 1)
    if failures:
        return fail(f"replaced in {took:.1f}s, then {len(failures)}/{len(pids)} failed: {failures[0]}")
    if not pids - now:
        return fail(f"replaced in {took:.1f}s, then no worker recycled after it: served by {sorted(pids)}\n{tail(server.output())}")
    seen = f"replaced in {took:.1f}s, rotation went on after it ({len(pids)} workers served)"
    if server.metrics_url is None:
        return ok(seen)

    def counted() -> Optional[str]:
        try:
            text = server.metrics()
        except OSError:
            return None
        crashes = re.search(r"^workerlife_crashes_total (\d+)", text, re.M)
        if crashes and int(crashes.group(1)) >= 1:
            return f"counted as a crash ({crashes.group(1)})"
        # A worker already told to recycle (max_requests=5) when it was
        # killed left on request: its exit is counted, not as a crash.
        exits = re.search(r"^workerlife_exits_total (\d+)", text, re.M)
        if exits_before is not None and exits and int(exits.group(1)) > exits_before:
            return "counted as an exit (it was already leaving on request)"
        return None

    said = until(counted, 10, every=0.2)
    if said is None:
        return fail(f"{seen}, but the kill was counted neither as a crash nor as an exit at {server.metrics_url}")
    return ok(f"{seen}; {said}")


def metrics(server: Server) -> Cell:
    """The metrics the host serves hold the core series, with the shared
    start's max_requests recycles counted."""
    if server.metrics_url is None:
        return Cell("not here", server.host.not_here.get("metrics", "no metrics endpoint"))
    text = ""

    def counted() -> bool:
        nonlocal text
        try:
            text = server.metrics()
        except OSError:
            return False
        m = re.search(r'^workerlife_recycles_total\{reason="max_requests"\} (\d+)', text, re.M)
        return m is not None and int(m.group(1)) > 0

    recycled = until(counted, 10, every=0.2)
    missing = [s for s in CORE_SERIES if not re.search(rf"^{s}[{{ ]", text, re.M)]
    if missing or not recycled:
        return fail(f"{server.metrics_url}: missing {missing}, max_requests recycles counted: {bool(recycled)}\n{tail(text)}")
    return ok(f"{server.metrics_url}: {len(CORE_SERIES)} core series, max_requests recycles counted")


def leak(host: Host) -> Cell:
    """A leaking app (1 MiB a request) under max_rss=128MiB: recycled, the
    host's log saying ``recycle_requested`` with ``reason=memory_rss``."""

    def body(server: Server) -> Cell:
        serve_or_raise(server)
        failures: List[str] = []
        sent = 0
        said_at: Optional[float] = None  # when the log first named memory_rss
        found: List[str] = []
        deadline = time.monotonic() + LEAK_DEADLINE
        while time.monotonic() < deadline and sent < LEAK_REQUESTS:
            try:
                server.request("leak")
            except Failed as e:
                failures.append(str(e))
            sent += 1
            out = server.output()
            found = grep(out, "recycle_requested", "reason=memory_rss")
            if found:
                break
            # A host that said memory_rss some other way has 2 s more to
            # log the line.
            if said_at is None and "memory_rss" in out:
                said_at = time.monotonic()
            if said_at is not None and time.monotonic() - said_at > 2:
                break
        if not found:
            other = grep(server.output(), "memory_rss")
            return fail(
                f"no line with recycle_requested and reason=memory_rss after {sent} leaking requests "
                f"({len(failures)} failed); memory_rss lines: {other[:2]}\n{tail(server.output())}"
            )
        if failures:
            return fail(f"{len(failures)} of {sent} leaking requests failed: {failures[0]}")
        return ok(f"after {sent} leaking requests: {found[0].strip()[:200]}")

    return with_start(host, f"max_rss={MAX_RSS_MIB}MiB,sample_interval=100ms", body)


def request_timeout(host: Host) -> Cell:
    """request_timeout=1s: refused at start naming it (a host whose workers
    run requests at once with no ticket each and cannot end one alone: one
    stuck among busy ones would go unseen), or a stuck request among busy
    ones (BUSY_CLIENTS clients sending short requests meanwhile) ends (its
    worker killed, or the request cancelled) within 2x the timeout; other
    requests are served (a killed worker's own may fail). A start of its
    own, so that no recycle of another rule is under way when the stuck
    request is sent."""

    def body(server: Server) -> Cell:
        how, cell = refusal(server, "request_timeout")
        if how != "serving":
            return cell
        workers_settled(server)
        return stuck_beside_others(server)

    return with_start(host, f"request_timeout={REQUEST_TIMEOUT:g}s", body)


def stuck_beside_others(server: Server) -> Cell:
    outcome: List[str] = []
    ended = [0.0]

    def said() -> List[str]:
        """The host's lines saying a request was killed or cancelled for
        request_timeout: an event for that reason (the library's line), or
        a cancellation naming it."""
        return [ln for ln in server.output().splitlines()
                if "reason=request_timeout" in ln or ("request_timeout" in ln and "cancel" in ln.lower())]

    def cancelled() -> bool:
        return any("request_cancelled" in ln for ln in said())

    said_before = len(said())
    said_at: Optional[float] = None  # when the host first said so (polled)
    started = time.monotonic()

    def stuck() -> None:
        try:
            pid = server.request("hang", timeout=30)
            outcome.append(f"served by {pid}")
        except Failed as e:
            outcome.append(f"failed: {e}")
        ended[0] = time.monotonic()

    t = threading.Thread(target=stuck, daemon=True)  # ends when the server stops
    t.start()
    # Its worker has it before the others are sent (which ends early if it
    # is over by then).
    t.join(timeout=STUCK_HEAD_START)
    during: List[str] = []
    served = [0]
    lock = threading.Lock()
    deadline = started + STUCK_WATCH

    def busy() -> None:
        while t.is_alive() and time.monotonic() < deadline:
            try:
                server.request("hello", timeout=5)
                with lock:
                    served[0] += 1
            except Failed as e:
                with lock:
                    during.append(str(e))
            time.sleep(PAUSE)

    clients = [threading.Thread(target=busy, daemon=True) for _ in range(BUSY_CLIENTS)]
    for c in clients:
        c.start()
    while t.is_alive() and time.monotonic() < deadline:
        if said_at is None and len(said()) > said_before:
            said_at = time.monotonic()
        time.sleep(0.02)
    for c in clients:
        c.join(timeout=10)
    during_ok = served[0]
    t.join(timeout=0.5)
    if not outcome:
        return fail(
            f"the stuck request had not ended {STUCK_WATCH:g}s after it was sent "
            f"(meanwhile {during_ok} served, {len(during)} failed)\n{tail(server.output())}"
        )
    # Ended when its client saw it end, or when the host said it killed or
    # cancelled it, if that came first (Celery reports a killed child's
    # task lost up to seconds after the kill).
    took = min(ended[0], said_at or ended[0]) - started
    after_failures, _ = paced(server, n=10)
    seen = (
        f"stuck request {outcome[0][:120]} after {ended[0] - started:.2f}s, "
        f"killed or cancelled by {took:.2f}s; meanwhile {during_ok} served, "
        f"{len(during)} failed{': ' + during[0][:120] if during else ''}; after: {10 - len(after_failures)}/10 served"
    )
    if outcome[0].startswith("served") or took > 2 * REQUEST_TIMEOUT:
        return fail(f"{seen} (want it ended within {2 * REQUEST_TIMEOUT:g}s)\n{tail(server.output())}")
    # A host that cancels the request alone loses nothing else; one that
    # kills the worker loses at most the requests that worker had in flight
    # then (one per busy client).
    lost_ok = 0 if cancelled() else BUSY_CLIENTS
    if len(during) > lost_ok or after_failures:
        return fail(f"{seen} (at most {lost_ok} may fail)\n{tail(server.output())}")
    return ok(seen)


def rehearsal(host: Host) -> Cell:
    """``max_requests=5,enforce=off``: a dress rehearsal. Every request is
    served, no worker is recycled (the same pids serve from start to end),
    and the host logs ``would_recycle`` with ``reason=max_requests``."""

    def body(server: Server) -> Cell:
        serve_or_raise(server)
        before = workers_settled(server)
        failures, served = paced(server, REHEARSAL_REQUESTS)
        if failures:
            return fail(f"{len(failures)} of {REHEARSAL_REQUESTS} failed: {failures[0]}\n{tail(server.output())}")
        found = until(lambda: grep(server.output(), "would_recycle", "reason=max_requests") or None, REHEARSAL_LINES_DEADLINE)
        after = server.worker_pids()
        if not served <= before or after != before:
            return fail(f"workers changed: {sorted(before)} at start, {sorted(after)} at the end, {sorted(served)} served\n{tail(server.output())}")
        if not found:
            return fail(f"no line with would_recycle and reason=max_requests\n{tail(server.output())}")
        if grep(server.output(), "recycle_requested"):
            return fail(f"a recycle was requested under enforce=off\n{tail(server.output())}")
        return ok(f"{REHEARSAL_REQUESTS} served by the same {len(before)} workers; {found[0].strip()[:200]}")

    return with_start(host, "max_requests=5,enforce=off", body)


def crash_loop(host: Host) -> Cell:
    """Every worker exits with status 1 right after it starts, before
    serving (the app, told by ``WL_HOSTS_CRASH``). Under the default crash
    rules the host either backs off (at most CRASH_MAX_STARTS workers
    started in CRASH_WATCH s, and a ``crash_loop`` event logged) or stops
    with a non-zero exit saying why (a line naming the crash loop, or the
    host's own reason). A host that goes on at full speed, or stops with 0,
    fails."""
    if "crash_loop" in host.not_here:
        return Cell("not here", host.not_here["crash_loop"])
    fd, name = tempfile.mkstemp(prefix="wl-hosts-crash-")
    os.close(fd)
    record = Path(name)
    try:
        server = host.start("max_requests=1000", crash=record)
        try:
            until(lambda: server.group.exited() is not None, CRASH_WATCH, every=0.1)
            rc = server.group.exited()
            out = server.output()
        finally:
            server.stop()
        starts = len(record.read_text().splitlines())
    finally:
        record.unlink(missing_ok=True)
    said = [ln.strip() for ln in out.splitlines() if "crash_loop" in ln or "crash loop" in ln.lower()]
    seen = f"{starts} workers started and crashed"
    if rc is not None:
        if rc == 0:
            return fail(f"{seen}; the host stopped with exit 0\n{tail(out)}")
        why = said[-1] if said else (tail(out).strip().splitlines() or [""])[-1]
        return Cell("pass", f"{seen}; stopped, exit {rc}: {why[:200]}", how="stops")
    if not said:
        return fail(f"{seen} in {CRASH_WATCH:g}s, still running, no crash_loop line\n{tail(out)}")
    if starts > CRASH_MAX_STARTS:
        return fail(f"{seen} in {CRASH_WATCH:g}s (want <= {CRASH_MAX_STARTS}): {said[-1][:200]}")
    return Cell("pass", f"{seen} in {CRASH_WATCH:g}s, backed off: {said[-1][:200]}", how="backs off")


@dataclass
class Scenario:
    id: str
    title: str
    own: Optional[Own] = None
    shared: Optional[Shared] = None


SCENARIOS: List[Scenario] = [
    Scenario("bad_policy", "`max_request=5` refused at start, naming the key", own=bad_policy),
    Scenario("rotation", "`max_requests=5`: 60 paced requests or more (up to 60 s), 0 failed, >= 8 workers", shared=rotation),
    Scenario("heartbeat", "`heartbeat_timeout=2s`: refused naming it, or idle workers live 6 s", own=heartbeat),
    Scenario("surge", "`max_surge=1,max_requests=5`: refused naming it, or rotation goes on", own=surge),
    Scenario("sigkill", "a worker SIGKILLed from outside is replaced, rotation goes on after it, and it is counted as a crash where metrics are served", shared=sigkill),
    Scenario("metrics", "metrics: the core series, recycles counted", shared=metrics),
    Scenario("memory", f"a leak under `max_rss={MAX_RSS_MIB}MiB`: `recycle_requested` `reason=memory_rss` logged", own=leak),
    Scenario("request_timeout", "`request_timeout=1s`: refused naming it, or a stuck request among busy ones (3 clients) ends within 2 s, others served", own=request_timeout),
    Scenario("crash_loop", f"every worker crashes at start: backs off (<= {CRASH_MAX_STARTS} started in {CRASH_WATCH:g} s, `crash_loop` logged) or the host stops non-zero saying why", own=crash_loop),
    Scenario("rehearsal", "`max_requests=5,enforce=off`: every request served by the same workers, `would_recycle` `reason=max_requests` logged", own=rehearsal),
]
