"""The original Workbench's API calls, through a real server: what its clients and notebooks send works."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import networkx as nx
import pytest
import zerorpc
from conftest import REPO_ROOT, RunningServer, free_port


def test_graph_calls_build_a_graph_networkx_reads(server: RunningServer) -> None:
    client = server.client()
    a, b, c = "a" * 32, "b" * 32, "c" * 32
    client.clear_graph_db()
    client.add_node(a, a[:6], ["exe", "bad"])
    client.add_node(b, b[:6], ["exe"])
    client.add_node(c, c[:6], ["pdf"])
    client.add_rel(a, b, "ssdeep")
    client.add_rel(a, b, "imports")
    client.add_rel(b, c, "strings")
    assert client.has_node(a) and not client.has_node("d" * 32)
    graph = nx.node_link_graph(client.get_graph(), edges="edges")
    assert set(graph.nodes) == {a, b, c} and graph.nodes[a]["labels"] == ["bad", "exe"]
    assert sorted(k for _, _, k in graph.edges(keys=True)) == ["imports", "ssdeep", "strings"]
    exes = nx.node_link_graph(client.get_graph({"labels": ["exe"], "rels": ["ssdeep"]}), edges="edges")
    assert set(exes.nodes) == {a, b} and list(exes.edges(keys=True)) == [(a, b, "ssdeep")]
    with pytest.raises(zerorpc.RemoteError, match="unknown get_graph options"):
        client.get_graph({"label": "exe"})
    client.clear_graph_db()
    assert client.get_graph()["nodes"] == []


def test_help_topics_and_the_originals_help_methods(server: RunningServer) -> None:
    client = server.client()
    assert "store_sample" in client.help("basic") and "help('commands')" in client.help("basic")
    commands = client.help("commands")
    assert "work_request" in commands and "pe_features" not in commands
    workers = client.help("workers")
    assert "pe_features" in workers and "work_request" not in workers
    assert client.help_basic() == client.help("basic")
    assert client.help_commands() == commands and client.help_workers() == workers
    assert client.help_command("store_sample").startswith("store_sample(")
    assert client.help_worker("meta").startswith("worker meta")
    with pytest.raises(zerorpc.RemoteError, match="no help topic 'wrokers'. Did you mean workers"):
        client.help("wrokers")


def _two_sharing_a_prefix() -> tuple[bytes, bytes]:
    """Two small byte strings whose md5s share their first 6 hex digits (a birthday search)."""
    import hashlib

    seen: dict[str, bytes] = {}
    for i in range(200_000):
        data = f"prefix twin {i}".encode()
        prefix = hashlib.md5(data).hexdigest()[:6]
        if prefix in seen:
            return seen[prefix], data
        seen[prefix] = data
    raise AssertionError("no shared prefix found")


def test_md5_prefixes_of_six_or_more_digits_work_everywhere_and_ambiguity_lists_candidates(
        server: RunningServer) -> None:
    client = server.client()
    first, second = _two_sharing_a_prefix()
    md5_a = client.store_sample(first, "a.txt", "txt")
    md5_b = client.store_sample(second, "b.txt", "txt")
    assert md5_a[:6] == md5_b[:6]
    distinct = next(n for n in range(7, 33) if md5_a[:n] != md5_b[:n])
    assert client.work_request("meta", md5_a[:distinct])["meta"]["md5"] == md5_a
    assert client.get_sample_info(md5_b[:distinct].upper())["md5"] == md5_b
    assert client.has_sample(md5_a[:distinct]) and not client.has_sample("f" * 6 + md5_a[6:distinct])
    assert client.explain("meta", md5_a[:distinct])["md5"] == md5_a
    results = list(client.batch_work_request("meta", {"md5_list": [md5_a[:distinct], md5_b[:distinct]]}))
    assert sorted(r["md5"] for r in results) == sorted([md5_a, md5_b])
    with pytest.raises(zerorpc.RemoteError, match=f"prefix '{md5_a[:6]}' is ambiguous.*{md5_a}|{md5_b}"):
        client.work_request("meta", md5_a[:6])
    with pytest.raises(zerorpc.RemoteError, match="UnknownMD5|no stored sample's md5 starts with"):
        client.work_request("meta", "0" * 6 if not md5_a.startswith("000000") else "1" * 6)
    with pytest.raises(zerorpc.RemoteError, match="bad md5"):
        client.work_request("meta", md5_a[:5])  # too short to be taken as a prefix


def test_the_server_starts_from_inside_a_checkout_of_the_original(tmp_path: Path) -> None:
    # The original has its own workbench/server/ package; run from its folder, worker processes must still load
    # the package this server runs (they once failed: "No module named workbench.server.pool_worker").
    checkout = tmp_path / "original_checkout"
    (checkout / "workbench" / "server").mkdir(parents=True)
    (checkout / "workbench" / "__init__.py").write_text("# the original's package\n")
    (checkout / "workbench" / "server" / "__init__.py").write_text("")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    script = shutil.which("workbench-server")  # as a user starts it (its own folder, not the current one, first)
    if script is None:
        pytest.skip("workbench-server is not on PATH: run ./install.sh")
    entry = [script]
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([*entry, "--port", str(port), "--datastore", f"sqlite:///{tmp_path}/wb.db",
                                 "--procs", "1"], cwd=checkout, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "listening on" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        client = zerorpc.Client(timeout=60)
        client.connect(f"tcp://127.0.0.1:{port}")
        md5 = client.store_sample(b"run from the original's folder", "x.txt", "txt")
        assert client.work_request("meta", md5)["meta"]["length"] == 30  # ran in a worker process
        assert client.info()["procs_alive"] == 1
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
