"""Settings every host integration reads from the environment the same
way (gunicorn, Celery): the policy, the metrics address, the tick."""

from __future__ import annotations

import os
from typing import Optional, Tuple

from . import Policy, PolicyError


def policy_from_env() -> Policy:
    """The policy in WORKERLIFE_POLICY; RuntimeError (which gunicorn prints
    as "Error: ..." before it exits) naming a bad key or value."""
    spec = os.environ.get("WORKERLIFE_POLICY", "")
    try:
        return Policy.parse(spec)
    except PolicyError as e:
        raise RuntimeError(f"workerlife: bad WORKERLIFE_POLICY {spec!r}: {e}") from e


def _metrics_address() -> Optional[Tuple[str, int]]:
    value = os.environ.get("WORKERLIFE_METRICS", "").strip()
    if not value:
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RuntimeError(f"workerlife: bad WORKERLIFE_METRICS {value!r}: expected HOST:PORT")
    return host, int(port)


def _tick_interval() -> float:
    value = os.environ.get("WORKERLIFE_TICK", "0.1")
    try:
        tick = float(value)
    except ValueError:
        tick = -1.0
    if not 0.0 < tick <= 60.0:
        raise RuntimeError(f"workerlife: bad WORKERLIFE_TICK {value!r}: expected seconds in (0, 60]")
    return tick
