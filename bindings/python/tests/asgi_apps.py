"""ASGI apps (Starlette) for the end-to-end tests: ``plain`` as written by
a user (gunicorn's uvicorn worker, whose hook wraps it), ``app`` wrapped in
the middleware (uvicorn alone)."""

import asyncio
import ctypes
import os
import time
from typing import AsyncIterator, List

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from workerlife.asgi import WorkerLife

from crash_at_start import crash_if_asked

crash_if_asked()  # imported in each worker: the crash-loop scenario

_leaked: List[bytes] = []
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def answer() -> Response:
    return PlainTextResponse(f"{os.getpid()} {rss()}\n")


async def home(request: Request) -> Response:
    return answer()


async def leak(request: Request) -> Response:
    _leaked.append(b"x" * (1 << 20))  # written, so resident
    return answer()


async def slow(request: Request) -> Response:
    await asyncio.sleep(0.02)
    return answer()


async def hang(request: Request) -> Response:
    how = request.query_params.get("how", "sleep")
    mark = request.query_params.get("mark")
    if mark:  # the test waits for this file to know its request is here
        with open(mark + ".tmp", "w") as f:
            f.write(f"{os.getpid()}\n")
        os.rename(mark + ".tmp", mark)
    if how == "await":
        # Stuck (or ?secs= late), but the event loop runs on.
        await asyncio.sleep(float(request.query_params.get("secs", "3600")))
    elif how == "sleep":
        time.sleep(3600)  # blocks the event loop: a sync call in async code
    elif how == "spin":
        while True:  # a busy loop holding the GIL
            pass
    elif how == "c":
        # A C-level sleep that keeps the GIL (PyDLL does not release it).
        ctypes.PyDLL(None).sleep(3600)
    return answer()


async def body(request: Request) -> Response:
    """Reads the whole body (as slowly as the client sends it)."""
    data = await request.body()
    return PlainTextResponse(f"{os.getpid()} {len(data)}\n")


async def stream(request: Request) -> Response:
    """``n`` chunks, ``every`` seconds apart: longer than request_timeout."""
    n = int(request.query_params.get("n", "4"))
    every = float(request.query_params.get("every", "1"))

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(n):
            yield f"{os.getpid()} chunk {i}\n".encode()
            await asyncio.sleep(every)

    return StreamingResponse(chunks(), media_type="text/plain")


async def echo(ws: WebSocket) -> None:
    await ws.accept()
    try:
        while True:
            text = await ws.receive_text()
            await ws.send_text(f"{os.getpid()} {text}")
    except WebSocketDisconnect:
        pass


plain = Starlette(
    routes=[
        Route("/", home),
        Route("/leak", leak),
        Route("/slow", slow),
        Route("/hang", hang),
        Route("/body", body, methods=["POST"]),
        Route("/stream", stream),
        WebSocketRoute("/ws", echo),
    ]
)
app = WorkerLife(plain)


async def hello(scope, receive, send):  # type: ignore[no-untyped-def]
    """A bare ASGI hello world, for the benchmark."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


wrapped_hello = WorkerLife(hello)
