"""The original Workbench's API calls, through a real server: what its clients and notebooks send works."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import networkx as nx
import pytest
import zerorpc
from conftest import DATA_DIR, REPO_ROOT, RunningServer, free_port


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


ORIGINAL_CLIENTS = DATA_DIR.parent / "original" / "clients"

# Each of the original's client scripts and values its output must show (issue 11). Order matters a little:
# help_client runs first, on an empty store; upload_dir last, over everything the others stored.
ORIGINAL_SCRIPTS = {
    "help_client": ["store_sample(", "help('commands')", "'worker': 'meta'"],
    "pcap_bro_view": ["<<< http.pcap >>>", "'view_pcap'", "packetlife.net"],
    "pcap_meta": ["Filename: http.pcap results:", "'view_pcap'", "'packet_count'"],
    "pe_peid": ["'pe_peid'", "'match_list'"],
    "upload_file": ["'view'", "'type_tag': 'exe'"],
    "upload_file_chunks": [],
    "customer_report": ["unknown"],
    "log_meta_stream": ["Filename: system.log", "'view_log_meta'"],
    "pcap_bro_indexer": ["<<< PCAP Bro log Data: http.pcap Indexed>>>"],
    "pcap_bro_raw": ["<<< Bro log: conn_log >>>", "<<< Bro log: dns_log >>>", "#path\\thttp"],
    "pcap_bro_urls": ["packetlife.net", "www.kitchenboss.com.au"],
    "pcap_meta_indexer": ["<<< PCAP Data: kitchen_boss.pcap Indexed>>>"],
    "pe_indexer": ["<<< Strings for PE:", "<<< Features for PE:"],
    "pe_sim_graph": ["All done"],
    "short_md5s": ["'meta'", "'file_type'"],
    "zip_file_extraction": ["*** Filename:", "'meta'", "'type_tag'"],
    "upload_dir": ["Info: Ensuring File Identifications...", "'pcap'", "'zip'", "'bro'"],
}

PCAP_REPORT_TEMPLATES = {  # the original's clients/static/templates are not in the converted material
    "index.html": "{% for r in results %}{{ r.filename }} {{ r.view_pcap.md5 }} {{ r.meta.type_tag }}\n{% endfor %}",
    "md5_view.html": "{{ md5 }}: {{ md5_view }}",
}


@pytest.fixture(scope="module")
def original_clients(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The converted scripts copied to a temporary folder, beside a link named data (as their README says)."""
    if not ORIGINAL_CLIENTS.is_dir():
        pytest.skip(f"the original's client scripts are not at {ORIGINAL_CLIENTS}")
    root = tmp_path_factory.mktemp("original")
    shutil.copytree(ORIGINAL_CLIENTS, root / "clients")
    (root / "data").symlink_to(DATA_DIR)
    templates = root / "clients" / "static" / "templates"
    templates.mkdir(parents=True)
    for name, text in PCAP_REPORT_TEMPLATES.items():
        (templates / name).write_text(text)
    return root / "clients"


def _run_script(folder: Path, name: str, port: int) -> str:
    done = subprocess.run([sys.executable, f"{name}.py", "-s", "127.0.0.1", "-p", str(port)], cwd=folder,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{name} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_all_18_original_client_scripts_run_unchanged_and_print_their_values(
        server: RunningServer, original_clients: Path) -> None:
    client = server.client(timeout=300)
    for name, expected in ORIGINAL_SCRIPTS.items():
        out = _run_script(original_clients, name, server.port)
        missing = [text for text in expected if text not in out]
        assert not missing, f"{name} ran but did not print {missing}:\n{out[:3000]}"
        if name == "pe_sim_graph":  # its graph went to Neo4j; here into the store's property graph
            graph = client.get_graph()
            assert len(graph["nodes"]) == 10 and {e["rel"] for e in graph["edges"]} <= {"imports", "warnings",
                                                                                      "strings", "ssdeep"}
        if name == "upload_file_chunks":  # the 1 MiB chunks it stored (as 'exe', under the file's name) are gone
            raw = (DATA_DIR / "pcap" / "gold_xxx.pcap").read_bytes()
            chunks = [hashlib.md5(raw[i:i + 2**20]).hexdigest() for i in range(0, len(raw), 2**20)]
            assert len(chunks) > 1 and not any(client.has_sample(m) for m in chunks)
            assert client.has_sample(hashlib.md5(raw).hexdigest())
    type_tags = client.get_type_tags()
    assert "unknown" not in type_tags and {"exe", "pdf", "pcap", "zip", "bro", "log"} <= set(type_tags)
    zips = client.get_sample_set(client.generate_sample_set("zip"))  # the type_tag counts as a tag
    assert sorted(zips) == sorted(client.get_sample_set(client.generate_sample_set(None, "zip"))) and zips
    _pcap_report_pages(original_clients, server.port, client)


def _pcap_report_pages(folder: Path, port: int, client: zerorpc.Client) -> None:
    """pcap_report serves a Flask app forever: run its APP on a loopback port, fetch its pages, stop it.

    Its ``__main__`` binds 0.0.0.0:5000 with Flask's debug reloader; the same APP runs here on 127.0.0.1 and a
    free port (the script's own code, imported unchanged, reads -s/-p from the command line as before), one
    request at a time as Flask served in the original's day (threaded became the default in Flask 1.0; its
    gevent-based zerorpc client cannot be used from a thread other than the one that made it)."""
    web_port = free_port()
    code = f"import pcap_report; pcap_report.APP.run(host='127.0.0.1', port={web_port}, threaded=False)"
    proc = subprocess.Popen([sys.executable, "-c", code, "-s", "127.0.0.1", "-p", str(port)], cwd=folder,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{web_port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                index = urllib.request.urlopen(f"{base}/", timeout=300).read().decode()
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read().decode()
                time.sleep(0.2)
        pcaps = {line.split()[0]: line.split()[1] for line in index.splitlines() if line.strip()}
        assert {"http.pcap", "kitchen_boss.pcap"} <= set(pcaps), index
        md5 = pcaps["http.pcap"]
        assert client.get_sample_info(md5)["type_tag"] == "pcap" and index.count(" pcap") == len(pcaps)
        files = urllib.request.urlopen(f"{base}/files/{md5}/", timeout=300).read().decode()
        assert files.startswith(f"{md5}: ") and "packetlife.net" in files
        bro = client.work_request("view_pcap", md5)["view_pcap"]["bro_logs"]["conn_log"]
        rows = urllib.request.urlopen(f"{base}/md5/{bro}/", timeout=300).read().decode()
        assert rows.startswith(f"{bro}: [") and "tcp" in rows
    finally:
        proc.kill()
        proc.wait(timeout=20)


def test_the_originals_sample_window_index_sample_test_worker_and_retired_workers(server: RunningServer) -> None:
    client = server.client()
    assert client.test_worker("meta")["ok"] is False  # an empty store: a report naming the fix, not an exception
    assert "store a sample first" in client.test_worker("meta")["error"]
    sizes = [600_000, 500_000, 400_000, 300_000]  # stored oldest first: the window takes the newest first
    md5s = [client.store_sample(bytes([i]) * size, f"w{i}.bin", "data") for i, size in enumerate(sizes)]
    assert client.get_sample_window("data", 0.5) == [md5s[3], md5s[2]]  # 300k, then 700k passes 0.5 MB: stop
    assert client.get_sample_window("data", 10) == md5s[::-1]
    assert client.get_sample_window("exe", 1) == []
    log = client.store_sample(b"alpha evil.example.com\nbeta quiet\n", "x.log", "unknown")  # guessed
    assert client.get_sample_info(log)["type_tag"] == "log"
    assert list(client.stream_sample(log)) == [{"row": "alpha evil.example.com"}, {"row": "beta quiet"}]
    assert client.index_sample(log, "logs") == {"md5": log, "index_name": "logs", "rows": 2}
    assert [hit["md5"] for hit in client.search_index("logs", "evil.example.com")] == [log]
    with pytest.raises(zerorpc.RemoteError, match="index_sample indexes text samples"):
        client.index_sample(md5s[0], "logs")
    meta = client.work_request("meta", log)["meta"]
    assert meta["file_size"] == meta["length"] and meta["encoding"] == "us-ascii" and meta["tags"] == ["log"]
    client.add_tags(log, "customer:ACME")
    assert client.work_request("meta", log, ["customer", "tags"]) == {"customer": "ACME",
                                                                      "tags": ["customer:ACME", "log"]}
    empty = client.store_sample_set([])
    assert list(client.set_work_request("mem_procdump", empty)) == []  # the original's upload_dir asks this
    with pytest.raises(zerorpc.RemoteError, match="Rekall memory-image workers; memory images are out of scope"):
        list(client.set_work_request("mem_procdump", client.store_sample_set(md5s)))
    flat = list(client.set_work_request("meta", client.store_sample_set(md5s[:2]), "length"))  # a string subkey
    assert sorted(flat, key=lambda r: r["length"]) == [{"length": 500_000}, {"length": 600_000}]
    with pytest.raises(zerorpc.RemoteError, match="subkey 'nope' not found: 'nope' is not in meta"):
        client.work_request("meta", log, "nope")
