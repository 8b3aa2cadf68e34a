"""WSGI apps for the end-to-end tests (gunicorn loads them by name)."""

import os
import time
from typing import Any, Callable, Iterable, List

from crash_at_start import crash_if_asked

crash_if_asked()  # imported in each worker: the crash-loop scenario

_leaked: List[bytes] = []
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def mark_hang(query: str) -> None:
    """Writes this pid to the file ``mark=`` names, if any: a test waits
    for it to know its request is in a worker."""
    from urllib.parse import parse_qs

    for path in parse_qs(query).get("mark", []):
        with open(path + ".tmp", "w") as f:
            f.write(f"{os.getpid()}\n")
        os.rename(path + ".tmp", path)


def app(environ: Any, start_response: Callable[..., Any]) -> Iterable[bytes]:
    """/ answers "PID RSS"; /leak keeps 1 MiB more first; /hang never
    answers (?mark=PATH: it writes its pid there first); /slow takes 20 ms;
    /boom raises (gunicorn answers 500)."""
    path = environ.get("PATH_INFO", "/")
    if path == "/attack":
        # A hostile app: aim the master at another process through the
        # shared pool, as any code in a worker could.
        from urllib.parse import parse_qs

        from workerlife.gunicorn import state

        q = parse_qs(environ.get("QUERY_STRING", ""))
        assert state.pool is not None
        w = state.pool.claim(int(q["pid"][0]))
        if q["how"][0] == "recycle":
            state.pool.recycle(w.slot)
        else:
            w.begin()  # a request that never ends, on the victim's slot
    elif path == "/die":
        import signal as _signal

        os.kill(os.getpid(), _signal.SIGKILL)  # the worker dies by a signal
    elif path == "/leak":
        # 1 MiB more (or ?mib=N, a MiB every 25 ms: a request in flight
        # while it grows), written, so resident.
        mib = int(environ.get("QUERY_STRING", "").partition("mib=")[2] or 0)
        for i in range(max(mib, 1)):
            if i:
                time.sleep(0.025)
            _leaked.append(b"x" * (1 << 20))
    elif path == "/hang":
        mark_hang(environ.get("QUERY_STRING", ""))
        time.sleep(3600)
    elif path == "/slow":
        time.sleep(0.02)
    elif path == "/boom":
        raise RuntimeError("the app failed")
    body = f"{os.getpid()} {rss()}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
