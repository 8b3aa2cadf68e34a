"""Waiting in a test, the two ways there are: until something happens
(``eventually``: polled, so the test goes on the moment it does), or through
a span in which something must not happen (``quiet_for``: the span is the
point). Nothing else in the tests sleeps to wait."""

from __future__ import annotations

import os
import time
from typing import Callable, Optional, Tuple, TypeVar, Union

T = TypeVar("T")

# What a failure says: a text, or a function that makes it then (a server's
# log as it is at the failure).
What = Union[str, Callable[[], str]]


def _text(what: What) -> str:
    return what if isinstance(what, str) else what()


def eventually(predicate: Callable[[], Optional[T]], timeout: float, what: What, interval: float = 0.02) -> T:
    """Calls ``predicate`` every ``interval`` s until it returns something
    true, and returns that; raises AssertionError naming ``what`` if it has
    not within ``timeout`` s. The predicate may also act (send a request,
    read a line), once a call."""
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout:g} s: {_text(what)}")
        time.sleep(interval)


def quiet_for(
    seconds: float,
    why: str,
    holds: Optional[Callable[[], object]] = None,
    interval: float = 0.05,
    what: Optional[What] = None,
) -> None:
    """Lets ``seconds`` pass in which nothing must happen (``why`` says what
    not, and why this long). With ``holds``, checks it all through and fails
    as soon as it turns false (``what``, or ``why``, naming the failure)."""
    deadline = time.monotonic() + seconds
    while True:
        if holds is not None and not holds():
            raise AssertionError(f"within {seconds:g} s ({why}): {_text(what) if what is not None else 'broken'}")
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(interval, left) if holds is not None else left)


def reaped(pid: int, timeout: float, what: What) -> int:
    """Waits for the child ``pid`` to end (waitpid, polled): its wait status."""

    def ended() -> Optional[Tuple[int]]:
        done, status = os.waitpid(pid, os.WNOHANG)
        return (status,) if done else None

    return eventually(ended, timeout, what, interval=0.001)[0]
