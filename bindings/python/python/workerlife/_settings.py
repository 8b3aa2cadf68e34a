"""Settings every host integration reads from the environment the same
way (gunicorn, Celery): the policy, the metrics address, the tick, the
pool file. A bad one stops the host's start with a RuntimeError naming it
(gunicorn prints it as "Error: ..."), never "serve on with workerlife off"."""

from __future__ import annotations

import errno
import fcntl
import os
import struct
from typing import Optional

from . import Error, Host, MetricsServer, Policy, PolicyError, Pool


def policy_from_env() -> Policy:
    """The policy in WORKERLIFE_POLICY; RuntimeError (which gunicorn prints
    as "Error: ..." before it exits) naming a bad key or value."""
    spec = os.environ.get("WORKERLIFE_POLICY", "")
    try:
        return Policy.parse(spec)
    except PolicyError as e:
        raise RuntimeError(f"workerlife: bad WORKERLIFE_POLICY {spec!r}: {e}") from e


def metrics_address() -> Optional[str]:
    """WORKERLIFE_METRICS, checked for its form (``HOST:PORT``) only; None
    when unset. A RuntimeError naming the setting and the value otherwise."""
    value = os.environ.get("WORKERLIFE_METRICS", "").strip()
    if not value:
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RuntimeError(f"workerlife: bad WORKERLIFE_METRICS {value!r}: expected HOST:PORT")
    return value


def _tick_interval() -> float:
    value = os.environ.get("WORKERLIFE_TICK", "0.1")
    try:
        tick = float(value)
    except ValueError:
        tick = -1.0
    if not 0.0 < tick <= 60.0:
        raise RuntimeError(f"workerlife: bad WORKERLIFE_TICK {value!r}: expected seconds in (0, 60]")
    return tick


def check_policy(policy: Policy, host: Host, setting: str = "WORKERLIFE_POLICY") -> None:
    """The policy against what ``host`` can carry out: a rule it cannot is a
    RuntimeError naming the setting, the key, the host and what to do."""
    try:
        host.check(policy)
    except PolicyError as e:
        raise RuntimeError(f"workerlife: bad {setting} {str(policy)!r}: {e}") from e


def pool_path(path: Optional[str] = None) -> Optional[str]:
    """``path``, else WORKERLIFE_POOL, checked: its directory must exist (a
    RuntimeError naming the setting and the path otherwise)."""
    path = (os.environ.get("WORKERLIFE_POOL", "") if path is None else path).strip()
    if not path:
        return None
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise RuntimeError(
            f"workerlife: bad WORKERLIFE_POOL {path!r}: its directory {folder} does not exist "
            "(make it first, owned by the server's user)"
        )
    return path


def _held_by_another(path: str) -> bool:
    """Whether a live process holds the pool file (each holder keeps a
    shared open-file-description lock on it, released by the kernel when it
    dies): asked without taking a lock (F_OFD_GETLK)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False  # missing: ours to make
    try:
        # struct flock: l_type, l_whence, l_start, l_len, l_pid.
        probe = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        got = fcntl.fcntl(fd, fcntl.F_OFD_GETLK, probe)
        return bool(struct.unpack("hhqqi", got[: struct.calcsize("hhqqi")])[0] != fcntl.F_UNLCK)
    except OSError as e:
        if e.errno in (errno.EINVAL, errno.ENOTSUP):
            return False  # no OFD locks here: Pool.open says what it can
        raise
    finally:
        os.close(fd)


def master_pool(policy: Policy, slots: int) -> Pool:
    """The pool a master makes before its first fork: published at
    WORKERLIFE_POOL when set (for ``workerlife top``; a file left by a
    master that is gone is made anew), else an anonymous shared pool. One
    pool, one master: a file another live process holds (a second server
    given the same WORKERLIFE_POOL) is refused, as is a file that is not a
    pool; the RuntimeError names the setting."""
    path = pool_path()
    if path is None:
        return Pool(policy, slots=slots, shared=True)
    if _held_by_another(path):
        raise RuntimeError(
            f"workerlife: bad WORKERLIFE_POOL {path!r}: another live server holds this pool "
            "(one pool file per master: give each server its own WORKERLIFE_POOL)"
        )
    try:
        return Pool.open(path, policy, slots=slots)
    except Error as e:
        raise RuntimeError(f"workerlife: bad WORKERLIFE_POOL {path!r}: {e}") from e


def metrics_server(pool: Pool) -> Optional[MetricsServer]:
    """The library's stats endpoint for ``pool`` at WORKERLIFE_METRICS
    (:meth:`Pool.serve_metrics`: one server, in native code, for every host),
    bound and serving now; children forked later hold none of its sockets.
    An address that cannot be served (unresolvable, not this machine's, a
    port in use) is a RuntimeError naming the setting and the value."""
    value = metrics_address()
    if value is None:
        return None
    try:
        return pool.serve_metrics(value)
    except Error as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        # The library names the address; the message names the setting.
        named = f'metrics address "{value}": '
        why = why[len(named):] if why.startswith(named) else why
        raise RuntimeError(f"workerlife: bad WORKERLIFE_METRICS {value}: {why}") from e


def let_go(pool: Pool) -> None:
    """A master's pool that will not be used after all (its start failed
    past ``master_pool``): a pool file published at WORKERLIFE_POOL is
    removed, unless another live process holds it."""
    if pool.path is not None and os.environ.get("WORKERLIFE_POOL", "").strip():
        try:
            pool.remove_if_last()
        except Error:
            pass
