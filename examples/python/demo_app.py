"""The demo's WSGI app: one request in two leaks 1 MiB (a cache that
never evicts, the classic), and about one in 500 hangs (a stuck upstream
call). Answers "PID RSS"."""

import os
import random
import time
from typing import Any, Callable, Iterable, List

_cache: List[bytes] = []
_PAGE = os.sysconf("SC_PAGE_SIZE")


def app(environ: Any, start_response: Callable[..., Any]) -> Iterable[bytes]:
    if random.random() < 1 / 2:
        _cache.append(b"x" * (1 << 20))
    if random.random() < 1 / 500:
        time.sleep(60)
    time.sleep(0.002)  # some work
    with open("/proc/self/statm") as f:
        rss = int(f.read().split()[1]) * _PAGE
    body = f"{os.getpid()} {rss}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
