"""What every host of the suite shares: a free port, waits with
deadlines, a started server's process group (stopped with all its
processes and its temp directory, even when a test fails), one HTTP
request, and a process's children from /proc."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Set, TypeVar

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def until(cond: Callable[[], Optional[T]], timeout: float, every: float = 0.05) -> Optional[T]:
    """``cond()`` every ``every`` s until it gives something truthy (that
    value), or ``timeout`` s have passed (None)."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            return None
        time.sleep(every)


def children(parent: int) -> Dict[int, str]:
    """Live (not zombie) children of ``parent``, from /proc: pid -> command line."""
    out: Dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) != parent or fields[0] == "Z":
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                out[int(entry)] = f.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
    return out


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Failed(Exception):
    """A request or task that did not come back as served."""


def http_get(port: int, path: str, timeout: float = 10) -> int:
    """GET on a fresh connection: the pid of the worker that answered (the
    first number of the body), or Failed."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            body = r.read().decode(errors="replace")
            status = r.status
    except (OSError, urllib.error.URLError) as e:
        raise Failed(f"GET {path}: {e!r}") from None
    m = re.search(r"\d+", body)
    if status != 200 or m is None:
        raise Failed(f"GET {path}: {status} {body[:80]!r}")
    return int(m.group(0))


def http_text(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return str(r.read().decode(errors="replace"))


class Group:
    """A process started in a session of its own, its output (stdout and
    stderr) in a file, and a temp directory that goes with it."""

    # Every group not yet stopped: the suite's last resort at exit.
    live: Set["Group"] = set()
    lock = threading.Lock()

    def __init__(
        self,
        argv: Sequence[str],
        env: Dict[str, str],
        cwd: Path,
        tmp: Path,
        stop_signal: int = signal.SIGTERM,
        stop_timeout: float = 5,
    ) -> None:
        self.tmp = tmp
        self.log_path = tmp / "output.log"
        self.stop_signal = stop_signal
        self.stop_timeout = stop_timeout
        self.argv = list(argv)
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                self.argv,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        with Group.lock:
            Group.live.add(self)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def exited(self) -> Optional[int]:
        return self.proc.poll()

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """The host's own stop signal, up to ``stop_timeout`` s for it to
        go, then SIGKILL to it and to whatever is left of its group; the
        temp directory goes too."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(self.stop_signal)
                self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        with Group.lock:
            Group.live.discard(self)

    @classmethod
    def stop_all(cls) -> None:
        with cls.lock:
            left = list(cls.live)
        for g in left:
            g.stop()


def make_tmp(prefix: str) -> Path:
    d = Path(tempfile.mkdtemp(prefix=f"wl-hosts-{prefix}-"))
    os.chmod(d, 0o700)
    return d


def remove_tmp(d: Path) -> None:
    shutil.rmtree(d, ignore_errors=True)


def tail(text: str, n: int = 1500) -> str:
    return text if len(text) <= n else "..." + text[-n:]


def grep(text: str, *needles: str) -> List[str]:
    """The lines of ``text`` holding every one of ``needles``."""
    return [line for line in text.splitlines() if all(n in line for n in needles)]
