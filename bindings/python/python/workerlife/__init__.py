"""workerlife: when a server's worker processes must be recycled, why, and how.

The master keeps a :class:`Pool`; each worker gets a :class:`Worker` handle
(``pool.claim()``) and wraps its requests in ``begin()``/``end()`` or
``with worker.request():``, or, running several at once (threads, an event
loop), gives each its own ticket: ``t = worker.begin_ticket()`` ...
``worker.end_ticket(t)``. ``pool.tick()`` tells the master whom to
recycle, kill or spawn. See ``workerlife.gunicorn`` for the ready hook and
``workerlife.asgi`` for ASGI servers (uvicorn, gunicorn's uvicorn workers).
"""

from __future__ import annotations

from ._errors import (
    BadLedger,
    BadPoolFile,
    BadTicket,
    Error,
    InvalidArgument,
    NoSuchProcess,
    NotAChild,
    NotForHost,
    NotSupported,
    OSFailure,
    PidReused,
    PolicyError,
    PoolFullError,
    SlotError,
    StillHeld,
    TooManyInFlight,
    UnknownIdentity,
    UnknownPidError,
    UnsafeFile,
)
from ._workerlife import (
    Action,
    Decision,
    Event,
    Host,
    Ledger,
    MetricsServer,
    Policy,
    Pool,
    Process,
    Sample,
    TABLES,
    TICKET_LAST,
    TICKETS,
    Watchdog,
    Worker,
    __version__,
    identity,
    kill,
    render_top,
    sample,
    wait_released,
)

__all__ = [
    "Action",
    "BadLedger",
    "BadPoolFile",
    "BadTicket",
    "Decision",
    "Error",
    "Event",
    "Host",
    "InvalidArgument",
    "Ledger",
    "MetricsServer",
    "NotAChild",
    "NotForHost",
    "NoSuchProcess",
    "NotSupported",
    "OSFailure",
    "PidReused",
    "Policy",
    "PolicyError",
    "Pool",
    "PoolFullError",
    "Process",
    "Sample",
    "SlotError",
    "StillHeld",
    "TABLES",
    "TICKET_LAST",
    "TICKETS",
    "TooManyInFlight",
    "UnknownIdentity",
    "UnknownPidError",
    "UnsafeFile",
    "Watchdog",
    "Worker",
    "__version__",
    "identity",
    "kill",
    "render_top",
    "sample",
    "wait_released",
]
