"""Issue 6, must-show 1: hung, crashing and memory-hungry workers fail only their own request, with a clear error,
and the pool is back to full size afterwards. Fixture workers live in a tmp plugin folder of a real server."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import gevent
import pytest
import zerorpc
from conftest import RunningServer, start_server
from reliability_support import failing_worker, write_worker

from workbench.config import DEFAULTS, load_config
from workbench.server.data_store.sqlite_store import SqliteStore
from workbench.server.execution.process_pool import ProcessPool
from workbench.server.intake.sample_intake import store_bytes
from workbench.testing import make_config, plan_for

PROCS = 2
SERVER_WORKER_TIMEOUT = 2  # [server] worker_timeout for this server; fixture workers mostly declare 1
MEMORY_MB = 768

# name -> (imports, execute body, declared timeout, error name, message pattern, max seconds, process replaced)
# The regex is interrupted too: Python 3.11's re checks for signals while backtracking. pbkdf2 with 2**31 - 1
# rounds is a real native hang (one C call, never back in Python): the CPU-time timer kills its process.
CASES = {
    "busy_loop": ("", "while True:\n    pass", 1, "WorkerTimeout", r"'busy_loop' timed out after 1 s", 4, False),
    "sleeper": ("import time", "time.sleep(3600)", 1, "WorkerTimeout", r"'sleeper' timed out after 1 s", 4, False),
    "regex_backtrack": ("import re", "re.match(r'(a+)+$', 'a' * 60 + 'b')", 1, "WorkerTimeout",
                        r"'regex_backtrack' timed out after 1 s", 4, False),
    "native_spin": ("import hashlib", "hashlib.pbkdf2_hmac('sha256', b'x', b'salt', 2**31 - 1)", 1, "WorkerTimeout",
                    r"'native_spin' .* stuck in native code past its timeout", 10, True),
    "default_timeout": ("import time", "time.sleep(3600)", None, "WorkerTimeout",
                        rf"'default_timeout' timed out after {SERVER_WORKER_TIMEOUT} s", 5, False),
    "os_exit": ("import os", "os._exit(3)", 1, "WorkerCrashed",
                r"running worker 'os_exit' .* died \(exit code 3\); the pool replaced it", 5, True),
    "segfault": ("import ctypes", "ctypes.string_at(0)", 1, "WorkerCrashed",
                 r"running worker 'segfault' .* died \(killed by signal SIGSEGV\); the pool replaced it", 5, True),
    "memory_hog": ("", "hoard = []\nwhile True:\n    hoard.append(bytearray(32 * 2**20))", 10, "WorkerFailed",
                   r"'memory_hog' ran out of memory .* raise \[server\] worker_memory_mb", 15, False),
    "calls_exit": ("import sys", "sys.exit(3)", 1, "WorkerFailed", r"'calls_exit' failed .* SystemExit: 3", 5, False),
}
ALARM_BLOCKED = ("import signal, time", "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})\n"
                 "time.sleep(3600)")


@pytest.fixture(scope="module")
def pool_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server with every misbehaving fixture worker, 2 pool processes and a 768 MB memory limit."""
    tmp_path = tmp_path_factory.mktemp("isolation")
    plugins = tmp_path / "plugins"
    for name, (imports, body, timeout, *_) in CASES.items():
        write_worker(plugins, name, failing_worker(name.title().replace("_", ""), body, imports, timeout))
    write_worker(plugins, "alarm_blocked", failing_worker("AlarmBlocked", ALARM_BLOCKED[1], ALARM_BLOCKED[0], 1))
    write_worker(plugins, "patient", failing_worker("Patient", "time.sleep(3)", "import time", 4))
    server = start_server(tmp_path, plugin_dirs=[plugins], procs=PROCS,
                          extra_env={"WORKBENCH_SERVER_WORKER_TIMEOUT": str(SERVER_WORKER_TIMEOUT),
                                     "WORKBENCH_SERVER_WORKER_MEMORY_MB": str(MEMORY_MB)})
    yield server
    server.stop()


def _fail_while_others_are_served(server: RunningServer, worker: str, md5: str) -> tuple[zerorpc.RemoteError, float,
                                                                                        list[dict]]:
    """Run ``worker`` and, at the same time from another client, meta requests; return error, seconds, metas."""
    client, other = server.client(timeout=60), server.client(timeout=60)
    others = [other.store_sample(f"bystander {worker} {i}".encode(), f"b{i}.txt", "") for i in range(3)]

    def bystander() -> list[dict]:
        results = []
        for md5_other in others:
            gevent.sleep(0.2)
            results.append(other.work_request("meta", md5_other)["meta"])
        return results

    side = gevent.spawn(bystander)
    started = time.monotonic()
    with pytest.raises(zerorpc.RemoteError) as failure:
        client.work_request(worker, md5)
    elapsed = time.monotonic() - started
    metas = side.get(timeout=60)
    assert [m["md5"] for m in metas] == others, "a request running beside the failure must be served"
    return failure.value, elapsed, metas


@pytest.mark.parametrize("worker", sorted(CASES))
def test_misbehaving_worker_fails_only_its_request_and_the_pool_is_back_to_full_size(pool_server, worker) -> None:
    _, _, _, error_name, pattern, max_seconds, replaced = CASES[worker]
    client = pool_server.client(timeout=60)
    md5 = client.store_sample(f"victim of {worker}".encode(), f"{worker}.txt", "")
    replaced_before = client.info()["procs_replaced"]
    error, elapsed, _ = _fail_while_others_are_served(pool_server, worker, md5)
    assert error.name == error_name, error.msg
    assert re.search(pattern, error.msg), error.msg
    assert md5 in error.msg
    assert elapsed < max_seconds, f"{worker} took {elapsed:.1f} s to fail"
    info = client.info()
    assert info["procs_alive"] == PROCS
    assert info["procs_replaced"] == replaced_before + int(replaced)
    assert client.work_request("meta", md5)["meta"]["md5"] == md5, "the next request must succeed"
    assert client.explain(worker, md5)["plan"][-1]["status"] == "to_run", "a failure must never be stored"


@pytest.mark.slow
def test_worker_that_blocks_the_alarm_is_killed_by_the_pools_hard_timeout(pool_server) -> None:
    client = pool_server.client(timeout=60)
    md5 = client.store_sample(b"victim of a blocked alarm", "blocked.txt", "")
    replaced_before = client.info()["procs_replaced"]
    error, elapsed, _ = _fail_while_others_are_served(pool_server, "alarm_blocked", md5)
    assert error.name == "WorkerTimeout"
    assert "chain for worker 'alarm_blocked'" in error.msg and "process was killed" in error.msg
    assert elapsed < 1 + 10 + 5, f"the hard timeout took {elapsed:.1f} s"
    info = client.info()
    assert info["procs_alive"] == PROCS and info["procs_replaced"] == replaced_before + 1
    assert client.work_request("meta", md5)["meta"]["length"] == len(b"victim of a blocked alarm")


def test_worker_timeout_attribute_wins_over_a_smaller_server_setting(pool_server) -> None:
    client = pool_server.client(timeout=60)
    md5 = client.store_sample(b"patience", "p.txt", "")
    started = time.monotonic()
    assert client.work_request("patient", md5)["patient"] == {"md5": md5, "done": True}
    assert time.monotonic() - started >= 3, "patient sleeps 3 s, past the server's 2 s worker_timeout"


def test_worker_timeout_defaults_to_60_seconds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORKBENCH_SERVER_WORKER_TIMEOUT", raising=False)
    empty = tmp_path / "config.ini"
    empty.write_text("[server]\n")
    assert load_config(str(empty)).get("server", "worker_timeout") == 60.0
    assert DEFAULTS["server"]["worker_timeout"] == 60.0


def test_a_caller_that_goes_away_mid_task_does_not_cost_the_pool_its_process(tmp_path: Path) -> None:
    """A client dropping a stream kills the greenlet waiting on a pool process; the process must come back."""
    plugins = tmp_path / "plugins"
    write_worker(plugins, "slowish", failing_worker("Slowish", "time.sleep(1)", "import time", 30))
    uri = f"sqlite:///{tmp_path}/workbench.db"
    store = SqliteStore(uri)
    md5 = store_bytes(store, b"left behind", "left.txt", "", 0)
    init = {"config_path": None, "config": make_config(uri).as_dict(), "datastore": uri,
            "plugin_dirs": [str(plugins)]}
    pool = ProcessPool(1, init)
    try:
        waiting = gevent.spawn(pool.run, plan_for(init, "slowish", md5, 30))
        gevent.sleep(0.3)
        waiting.kill()
        with gevent.Timeout(20, AssertionError("the pool's only process never came back")):
            assert pool.run(plan_for(init, "meta", md5, 30)).output["md5"] == md5
        assert pool.alive() == 1 and pool.replaced == 0, "the process finished its task and was reused, not killed"
        assert store.get_output(md5, "slowish")["output"] == {"done": True}, "its finished work was kept"
    finally:
        pool.close()
        store.close()
