"""The library's stats endpoint from Python: ``Pool.serve_metrics``, the one
server every host's master serves ``WORKERLIFE_METRICS`` with."""

from __future__ import annotations

import gc
import json
import os
import re
import signal
import socket
import time
import urllib.error
import urllib.request

import pytest

import workerlife
from waiting import eventually
from workerlife import Pool


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return str(r.read().decode())


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_it_serves_the_pools_prometheus_text_and_stats() -> None:
    pool = Pool("max_requests=2", slots=3)
    w = pool.claim()
    for _ in range(3):
        w.begin()
        w.end()
    with pool.serve_metrics("127.0.0.1:0") as server:
        assert isinstance(server, workerlife.MetricsServer) and server.running
        assert server.port > 0 and server.address == f"127.0.0.1:{server.port}"
        assert repr(server) == f"<MetricsServer http://127.0.0.1:{server.port}/metrics>"
        base = f"http://{server.address}"
        for path in ("/metrics", "/"):
            text = get(base + path)
            assert text == pool.prometheus(), text
            assert re.search(r"^workerlife_requests_total 3$", text, re.M), text
        stats = json.loads(get(base + "/stats"))
        assert stats["slots"] == 3 and stats["requests_total"] == 3, stats
        assert stats.keys() == pool.stats().keys()
        with pytest.raises(urllib.error.HTTPError) as e:
            get(base + "/nothing")
        assert e.value.code == 404
        e.value.close()
    assert not server.running and "stopped" in repr(server)
    assert refused(server.port), "the port was closed"
    server.stop()  # idempotent
    assert server.address == f"127.0.0.1:{server.port}"


def test_a_bad_address_is_named_and_a_taken_port_is_an_os_error() -> None:
    pool = Pool()
    for bad in ("nohost", "127.0.0.1:", ":9100", "127.0.0.1:99999", "127.0.0.1:http"):
        with pytest.raises(workerlife.InvalidArgument, match=re.escape(f'metrics address "{bad}"')):
            pool.serve_metrics(bad)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(workerlife.OSFailure) as e:
            pool.serve_metrics(f"127.0.0.1:{port}")
        assert isinstance(e.value, OSError) and e.value.errno == 98, e.value
        assert f'metrics address "127.0.0.1:{port}": cannot serve there' in str(e.value)


def test_a_collected_server_closes_its_port() -> None:
    server = Pool().serve_metrics("127.0.0.1:0")
    port = server.port
    assert get(f"http://127.0.0.1:{port}/metrics")
    del server
    gc.collect()
    assert refused(port)


def test_it_outlives_the_pools_handle() -> None:
    server = Pool("max_requests=5").serve_metrics("127.0.0.1:0")
    gc.collect()
    try:
        assert "workerlife_requests_total 0" in get(f"http://{server.address}/metrics")
    finally:
        server.stop()


def socket_inodes(port: int) -> set[str]:
    """The inodes of every TCP socket with `port` at either end (/proc/net/tcp)."""
    found: set[str] = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            ends = (fields[1], fields[2])
            if any(int(end.split(":")[1], 16) == port for end in ends):
                found.add(fields[9])
    return found


def fd_inodes(pid: int) -> set[str]:
    fd_dir = f"/proc/{pid}/fd"
    inodes: set[str] = set()
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def test_a_forked_child_holds_neither_its_port_nor_a_client_being_answered() -> None:
    """A child forked while the server answers a client (that client sends
    nothing, so the answer waits for it): the child holds no socket of the
    server's, and once the parent stops it the port is free though the
    child lives on."""
    server = Pool().serve_metrics("127.0.0.1:0")
    port = server.port
    client = socket.create_connection(("127.0.0.1", port))
    # Accepted (a socket of this process's): the server waits for its request.
    eventually(lambda: len(socket_inodes(port) & fd_inodes(os.getpid())) >= 3, 10, "the client accepted")
    ours = socket_inodes(port)
    assert len(ours) >= 3, ours  # the listener, and both ends of the client
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        client.close()  # the test's own end of the connection
        os.close(r)
        os.write(w, b"x")
        time.sleep(30)
        os._exit(0)
    try:
        os.close(w)
        assert os.read(r, 1) == b"x"
        os.close(r)
        assert not fd_inodes(pid) & ours, (fd_inodes(pid), ours)
        client.sendall(b"GET /stats HTTP/1.0\r\n\r\n")
        assert b'"slots"' in client.makefile("rb").read()
        client.close()
        server.stop()
        assert refused(port), "the child does not hold the port"
    finally:
        client.close()
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        server.stop()
