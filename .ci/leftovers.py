"""Runs a command as a child subreaper and fails if any process it started
is still alive when it ends.

Every child that ends is reaped at once, orphans included, as init would.
Processes a test started and lost (orphans, daemons, a forked helper that
outlives its parent) are reparented to this process rather than to init, so
every one of them is found: each process whose parent chain reaches here.
They get a short grace to finish going, are then listed (pid and command
line), killed, and the run fails. Linux only (prctl)."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from typing import Dict, List

PR_SET_CHILD_SUBREAPER = 36
GRACE_SECONDS = 5.0


def parents() -> Dict[int, int]:
    out: Dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command may hold spaces and parentheses: fields follow the last ')'.
        fields = stat[stat.rindex(b")") + 2 :].split()
        if fields[0] != b"Z":
            out[int(name)] = int(fields[1])
    return out


def reap_zombies() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def descendants() -> List[int]:
    me = os.getpid()
    ppid = parents()
    found = []
    for pid in ppid:
        p, seen = pid, 0
        while p in ppid and p != me and seen < 4096:
            p, seen = ppid[p], seen + 1
        if p == me and pid != me:
            found.append(pid)
    return sorted(found)


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def main() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("leftovers: cannot become a child subreaper", file=sys.stderr)
        return 1
    main = subprocess.Popen(sys.argv[1:])
    # Reap every child as it ends, the run's orphans too (as init would):
    # a zombie left unreaped here would still count in its process group,
    # which tests check.
    while True:
        pid, status = os.wait()
        if pid == main.pid:
            code = os.waitstatus_to_exitcode(status)
            rc = code if code >= 0 else 128 - code  # a signal, as a shell says it
            break
    main.returncode = rc
    deadline = time.monotonic() + GRACE_SECONDS
    left = descendants()
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        reap_zombies()
        left = descendants()
    if not left:
        print("leftovers: every process the run started has ended")
        return rc
    print(f"leftovers: {len(left)} process(es) the run started are still alive:", file=sys.stderr)
    for pid in left:
        print(f"  pid {pid}: {command_line(pid)}", file=sys.stderr)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    reap_zombies()
    return rc or 1


if __name__ == "__main__":
    sys.exit(main())
