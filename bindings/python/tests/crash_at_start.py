"""The conformance suite's crash loop (tests/hosts): a test app calls
``crash_if_asked()`` where its worker starts. With ``WL_HOSTS_CRASH=FILE``
in the environment, the worker appends its pid and a newline to FILE and
exits with status 1 before serving; without it, nothing happens."""

import os


def crash_if_asked() -> None:
    record = os.environ.get("WL_HOSTS_CRASH")
    if not record:
        return
    with open(record, "a") as f:
        f.write(f"{os.getpid()}\n")
    os._exit(1)
