"""The main demo: two gunicorns side by side, serving the same leaking app
under the same load, one with workerlife and one without.

    make demo            (or: .venv/bin/python examples/python/demo.py --seconds 20)

A live table shows each server's workers (pid, age, requests, RSS, state);
at the end, the recycles by reason and the peak RSS of each server.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import workerlife

HERE = Path(__file__).resolve().parent
POLICY = "max_rss=96MiB,max_requests=150,max_requests_jitter=50,request_timeout=3s,sample_interval=200ms"
WORKERS = 4
TICKS_PER_SEC = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def boot_seconds() -> float:
    return float(Path("/proc/uptime").read_text().split()[0])


class Server:
    def __init__(self, name: str, with_workerlife: bool, logdir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.metrics_port = free_port() if with_workerlife else None
        self.log = logdir / f"{name.replace(' ', '-')}.log"
        env = dict(os.environ)
        args = [sys.executable, "-m", "gunicorn", "--chdir", str(HERE), "-w", str(WORKERS),
                "-b", f"127.0.0.1:{self.port}", "--error-logfile", str(self.log),
                "--log-level", "info", "--timeout", "30"]
        if with_workerlife:
            env["WORKERLIFE_POLICY"] = POLICY
            env["WORKERLIFE_METRICS"] = f"127.0.0.1:{self.metrics_port}"
            args += ["-c", "python:workerlife.gunicorn"]
        args.append("demo_app:app")
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.ok = 0
        self.failed = 0
        self.per_pid: Dict[int, int] = collections.Counter()
        self.peak_rss = 0
        self.workers_seen: set[int] = set()
        self.lock = threading.Lock()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit(f"{self.name}: gunicorn did not start; see {self.log}")

    def worker_pids(self) -> List[int]:
        pids: List[int] = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            try:
                pids += [int(p) for p in (task / "children").read_text().split()]
            except OSError:
                pass
        return sorted(pids)

    def stats(self) -> Optional[Dict[str, Any]]:
        if self.metrics_port is None:
            return None
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/stats", timeout=2) as r:
                return json.loads(r.read())  # type: ignore[no-any-return]
        except OSError:
            return None

    def rows(self) -> List[Tuple[int, float, int, int, str]]:
        states = {}
        st = self.stats()
        if st:
            states = {s["pid"]: s["state"] for s in st["per_slot"] if s["pid"]}
        rows = []
        now = boot_seconds()
        for pid in self.worker_pids():
            try:
                s = workerlife.sample(pid)
                start = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
            except (workerlife.Error, OSError, IndexError):
                continue
            rss = s.rss or 0
            with self.lock:
                self.peak_rss = max(self.peak_rss, rss)
                self.workers_seen.add(pid)
                served = self.per_pid.get(pid, 0)
            age = now - start / TICKS_PER_SEC
            rows.append((pid, age, served, rss, states.get(pid, "running" if not st else "starting")))
        return rows

    def stop(self) -> None:
        # Quick shutdown: a graceful one would wait for the hung requests.
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def client(s: Server, stop: threading.Event, interval: float) -> None:
    """Sends a request to `s` every `interval` seconds (a hung request
    holds up only this client, which gives up after 10 s)."""
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{s.port}/", timeout=10) as r:
                pid = int(r.read().split()[0])
            with s.lock:
                s.ok += 1
                s.per_pid[pid] += 1
        except Exception:
            with s.lock:
                s.failed += 1
        stop.wait(max(0.0, interval - (time.monotonic() - t0)))


def mib(n: int) -> str:
    return f"{n / 2**20:7.1f} MiB"


def table(servers: List[Server], elapsed: float, total: float) -> str:
    out = [f"workerlife demo: {elapsed:4.1f}s of {total:.0f}s; same app, same load; policy {POLICY}", ""]
    columns = [s.rows() for s in servers]
    width = 52
    out.append("".join(f"{s.name:<{width}}" for s in servers))
    out.append("".join(f"{'pid':>7} {'age':>7} {'reqs':>6} {'RSS':>12} {'state':<12}    " for _ in servers))
    for i in range(max(len(c) for c in columns)):
        line = ""
        for c in columns:
            if i < len(c):
                pid, age, reqs, rss, state = c[i]
                line += f"{pid:>7} {age:6.1f}s {reqs:>6} {mib(rss):>12} {state:<12}    "
            else:
                line += " " * width
        out.append(line)
    out.append("")
    out.append("".join(f"{f'ok {s.ok}  failed {s.failed}  workers so far {len(s.workers_seen)}':<{width}}" for s in servers))
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--clients", type=int, default=8, help="client threads per server")
    ap.add_argument("--rate", type=float, default=60.0, help="requests/s sent to each server")
    a = ap.parse_args()
    logdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"workerlife-demo-{os.getpid()}"
    logdir.mkdir(parents=True, exist_ok=True)
    servers = [Server("with workerlife", True, logdir), Server("without workerlife", False, logdir)]
    try:
        for s in servers:
            s.wait_ready()
        stop = threading.Event()
        clients = [threading.Thread(target=client, args=(s, stop, a.clients / a.rate), daemon=True)
                   for s in servers for _ in range(a.clients)]
        for t in clients:
            t.start()
        live = sys.stdout.isatty()
        started = time.monotonic()
        last_print = -10.0
        while (elapsed := time.monotonic() - started) < a.seconds:
            if live:
                sys.stdout.write("\x1b[H\x1b[2J" + table(servers, elapsed, a.seconds) + "\n")
                sys.stdout.flush()
            elif elapsed - last_print >= 5:
                print(table(servers, elapsed, a.seconds) + "\n", flush=True)
                last_print = elapsed
            time.sleep(0.5)
        stop.set()
        # Clients stuck on a hung request are not waited for (daemons).
        deadline = time.monotonic() + 1.0
        for t in clients:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        final = table(servers, a.seconds, a.seconds)
        print(("\x1b[H\x1b[2J" if live else "") + final + "\n")
        st = servers[0].stats() or {}
        recycles = {k: v for k, v in st.get("recycles", {}).items() if v}
        print("Recycles and kills by reason (with workerlife):")
        for reason, n in sorted(recycles.items(), key=lambda kv: -kv[1]):
            print(f"  {reason:<18} {n}")
        if not recycles:
            print("  none")
        print()
        print(f"{'':<22}{'with workerlife':>18}{'without':>18}")
        w, wo = servers
        print(f"{'peak worker RSS':<22}{mib(w.peak_rss):>18}{mib(wo.peak_rss):>18}")
        print(f"{'requests ok':<22}{w.ok:>18}{wo.ok:>18}")
        print(f"{'requests failed':<22}{w.failed:>18}{wo.failed:>18}   (the app's hung requests)")
        print(f"{'worker processes':<22}{len(w.workers_seen):>18}{len(wo.workers_seen):>18}")
        print("\nA hung request fails either way; with workerlife its worker is killed after")
        print("request_timeout and replaced, without it the worker stays stuck until gunicorn's")
        print("own 30 s timeout. Leaking workers are recycled one at a time, after their request.")
        print(f"\nLogs: {logdir} (grep 'workerlife:' for every recycle, kill and exit with its reason)")
    finally:
        for s in servers:
            s.stop()


if __name__ == "__main__":
    main()
