"""Issue 6, must-show 4: kill -9 the server in the middle of uploads and a batch, restart it on the same sqlite file.

Every sample acknowledged before the kill is intact (md5 of its bytes), no stored output is partial (each is
valid, complete JSON: a fixture worker's output repeats its sample's md5 and length), the re-run batch completes,
and the killed server leaves no pool process behind (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import gevent
import pytest
import zerorpc
from reliability_support import children_of, is_running, wait_until, write_worker

from workbench.clients.client_helper import batch_results

DIGEST_WORKER = '''
import hashlib
import time


class Digest:
    """Reliability fixture: a slow worker whose output can be checked against its sample."""

    dependencies = ["sample"]

    def execute(self, input_data):
        time.sleep(0.05)
        raw = input_data["sample"]["raw_bytes"]
        return {"md5": hashlib.md5(raw).hexdigest(), "length": len(raw), "padding": "x" * 100_000}
'''


def _stored_rows(db: Path) -> tuple[list[tuple], list[tuple]]:
    """(md5, length, bytes) of every stored sample and (md5, worker, output text) of every output, read directly:
    rows from the database, bytes from its content-addressed files (``<db>.samples/ab/<md5>``)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        rows = connection.execute("SELECT md5, length FROM samples").fetchall()
        outputs = connection.execute("SELECT md5, worker, output FROM outputs").fetchall()
    files = db.with_name(db.name + ".samples")
    samples = [(md5, length, _read_or_none(files / md5[:2] / md5)) for md5, length in rows]
    return samples, outputs


def _read_or_none(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


@pytest.mark.slow
def test_kill_9_during_uploads_and_a_batch_loses_nothing_and_the_batch_completes_after_restart(
        server_factory, tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    write_worker(plugins, "digest", DIGEST_WORKER)
    first = server_factory(plugin_dirs=[plugins], procs=2)
    pool_pids = children_of(first.proc.pid)
    assert len(pool_pids) == 2, f"expected 2 pool processes under the server, found {pool_pids}"
    client = first.client(timeout=10)
    base = [client.store_sample(os.urandom(2000) + bytes([i]), f"base{i}.bin", "") for i in range(60)]
    acknowledged: dict[str, bytes] = {md5: b"" for md5 in base}
    for md5 in base:
        acknowledged[md5] = client.get_sample(md5)["sample"]["raw_bytes"]
    batch_seen: list[dict] = []

    def upload_until_the_server_dies() -> Exception:
        uploader = first.client(timeout=10)
        number = 0
        try:
            while True:
                data = os.urandom(1000 + (number * 7919) % 1_500_000)
                md5 = uploader.store_sample(data, f"upload{number}.bin", "")
                acknowledged[md5] = data  # only once the server has answered
                number += 1
        except (zerorpc.TimeoutExpired, zerorpc.LostRemote) as exc:
            return exc

    def run_batch_until_the_server_dies() -> Exception | None:
        streamer = first.client(timeout=10)
        try:
            for result in batch_results(streamer, "digest", batch_size=1, md5_list=base):
                batch_seen.append(result)
        except (zerorpc.TimeoutExpired, zerorpc.LostRemote) as exc:
            return exc
        return None

    uploads, batch = gevent.spawn(upload_until_the_server_dies), gevent.spawn(run_batch_until_the_server_dies)
    wait_until(lambda: len(batch_seen) >= 5 or batch.dead, 30, "the batch starting to stream")
    gevent.sleep(0.3)
    os.kill(first.proc.pid, signal.SIGKILL)
    first.proc.wait(timeout=10)
    gevent.joinall([uploads, batch], timeout=30)
    assert uploads.value is not None and batch.value is not None, "both were cut off by the kill"
    assert 5 <= len(batch_seen) < len(base), "the kill must land in the middle of the batch"
    uploaded_during = len(acknowledged) - len(base)
    assert uploaded_during > 0, "some uploads must have been acknowledged before the kill"

    wait_until(lambda: not any(is_running(pid) for pid in pool_pids), 5, "the killed server's pool processes exiting")

    db = Path(first.datastore.removeprefix("sqlite:///"))
    samples, outputs = _stored_rows(db)
    for md5, length, data in samples:  # nothing half-written, acknowledged or not
        assert data is not None and hashlib.md5(data).hexdigest() == md5 and len(data) == length
    lengths = {md5: length for md5, length, _ in samples}
    for md5, worker, text in outputs:
        output = json.loads(text)  # valid, complete JSON or this raises
        if worker == "digest":
            assert output["md5"] == md5 and output["length"] == lengths[md5] and len(output["padding"]) == 100_000

    second = server_factory(datastore=first.datastore, plugin_dirs=[plugins], procs=2)
    client = second.client(timeout=60)
    for md5, data in acknowledged.items():
        assert hashlib.md5(client.get_sample(md5)["sample"]["raw_bytes"]).hexdigest() == md5 == \
            hashlib.md5(data).hexdigest()
    started = time.monotonic()
    rerun = list(batch_results(client, "digest", batch_size=10, md5_list=base))
    assert sorted(r["md5"] for r in rerun) == sorted(base)
    assert all("error" not in r and r["digest"]["md5"] == r["md5"] for r in rerun)
    print(f"\nfault: {uploaded_during} uploads acknowledged during the run and {len(batch_seen)}/{len(base)} batch "
          f"results streamed before kill -9; {len(samples)} samples and {len(outputs)} outputs verified on disk; "
          f"batch re-run {time.monotonic() - started:.1f} s")
