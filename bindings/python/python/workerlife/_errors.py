"""The exceptions workerlife raises. Each derives from :class:`Error` and,
where one fits, from the builtin a caller would already catch."""

from __future__ import annotations

from pathlib import Path
from typing import Optional


class Error(Exception):
    """Base of every workerlife error."""


class PolicyError(Error, ValueError):
    """An unknown policy key or a bad value; names both."""

    key: str = ""
    value: str = ""


class NotForHost(PolicyError):
    """A policy rule the host cannot carry out (``heartbeat_timeout`` where
    nothing beats, ``max_surge`` where nothing starts a replacement); names
    the key, its value, the host and what to do instead."""

    host: str = ""


class SlotError(Error, ValueError):
    """A slot count or index out of range, or a slot already taken."""


class PoolFullError(Error, RuntimeError):
    """Every slot holds a live worker."""


class UnknownPidError(Error, LookupError):
    """No slot holds this pid."""

    pid: int = 0


class BadPoolFile(Error, ValueError):
    """A file that is not a usable workerlife pool."""

    path: Optional[Path] = None


class NoSuchProcess(Error, ProcessLookupError):
    """No such process (or only a zombie is left)."""

    pid: int = 0


class PidReused(NoSuchProcess):
    """The pid now names another process; nothing was signalled."""

    expected: int = 0
    found: int = 0


class UnknownIdentity(Error, ValueError):
    """No identity (start time) was given: a bare pid never authorises a
    signal, and nothing was sent."""

    pid: int = 0


class NotAChild(Error, ValueError):
    """``Pool.adopt`` of a process that is not a child of this one."""

    pid: int = 0
    parent: int = 0


class UnsafeFile(Error, PermissionError):
    """A pool file or ledger not owned by the effective user, or writable by
    group or others; the message names owner and mode."""

    path: Optional[Path] = None


class InvalidArgument(Error, ValueError):
    """An argument no call could act on safely (e.g. a ledger record without
    a start time)."""


class BadTicket(Error, ValueError):
    """``Worker.end_ticket`` of a ticket not in flight in this worker: ended
    already, never issued, or another worker's; nothing changed."""

    ticket: int = 0


class TooManyInFlight(Error, RuntimeError):
    """``Worker.begin_ticket`` with more requests in flight in one worker
    than its slot counts (``TICKETS`` timed, 65,535 more untimed); nothing
    changed."""


class BadLedger(Error, ValueError):
    """A damaged orphan ledger; it was set aside as ``moved_to``."""

    path: Optional[Path] = None
    moved_to: Optional[Path] = None


class OSFailure(Error, OSError):
    """An operating-system call failed (``errno`` tells which way)."""


class NotSupported(Error, NotImplementedError):
    """This platform lacks what the call needs."""


class StillHeld(Error, TimeoutError):
    """``wait_released`` ran out of time; ``what`` is "process" or "port"."""

    what: str = ""
    pid: Optional[int] = None
    port: Optional[int] = None
