"""Issue 5: the pool keeps each worker process fed (prefetch) without changing what a failure costs. A task
queued behind a timed-out or crashed task never ran, so it runs in the replacement process and succeeds; a
task whose caller left before it was sent is never started."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import gevent
import pytest
from reliability_support import failing_worker, write_worker

from workbench.exceptions import WorkerCrashed, WorkerTimeout
from workbench.server.data_store.sqlite_store import SqliteStore
from workbench.server.execution.process_pool import ProcessPool
from workbench.server.intake.sample_intake import store_bytes
from workbench.testing import make_config, plan_for

LOGGED = '''
class Logged:
    """Writes one line per execute to a file: proves whether it ever ran."""

    dependencies = ["sample"]

    def execute(self, input_data):
        with open({log!r}, "a") as log:
            log.write(input_data["sample"]["md5"] + "\\n")
        return {{"ran": True}}
'''


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Path, SqliteStore, str, dict]]:
    plugins = tmp_path / "plugins"
    write_worker(plugins, "hang", failing_worker("Hang", "time.sleep(3600)", "import time", 600))
    write_worker(plugins, "crash_soon", failing_worker("CrashSoon", "time.sleep(0.5)\nos._exit(3)", "import os, time"))
    write_worker(plugins, "slowish", failing_worker("Slowish", "time.sleep(0.8)", "import time", 30))
    write_worker(plugins, "logged", LOGGED.format(log=str(tmp_path / "logged.log")))
    uri = f"sqlite:///{tmp_path}/workbench.db"
    store = SqliteStore(uri)
    md5 = store_bytes(store, b"queued work", "queued.txt", "", 0)
    init = {"config_path": None, "config": make_config(uri).as_dict(), "datastore": uri,
            "plugin_dirs": [str(plugins)]}
    yield tmp_path, store, md5, init
    store.close()


@pytest.mark.parametrize(("first", "pool_timeout", "error"), [("hang", 1.5, WorkerTimeout),
                                                              ("crash_soon", 30, WorkerCrashed)])
def test_a_task_queued_behind_a_failing_one_runs_in_the_replacement_process(setup, first: str, pool_timeout: float,
                                                                           error: type) -> None:
    _, store, md5, init = setup
    pool = ProcessPool(1, init, prefetch=1)
    try:
        failing = gevent.spawn(pool.run, plan_for(init, first, md5, pool_timeout))
        queued = gevent.spawn(pool.run, plan_for(init, "meta", md5, 30))
        gevent.sleep(0.2)
        assert pool.load() == {"held": [2], "waiting": 0}, "the second task waits in the process's own pipe"
        with gevent.Timeout(30, AssertionError("the failing task never returned")):
            with pytest.raises(error, match=first):
                failing.get()
            assert queued.get().output["md5"] == md5, "the queued task never ran, so it ran in the new process"
        assert pool.replaced == 1 and pool.alive() == 1
        assert store.get_output(md5, "meta") is not None and store.get_output(md5, first) is None
    finally:
        pool.close()


def submit(pool: ProcessPool, init: dict, md5: str, *workers: str) -> list[gevent.Greenlet]:
    """One task per worker, in this order, given time to reach the pool."""
    tasks = [gevent.spawn(pool.run, plan_for(init, worker, md5, 30)) for worker in workers]
    gevent.sleep(0.2)
    return tasks


def test_a_task_whose_caller_left_before_it_was_sent_never_runs(setup) -> None:
    tmp_path, _, md5, init = setup
    pool = ProcessPool(1, init, prefetch=1)
    try:
        running, prefetched, left = submit(pool, init, md5, "slowish", "meta", "logged")
        assert pool.load() == {"held": [2], "waiting": 1}
        left.kill()  # its client dropped the stream while the task still waited for a process
        with gevent.Timeout(30, AssertionError("the pool stalled")):
            assert running.get().output == {"done": True} and prefetched.get().output["md5"] == md5
            assert pool.run(plan_for(init, "meta", md5, 30)).output["md5"] == md5
        assert not (tmp_path / "logged.log").exists(), "the abandoned task was started"
        assert pool.load() == {"held": [0], "waiting": 0} and pool.replaced == 0
    finally:
        pool.close()


def test_without_prefetch_a_process_holds_one_task(setup) -> None:
    _, _, md5, init = setup
    pool = ProcessPool(1, init, prefetch=0)
    try:
        running, waiting = submit(pool, init, md5, "slowish", "meta")
        assert pool.load() == {"held": [1], "waiting": 1}
        with gevent.Timeout(30, AssertionError("the pool stalled")):
            assert running.get().output == {"done": True} and waiting.get().output["md5"] == md5
    finally:
        pool.close()
