"""No work done twice across servers, and one batch spread over all of them, behind a real HAProxy.

The fixture worker logs each run (md5 and the pid of the server whose worker process ran it) to a file, so the
tests count real executions, not results.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import gevent
import pytest
import zerorpc
from haproxy_support import Group, start_group

RUN_LOGGER = '''
import os
import time


class RunLogger:
    """Run logger: appends "md5 server-pid" to $WORKBENCH_TEST_RUNLOG each run, after sleeping $..._SLEEP s."""

    dependencies = ["sample"]
    timeout = 120

    def execute(self, input_data):
        md5 = input_data["sample"]["md5"]
        with open(os.environ["WORKBENCH_TEST_RUNLOG"], "a") as log:
            log.write(f"start {md5} {os.getppid()}\\n")
        time.sleep(float(os.environ.get("WORKBENCH_TEST_SLEEP", "0.3")))
        with open(os.environ["WORKBENCH_TEST_RUNLOG"], "a") as log:
            log.write(f"done {md5} {os.getppid()}\\n")
        return {"length": len(input_data["sample"]["raw_bytes"]), "server_pid": os.getppid()}
'''


def runs(log: Path, kind: str = "done") -> list[tuple[str, int]]:
    if not log.exists():
        return []
    return [(md5, int(pid)) for word, md5, pid in (line.split() for line in log.read_text().splitlines())
            if word == kind]


def _group(tmp_path: Path, names: tuple[str, ...], sleep: float, lease_seconds: float = 10.0) -> Group:
    env = {"WORKBENCH_TEST_RUNLOG": str(tmp_path / "runs.log"), "WORKBENCH_TEST_SLEEP": str(sleep),
           "WORKBENCH_SERVER_LEASE_SECONDS": str(lease_seconds), "WORKBENCH_SERVER_GROUP_CHUNK": "4"}
    return start_group(tmp_path, {"run_logger.py": RUN_LOGGER}, names=names, extra_env=env)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Group]:
    group = _group(tmp_path, ("wb1", "wb2"), sleep=2.0, lease_seconds=3.0)
    yield group
    group.stop()


def test_the_same_cold_chain_asked_of_two_servers_at_once_runs_once(pair: Group, tmp_path: Path) -> None:
    (wb1, _), (wb2, _) = pair.servers["wb1"], pair.servers["wb2"]
    md5 = wb1.client().store_sample(b"asked for twice at once", "twice.txt", "txt")
    answers = gevent.joinall([gevent.spawn(server.client(timeout=60).work_request, "run_logger", md5)
                              for server in (wb1, wb2)], raise_error=True)
    assert [a.value["run_logger"]["length"] for a in answers] == [23, 23]
    assert len(runs(tmp_path / "runs.log")) == 1  # one server computed, the other waited for its output
    waits = [s.client().info()["group"]["lease_waits"] for s in (wb1, wb2)]
    assert sorted(waits) == [0, 1]


def test_a_lease_left_by_a_killed_server_expires_and_the_chain_is_computed(pair: Group, tmp_path: Path) -> None:
    (wb1, _), (wb2, _) = pair.servers["wb1"], pair.servers["wb2"]
    md5 = wb1.client().store_sample(b"the server computing this dies", "dies.txt", "txt")
    gevent.spawn(wb1.client(timeout=60).work_request, "run_logger", md5)
    deadline = time.monotonic() + 20
    while not runs(tmp_path / "runs.log", "start"):
        assert time.monotonic() < deadline, "wb1 never started the chain"
        gevent.sleep(0.05)  # lets the request greenlet run
    wb1.proc.send_signal(signal.SIGKILL)  # mid-chain, holding the lease
    wb1.proc.wait()
    started = time.monotonic()
    result = wb2.client(timeout=60).work_request("run_logger", md5)["run_logger"]
    waited = time.monotonic() - started
    assert result["server_pid"] == wb2.proc.pid
    assert 2.0 <= waited <= 3.0 + 2.0 + 5.0  # the 3 s lease ran out (less what had passed), then 2 s of work
    assert [pid for _, pid in runs(tmp_path / "runs.log", "start")] == [wb1.proc.pid, wb2.proc.pid]


@pytest.fixture
def trio(tmp_path: Path) -> Iterator[Group]:
    group = _group(tmp_path, ("wb1", "wb2", "wb3"), sleep=0.25)
    yield group
    group.stop()


def test_a_batch_is_spread_over_every_server_and_survives_losing_one(trio: Group, tmp_path: Path) -> None:
    client = trio.client(timeout=120)
    md5s = [client.store_sample(f"group batch sample {i}".encode(), f"g{i}.txt", "txt") for i in range(72)]
    coordinator = client.info()["group"]["server_name"]
    victim_name = next(name for name in trio.servers if name != coordinator)
    victim = trio.servers[victim_name][0]
    seen: list[dict] = []
    for result in client.batch_work_request("run_logger", {"md5_list": md5s}):
        seen.append(result)
        if len(seen) == 12:  # some chunks done, others out on every server: kill one that is not ours
            victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(timeout=30)
    # gone (its exit code may read 0: once gevent has run a subprocess in this pytest process, it reaps every child)
    assert not Path(f"/proc/{victim.proc.pid}").exists()
    assert sorted(r["md5"] for r in seen) == sorted(md5s)  # every result, once
    assert not [r for r in seen if r.get("error")]
    pids = Counter(pid for _, pid in runs(tmp_path / "runs.log"))
    assert len(pids) == 3, f"chunks ran on {pids}"  # all three servers computed chunks before the kill
    stored = trio.client(timeout=60)  # nothing stored is lost: every output is served cached now
    before = len(runs(tmp_path / "runs.log", "start"))
    again = list(stored.batch_work_request("run_logger", {"md5_list": md5s}))
    assert sorted(r["md5"] for r in again) == sorted(md5s)
    assert len(runs(tmp_path / "runs.log", "start")) == before
    info = stored.info()["group"]
    assert {s["name"] for s in info["servers"]} >= set(trio.servers) - {victim_name}


def test_a_batch_sends_its_chunks_over_a_few_reused_connections_to_every_server(
        trio: Group, tmp_path: Path) -> None:
    client = trio.client(timeout=120)
    md5s = [client.store_sample(f"reused connection sample {i}".encode(), f"r{i}.txt", "txt") for i in range(60)]
    sent_before = client.info()["group"]["chunks_sent"]  # this client's connection stays on one server
    sessions_before = sum(trio.haproxy.sessions().values())
    results = list(client.batch_work_request("run_logger", {"md5_list": md5s}))
    assert sorted(r["md5"] for r in results) == sorted(md5s) and not [r for r in results if r.get("error")]
    chunks = client.info()["group"]["chunks_sent"] - sent_before
    connections = sum(trio.haproxy.sessions().values()) - sessions_before
    assert chunks == 15 and connections <= 8, f"{chunks} chunks over {connections} connections"  # 8 in flight
    assert len(Counter(pid for _, pid in runs(tmp_path / "runs.log"))) == 3  # every server took chunks


def test_info_on_the_balancer_lists_the_group(trio: Group) -> None:
    deadline = time.monotonic() + 10
    while True:
        info = trio.client().info()["group"]
        if {s["name"] for s in info["servers"]} == {"wb1", "wb2", "wb3"} or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert {s["name"] for s in info["servers"]} == {"wb1", "wb2", "wb3"}
    assert all(s["status"] == "ok" and s["procs_alive"] == 1 for s in info["servers"])
    assert info["group_address"] == f"tcp://127.0.0.1:{trio.haproxy.port}"


def test_a_client_gets_a_clean_error_for_an_unknown_worker_through_the_group(trio: Group) -> None:
    with pytest.raises(zerorpc.RemoteError, match="UnknownWorker|unknown worker"):
        list(trio.client().batch_work_request("no_such_worker", {}))
