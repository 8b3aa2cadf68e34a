"""Bad input raises a workerlife.Error (and the builtin that fits), naming
what was wrong; nothing crashes and nothing is signalled by mistake."""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import workerlife
from workerlife import Policy, Pool


@pytest.mark.parametrize(
    "spec, key, value",
    [
        ("max_request=5", "max_request", "5"),
        ("max_rss=lots", "max_rss", "lots"),
        ("request_timeout=-1s", "request_timeout", "-1s"),
        ("max_requests=1.5", "max_requests", "1.5"),
        ("max_concurrent_recycles=70000", "max_concurrent_recycles", "70000"),
    ],
)
def test_bad_spec_names_key_and_value(spec: str, key: str, value: str) -> None:
    with pytest.raises(workerlife.PolicyError) as e:
        Policy.parse(spec)
    assert isinstance(e.value, ValueError) and isinstance(e.value, workerlife.Error)
    assert e.value.key == key and e.value.value == value
    assert key in str(e.value) and value in str(e.value)


def test_bad_kwargs() -> None:
    with pytest.raises(workerlife.PolicyError, match="max_rsss"):
        Policy(max_rsss=1)
    with pytest.raises(workerlife.PolicyError, match="bool"):
        Policy(max_requests=True)
    with pytest.raises(workerlife.PolicyError, match="max_fds"):
        Policy(max_fds=[3])  # type: ignore[arg-type]
    with pytest.raises(workerlife.PolicyError, match="max_requests"):
        Policy(max_requests=-1)
    with pytest.raises(workerlife.PolicyError, match="backoff_max"):
        Policy(backoff_initial=10, backoff_max=5)
    with pytest.raises(KeyError):
        Policy()["nope"]


def test_pool_arguments() -> None:
    with pytest.raises(workerlife.SlotError, match="slot count 0"):
        Pool(slots=0)
    with pytest.raises(TypeError, match="policy must be"):
        Pool(42)  # type: ignore[arg-type]
    with pytest.raises(workerlife.PolicyError, match="nope"):
        Pool("nope=1")
    with pytest.raises(OverflowError):
        Pool(slots=-1)
    pool = Pool(slots=2)
    with pytest.raises(workerlife.SlotError, match="slot 2 is out of range") as e:
        pool.slot(2)
    assert isinstance(e.value, ValueError)
    with pytest.raises(workerlife.SlotError):
        pool.decision(5)
    with pytest.raises(workerlife.SlotError):
        pool.recycle(9)
    with pytest.raises(workerlife.UnknownPidError, match="4242") as u:
        pool.exited(4242)
    assert u.value.pid == 4242 and isinstance(u.value, LookupError)
    pool.spawned(0, os.getpid())
    pool.spawned(0, os.getpid())  # the same again is no error
    with pytest.raises(workerlife.SlotError, match="already holds"):
        pool.spawned(0, os.getppid())
    with pytest.raises(workerlife.NotSupported, match="manual clock"):
        pool.advance(1)
    with pytest.raises(ValueError, match="finite"):
        Pool(manual_clock=True).advance(float("nan"))


def test_full_pool() -> None:
    pool = Pool(slots=1)
    pool.claim(os.getpid())
    with pytest.raises(workerlife.PoolFullError, match="all 1 slots"):
        pool.claim(os.getppid())


def test_named_pool_files(tmp_path: Path) -> None:
    with pytest.raises(workerlife.OSFailure) as e:
        Pool.attach(tmp_path / "missing")
    assert e.value.errno == errno.ENOENT and isinstance(e.value, OSError)
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"not a pool" * 1000)
    with pytest.raises(workerlife.BadPoolFile) as b:
        Pool.attach(garbage)
    assert str(garbage) in str(b.value)
    short = tmp_path / "short"
    short.write_bytes(b"")
    with pytest.raises(workerlife.BadPoolFile):
        Pool.attach(short)
    path = tmp_path / "pool"
    pool = Pool.create(path, "max_requests=3", slots=2)
    with pytest.raises(workerlife.OSFailure) as x:
        Pool.create(path, "", slots=1)
    assert x.value.errno == errno.EEXIST
    # A damaged header is refused, and the creator's pool still works.
    raw = bytearray(path.read_bytes())
    copy = tmp_path / "damaged"
    raw[40] ^= 0xFF
    copy.write_bytes(bytes(raw))
    with pytest.raises(workerlife.BadPoolFile):
        Pool.attach(copy)
    assert pool.claim().end() is False


def test_toolkit_errors(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with pytest.raises(workerlife.NoSuchProcess) as e:
        workerlife.sample(gone.pid)
    assert e.value.pid == gone.pid and isinstance(e.value, ProcessLookupError)
    with pytest.raises(workerlife.NoSuchProcess):
        workerlife.identity(gone.pid)
    with pytest.raises(workerlife.UnknownIdentity):
        workerlife.kill(gone.pid, 15, 0)  # a bare pid never authorises a signal
    with pytest.raises(workerlife.NoSuchProcess):
        workerlife.kill(gone.pid, 15, 12345)
    with pytest.raises(workerlife.NoSuchProcess):
        workerlife.kill(0, 15, 0)  # never "every process in the group"
    with pytest.raises(OverflowError):
        workerlife.kill(-1, 15, 0)
    with pytest.raises(OverflowError):
        workerlife.sample(-5)
    ledger = tmp_path / "ledger"
    ledger.write_text("this is no ledger\n")
    with pytest.raises(workerlife.BadLedger) as bl:
        workerlife.Ledger(ledger).entries()
    assert bl.value.moved_to is not None and Path(bl.value.moved_to).exists()
    with pytest.raises(ValueError, match="timeout"):
        workerlife.wait_released(pid=os.getpid(), timeout=-1)
    for huge in (1e19, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="timeout"):
            workerlife.wait_released(pid=os.getpid(), timeout=huge)
        with pytest.raises(ValueError, match="grace"):
            workerlife.Ledger(tmp_path / "reap-ledger").reap(grace=huge)
    with pytest.raises(workerlife.InvalidArgument, match="without a start time"):
        workerlife.Ledger(tmp_path / "zero-ledger").record(os.getpid(), start_time=0)
    with pytest.raises(workerlife.PolicyError, match="rounds to 0") as pe:
        workerlife.Policy.parse("request_timeout=0.4us")
    assert pe.value.key == "request_timeout"


def test_every_error_is_a_workerlife_error() -> None:
    for name in workerlife.__all__:
        obj = getattr(workerlife, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            assert issubclass(obj, workerlife.Error)


def test_a_failing_vector_names_its_case(tmp_path: Path) -> None:
    case = {
        "name": "deliberately wrong",
        "policy": "max_requests=2",
        "steps": [{"op": "request"}, {"op": "expect", "action": "recycle"}],
    }
    (tmp_path / "wrong.json").write_text(json.dumps([case]))
    here = Path(__file__).parent
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(here / "test_vectors.py")],
        env={**os.environ, "WORKERLIFE_VECTORS": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1
    assert "wrong.json: deliberately wrong" in r.stdout
    assert "step 1" in r.stdout and "expected recycle" in r.stdout
    assert "1 failed" in r.stdout


def test_render_top_refuses_what_is_not_a_pools_stats() -> None:
    for bad in ("", "not json", "[]", '{"per_slot": 3}', "\x00"):
        with pytest.raises(ValueError):
            workerlife.render_top(bad, "x")
    table = workerlife.render_top(workerlife.Pool(None, 2).stats_json(), "here")
    assert table.startswith("workerlife top: here\n")


MAKER = """
import sys, time, workerlife
pool = workerlife.Pool.create(sys.argv[1], "max_requests=5", slots=2)
dog = pool.claim().watchdog()  # a thread that keeps the pool's memory
print("ready", flush=True)
if sys.argv[2] == "wait":
    time.sleep(60)
"""


def test_a_pool_file_outlives_no_maker(tmp_path: Path) -> None:
    """The README's setup (a pool file, a worker's watchdog running): the
    maker exiting removes its file; a maker SIGKILLed leaves it, and the next
    `Pool.create` makes it anew instead of failing with "File exists"."""
    path = tmp_path / "pool"
    done = subprocess.run([sys.executable, "-c", MAKER, str(path), "exit"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "ready\n", done.stderr
    assert not path.exists(), "a maker that exits with its watchdog running removes its file"

    killed = subprocess.Popen([sys.executable, "-c", MAKER, str(path), "wait"], stdout=subprocess.PIPE, text=True)
    try:
        assert killed.stdout is not None and killed.stdout.readline() == "ready\n"
        with pytest.raises(workerlife.OSFailure) as held:
            Pool.create(path, "", slots=1)
        assert held.value.errno == errno.EEXIST and "live process" in str(held.value)
    finally:
        killed.kill()
        killed.wait()
    assert path.exists()
    pool = Pool.create(path, "max_requests=9", slots=3)
    assert Pool.attach(path).policy["max_requests"] == 9
    del pool
    assert not path.exists()
