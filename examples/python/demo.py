"""The main demo: two gunicorns side by side, serving the same leaking app
under the same load, one with workerlife and one without.

    make demo            (or: .venv/bin/python examples/python/demo.py --seconds 20)

A live table shows each server's workers (pid, age, requests, RSS, state;
with workerlife also how fast each grows per request and when it is
predicted to reach max_rss). At the end: the recycles by reason, the peak
RSS of each server, how the predictions came out against the recycles that
followed, and a chart (chart.svg next to the logs: each worker's RSS over
time, both servers, recycles marked).
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
        # pid -> [(seconds since start, RSS)], for the chart.
        self.series: Dict[int, List[Tuple[float, int]]] = collections.defaultdict(list)
        # pid -> [(when an estimate was made, when it predicted max_rss)].
        self.predicted: Dict[int, List[Tuple[float, float]]] = collections.defaultdict(list)
        # pid -> when it was first seen draining (told to recycle), if it was.
        self.draining_at: Dict[int, float] = {}

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

    def rows(self, elapsed: float) -> List[Tuple[int, float, int, int, str, str, str]]:
        """(pid, age, requests, RSS, state, growth per request, time to
        limit) of each live worker; records the chart's points and the
        predictions."""
        slots = {}
        st = self.stats()
        if st:
            slots = {s["pid"]: s for s in st["per_slot"] if s["pid"]}
        rows = []
        now = boot_seconds()
        for pid in self.worker_pids():
            try:
                s = workerlife.sample(pid)
                start = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
            except (workerlife.Error, OSError, IndexError):
                continue
            rss = s.rss or 0
            slot = slots.get(pid, {})
            growth = slot.get("growth") or {}
            state = slot.get("state", "running" if not st else "starting")
            with self.lock:
                self.peak_rss = max(self.peak_rss, rss)
                self.workers_seen.add(pid)
                served = self.per_pid.get(pid, 0)
                self.series[pid].append((elapsed, rss))
                to_limit = growth.get("seconds_to_limit")
                if to_limit is not None and to_limit > 0:
                    self.predicted[pid].append((elapsed, elapsed + to_limit))
                if state == "draining":
                    self.draining_at.setdefault(pid, elapsed)
            age = now - start / TICKS_PER_SEC
            per_request = growth.get("bytes_per_request")
            grow = f"{per_request / 2**10:.0f} KiB" if per_request is not None else "-"
            eta = "-" if to_limit is None else ("now" if to_limit <= 0 else f"{to_limit:.1f}s")
            rows.append((pid, age, served, rss, state, grow, eta))
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
    columns = [s.rows(elapsed) for s in servers]
    widths = [72, 48]
    out.append("".join(f"{s.name:<{w}}" for s, w in zip(servers, widths)))
    head = f"{'pid':>7} {'age':>7} {'reqs':>5} {'RSS':>11} {'state':<9}"
    out.append(f"{head} {'grow/req':>9} {'to limit':>8}    " + head)
    for i in range(max(len(c) for c in columns)):
        line = ""
        for n, (c, w) in enumerate(zip(columns, widths)):
            if i < len(c):
                pid, age, reqs, rss, state, grow, eta = c[i]
                cell = f"{pid:>7} {age:6.1f}s {reqs:>5} {mib(rss):>11} {state:<9}"
                if n == 0:
                    cell += f" {grow:>9} {eta:>8}"
                line += f"{cell:<{w}}"
            else:
                line += " " * w
        out.append(line.rstrip())
    out.append("")
    out.append("".join(f"{f'ok {s.ok}  failed {s.failed}  workers so far {len(s.workers_seen)}':<{w}}" for s, w in zip(servers, widths)))
    return "\n".join(out)


def recycle_reasons(log: Path) -> Dict[int, str]:
    """pid -> why the hook recycled or killed it, from gunicorn's log."""
    out: Dict[int, str] = {}
    for line in log.read_text(errors="replace").splitlines():
        for verb in ("recycling worker ", "killing worker "):
            if verb in line:
                rest = line.split(verb, 1)[1]
                pid = int(rest.split()[0])
                out[pid] = rest.split("): ", 1)[1].split(":")[0] if "): " in rest else "?"
    return out


def chart(servers: List[Server], reasons: Dict[int, str], limit_mib: float, seconds: float, path: Path) -> None:
    """An SVG, one panel per server: each worker's RSS over time (one line per
    worker), max_rss dashed, a mark where workerlife recycled (circle) or
    killed (cross) a worker. Hand-written: a dozen lines of SVG need no
    plotting library."""
    # Each panel: its title above, the seconds axis and (first panel) the
    # legend below, each on a line of its own, then the next panel's title.
    w, h, pad, gap = 900, 300, 50, 80
    top = max([limit_mib * 1.2] + [r / 2**20 for s in servers for pts in s.series.values() for _, r in pts])
    colors = {"memory_rss": "#d62728", "max_requests": "#1f77b4", "request_timeout": "#000000"}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{len(servers) * (h + gap) + pad}" '
             'font-family="sans-serif" font-size="12">', '<rect width="100%" height="100%" fill="white"/>']
    for n, s in enumerate(servers):
        y0 = pad + n * (h + gap)

        def x(t: float) -> float:
            return pad + (w - 2 * pad) * t / seconds

        def y(m: float, y0: float = y0) -> float:
            return y0 + h - h * m / top

        parts.append(f'<text x="{pad}" y="{y0 - 10}" font-size="14">{s.name}: worker RSS (MiB) over time (s)</text>')
        parts.append(f'<rect x="{pad}" y="{y0}" width="{w - 2 * pad}" height="{h}" fill="none" stroke="#999"/>')
        for m in range(0, int(top) + 1, 50):
            parts.append(f'<text x="{pad - 6}" y="{y(m) + 4:.1f}" text-anchor="end">{m}</text>')
        for sec in range(0, int(seconds) + 1, 5):
            parts.append(f'<text x="{x(sec):.1f}" y="{y0 + h + 15}" text-anchor="middle">{sec}</text>')
        parts.append(f'<line x1="{pad}" x2="{w - pad}" y1="{y(limit_mib):.1f}" y2="{y(limit_mib):.1f}" '
                     f'stroke="#d62728" stroke-dasharray="6 4"/><text x="{w - pad - 4}" y="{y(limit_mib) - 4:.1f}" '
                     f'text-anchor="end" fill="#d62728">max_rss {limit_mib:.0f} MiB</text>')
        for pid, pts in sorted(s.series.items()):
            if not pts:
                continue
            line = " ".join(f"{x(t):.1f},{y(r / 2**20):.1f}" for t, r in pts)
            parts.append(f'<polyline points="{line}" fill="none" stroke="#555" stroke-width="1.2"><title>pid {pid}</title></polyline>')
            why = reasons.get(pid) if n == 0 else None
            if why:
                t, r = pts[-1]
                color = colors.get(why, "#2ca02c")
                if why.endswith("timeout"):
                    parts.append(f'<text x="{x(t):.1f}" y="{y(r / 2**20) + 4:.1f}" text-anchor="middle" fill="{color}">x</text>')
                else:
                    parts.append(f'<circle cx="{x(t):.1f}" cy="{y(r / 2**20):.1f}" r="3.5" fill="{color}"><title>{why}</title></circle>')
        if n == 0:
            parts.append(f'<text x="{pad}" y="{y0 + h + 32}">marks: red circle memory_rss, blue circle '
                         'max_requests, green circle another recycle, x a kill (request_timeout)</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")


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
            text = table(servers, elapsed, a.seconds)  # also records the chart's points
            if live:
                sys.stdout.write("\x1b[H\x1b[2J" + text + "\n")
                sys.stdout.flush()
            elif elapsed - last_print >= 5:
                print(text + "\n", flush=True)
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
        reasons = recycle_reasons(w.log)
        # The predictions against what happened: each worker recycled for
        # memory_rss, its first estimate of when it would reach max_rss
        # against when it was told to go.
        print()
        for horizon in (5.0, 2.0):
            errors = []
            for pid, why in reasons.items():
                if why != "memory_rss" or not w.series.get(pid):
                    continue
                # Told to go: seen draining, else last seen alive (it drains in
                # a request's time, between two polls).
                actual = w.draining_at.get(pid, w.series[pid][-1][0])
                # The last estimate made at least `horizon` seconds before.
                made = [due for at, due in w.predicted[pid] if at <= actual - horizon]
                if made:
                    errors.append(actual - made[-1])
            if errors:
                errors.sort(key=abs)
                print(f"Predictions {horizon:.0f}s ahead: {len(errors)} workers recycled for memory_rss reached max_rss "
                      f"a median {errors[len(errors) // 2]:+.1f}s from when their estimate said")
        print("(+: later than predicted; the table polls every 0.5s)")
        path = logdir / "chart.svg"
        chart(servers, reasons, 96, a.seconds, path)
        print("\nA hung request fails either way; with workerlife its worker is killed after")
        print("request_timeout and replaced, without it the worker stays stuck until gunicorn's")
        print("own 30 s timeout. Leaking workers are recycled one at a time, after their request.")
        print(f"\nLogs: {logdir} (grep 'workerlife:' for every recycle, kill and exit with its reason)")
        print(f"Chart: {path} (each worker's RSS over time, both servers, recycles marked; open it in a browser)")
    finally:
        for s in servers:
            s.stop()


if __name__ == "__main__":
    main()
