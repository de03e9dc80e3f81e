"""Issue 5 with real servers: several servers over one store, and cached answers while the pool is busy."""

from __future__ import annotations

import hashlib
import textwrap
import time
from pathlib import Path

import gevent
import zerorpc

from workbench.testing import require_data

SLOW_WORKER = '''
"""Slow: waits (up to 60 s) until the test creates its release file; proves what is served meanwhile."""
import os
import time

STARTED, RELEASE = {started!r}, {release!r}


class Slow:
    """Occupies its pool process until released."""

    dependencies = ["sample"]
    timeout = 90

    def execute(self, input_data):
        open(STARTED, "w").close()
        waited = 0.0
        while not os.path.exists(RELEASE) and waited < 60:
            time.sleep(0.02)
            waited += 0.02
        return {{"released": os.path.exists(RELEASE), "length": len(input_data["sample"]["raw_bytes"])}}
'''


def counters(client: zerorpc.Client) -> dict:
    return client.info()["counters"]


def test_two_servers_over_one_sqlite_file_share_samples_and_cached_outputs(server_factory, tmp_path: Path) -> None:
    shared = f"sqlite:///{tmp_path}/shared.db"
    first, second = server_factory(datastore=shared, procs=1), server_factory(datastore=shared, procs=1)
    assert first.port != second.port
    a, b = first.client(), second.client()
    pe = sorted(p for p in require_data("pe/good").iterdir() if p.is_file())[0]
    data = pe.read_bytes()
    md5 = a.store_sample(data, pe.name, "")
    assert md5 == hashlib.md5(data).hexdigest() == pe.name.split(".")[0]
    assert b.has_sample(md5) and b.get_sample_info(md5)["length"] == len(data)

    computed = a.work_request("pe_features", md5)
    assert counters(a)["chains_run"] == 1
    served = b.work_request("pe_features", md5)
    assert served == computed
    assert counters(b).get("chains_run", 0) == 0 and counters(b)["cache_hits"] == 1
    assert b.get_datastore_uri() == a.get_datastore_uri() == shared

    other = b.store_sample(b"stored through the second server", "note.txt", "")  # and the other way round
    assert a.work_request("meta", other)["meta"]["md5"] == other == hashlib.md5(
        b"stored through the second server").hexdigest()
    results = list(b.batch_work_request("meta", {"md5_list": [other], "batch_size": 1}))
    assert [r["md5"] for r in results] == [other] and counters(b).get("chains_run", 0) == 0


def test_cached_request_is_answered_while_the_only_pool_process_runs_a_slow_worker(server_factory,
                                                                                   tmp_path: Path) -> None:
    plugins, started, release = tmp_path / "plugins", tmp_path / "started", tmp_path / "release"
    plugins.mkdir()
    (plugins / "slow.py").write_text(textwrap.dedent(SLOW_WORKER.format(started=str(started),
                                                                        release=str(release))))
    server = server_factory(plugin_dirs=[plugins], procs=1)  # one pool process: the slow chain takes it
    busy, other = server.client(), server.client()
    slow_md5 = busy.store_sample(b"slow sample", "slow.bin", "")
    cached_md5 = other.store_sample(b"cached sample", "cached.bin", "")
    expected = other.work_request("meta", cached_md5)  # computed now, served from the store below

    pending = busy.work_request("slow", slow_md5, **{"async": True})  # zerorpc 0.6.3's kwarg is named async
    while not started.exists():  # the pool process has picked up the slow chain
        assert not pending.ready(), f"the slow request ended before it was released: {pending.get()}"
        gevent.sleep(0.02)
    hits_before = counters(other).get("cache_hits", 0)
    assert other.work_request("meta", cached_md5) == expected
    assert not pending.ready() and not release.exists()  # answered while the slow chain still holds the pool
    assert counters(other)["cache_hits"] == hits_before + 1

    release.touch()
    assert pending.get(timeout=60) == {"md5": slow_md5, "slow": {"md5": slow_md5, "released": True, "length": 11}}


def test_a_batch_streams_with_bounded_work_ahead_of_a_paused_client(server_factory, tmp_path: Path) -> None:
    server = server_factory(procs=2)
    client, watcher = server.client(), server.client()
    md5s = [client.store_sample(f"sample {i:04d}".encode(), f"s{i}.txt", "txt") for i in range(400)]
    stream = client.batch_work_request("meta", {"md5_list": md5s, "batch_size": 1})
    consumed = [next(stream)["md5"] for _ in range(10)]
    previous, stable_since = -1, time.monotonic()
    while time.monotonic() - stable_since < 1.0:  # let the server run as far ahead as it will
        gevent.sleep(0.1)
        run = counters(watcher).get("chains_run", 0)
        if run != previous:
            previous, stable_since = run, time.monotonic()
    # zerorpc's stream window (100 messages) + the result queue + max(4, 2 x procs) chains in flight
    assert previous <= len(consumed) + 130, f"{previous} chains ran for a client that read {len(consumed)}"
    consumed += [result["md5"] for result in stream]
    assert sorted(consumed) == sorted(md5s)
    assert counters(watcher)["chains_run"] == 400
