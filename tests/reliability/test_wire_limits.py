"""Issue 6, must-show 6 and the wire limits: oversized messages, a 10 GB upload claim, samples over the size limit,
and the per-client in-flight bound. The server's memory is read from /proc/PID/status (VmRSS, VmHWM)."""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from collections.abc import Iterator

import gevent
import pytest
import zerorpc
from conftest import RunningServer, start_server
from reliability_support import failing_worker, memory_mib, write_worker

MAX_MESSAGE_MB = 16
MAX_SAMPLE_MB = 4
MAX_INFLIGHT = 3


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server with small limits: 16 MB messages, 4 MB samples, 3 requests in flight per client."""
    tmp_path = tmp_path_factory.mktemp("wire")
    plugins = tmp_path / "plugins"
    write_worker(plugins, "slow", failing_worker("Slow", "time.sleep(1)", "import time", 10).replace(
        'dependencies = ["sample"]', 'dependencies = ["sample"]\n    cacheable = False'))
    server = start_server(tmp_path, plugin_dirs=[plugins], procs=2, extra_env={
        "WORKBENCH_SERVER_MAX_MESSAGE_MB": str(MAX_MESSAGE_MB),
        "WORKBENCH_SERVER_MAX_SAMPLE_SIZE_MB": str(MAX_SAMPLE_MB),
        "WORKBENCH_SERVER_MAX_INFLIGHT_PER_CLIENT": str(MAX_INFLIGHT)})
    yield server
    server.stop()


def test_oversized_message_is_dropped_unread_and_the_server_memory_stays_flat(limited_server) -> None:
    pid = limited_server.proc.pid
    client = limited_server.client(timeout=30)
    client.version()
    before = memory_mib(pid)
    huge = os.urandom(3 * MAX_MESSAGE_MB * 2**20)  # 48 MB in one message, three times the limit
    sender = limited_server.client(timeout=3)
    with pytest.raises((zerorpc.TimeoutExpired, zerorpc.LostRemote)):
        sender.store_sample(huge, "huge.bin", "")  # libzmq refuses the frame from its size header alone
    after = memory_mib(pid)
    print(f"\nwire: 48 MB message over a 16 MB limit: server VmRSS {before['VmRSS']:.1f} -> {after['VmRSS']:.1f} MiB, "
          f"VmHWM {before['VmHWM']:.1f} -> {after['VmHWM']:.1f} MiB")
    assert after["VmHWM"] - before["VmHWM"] < 8, "the refused message must never be buffered by the server"
    assert client.info()["samples"] == 0
    assert sender.version() and client.version(), "the server and even the offending client go on"


def test_message_somewhat_over_the_limit_gets_a_clear_error_and_memory_stays_bounded(limited_server) -> None:
    pid = limited_server.proc.pid
    client = limited_server.client(timeout=30)
    before = memory_mib(pid)
    over = os.urandom(MAX_MESSAGE_MB * 2**20 + 2**20)  # 17 MB: over the limit, under the hard ceiling (2 x)
    with pytest.raises(zerorpc.RemoteError, match=rf"request of 17.0 MB is over max_message_mb \({MAX_MESSAGE_MB} MB\)"
                       r": upload big files in chunks") as refused:
        client.store_sample(over, "over.bin", "")
    after = memory_mib(pid)
    print(f"\nwire: 17 MB message over a 16 MB limit: refused with BadArgument, server VmHWM "
          f"{before['VmHWM']:.1f} -> {after['VmHWM']:.1f} MiB")
    assert refused.value.name == "BadArgument"
    assert after["VmHWM"] - before["VmHWM"] < 4 * 17, "a refused message costs a few copies of itself, once"
    assert not client.has_sample(hashlib.md5(over).hexdigest())
    assert client.version()


def test_a_10_gb_upload_claim_is_refused_before_any_bytes_are_kept(limited_server) -> None:
    pid = limited_server.proc.pid
    client = limited_server.client(timeout=60)
    chunk = client.store_sample(os.urandom(2**20), "chunk.part0", "chunk")
    before = memory_mib(pid)
    claim = [chunk] * 10_240  # 10,240 x 1 MiB = a 10 GiB sample, if joined
    expected = rf"sample of 10,737,418,240 bytes is larger than max_sample_size_mb \({MAX_SAMPLE_MB} MB\); raise"
    with pytest.raises(zerorpc.RemoteError, match=expected) as refused:
        client.combine_samples(claim, "ten_gigabytes.bin", "")
    after = memory_mib(pid)
    print(f"\nwire: 10 GiB combine_samples claim: server VmHWM {before['VmHWM']:.1f} -> {after['VmHWM']:.1f} MiB")
    assert refused.value.name == "SampleTooLarge"
    # the claim is a 360 KB message; what it costs is the 10,240 metadata lookups (about 8 MiB), never the 10 GiB
    assert after["VmHWM"] - before["VmHWM"] < 32
    assert client.info()["samples"] == 1 and client.has_sample(chunk), "nothing joined, nothing lost"


def test_sample_over_the_size_limit_is_refused_and_not_stored(limited_server) -> None:
    client = limited_server.client(timeout=60)
    samples_before = client.info()["samples"]
    data = os.urandom(MAX_SAMPLE_MB * 2**20 + 1)
    with pytest.raises(zerorpc.RemoteError, match=rf"sample of {len(data):,} bytes is larger than "
                                                  rf"max_sample_size_mb \({MAX_SAMPLE_MB} MB\)") as refused:
        client.store_sample(data, "big.bin", "")
    assert refused.value.name == "SampleTooLarge"
    assert client.info()["samples"] == samples_before


def test_one_client_gets_at_most_its_in_flight_bound_and_others_are_still_served(limited_server) -> None:
    greedy, polite = limited_server.client(timeout=60), limited_server.client(timeout=60)
    md5 = greedy.store_sample(b"wait for it", "w.txt", "")

    def call() -> tuple[str, str]:
        try:
            greedy.work_request("slow", md5)
            return "ok", ""
        except zerorpc.RemoteError as exc:
            return exc.name, exc.msg

    started = time.monotonic()
    calls = [gevent.spawn(call) for _ in range(10)]
    gevent.sleep(0.2)
    version_started = time.monotonic()
    assert polite.version(), "another client is answered while the greedy one is at its bound"
    assert time.monotonic() - version_started < 1.0
    assert polite.work_request("slow", md5)["slow"] == {"md5": md5, "done": True}
    gevent.joinall(calls, timeout=60)
    outcomes = Counter(c.value[0] for c in calls)
    assert outcomes == {"ok": MAX_INFLIGHT, "ServerBusy": 10 - MAX_INFLIGHT}, outcomes
    busy = next(c.value[1] for c in calls if c.value[0] == "ServerBusy")
    assert busy.startswith(f"server busy: this client already has {MAX_INFLIGHT} requests in flight "
                           "(max_inflight_per_client)"), busy
    assert time.monotonic() - started < 10
    assert greedy.work_request("slow", md5)["slow"] == {"md5": md5, "done": True}, "the bound frees up as requests end"
