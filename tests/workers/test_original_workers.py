"""Workers the original Workbench had, rebuilt: view_log_meta, view_customer, pcap_http_graph,
view_pcap_details and vt_query (against a fake VirusTotal on loopback, never the real one)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import networkx as nx
import pytest

from workbench.exceptions import WorkerFailed
from workbench.testing import make_workbench, require_data, run_worker

KNOWN = b"a sample VirusTotal has seen"
MD5_SEEN = hashlib.md5(KNOWN).hexdigest()


def test_view_log_meta_is_log_meta_with_the_samples_basics() -> None:
    path = require_data("log/system.log")
    view = run_worker("view_log_meta", path)
    log_meta = run_worker("log_meta", path)
    assert {k: view[k] for k in log_meta} == log_meta
    assert view["filename"] == "system.log" and view["type_tag"] == "log" and view["length"] == path.stat().st_size


def test_view_customer_follows_the_customer_tag_as_it_changes(tmp_path: Path) -> None:
    workbench = make_workbench(tmp_path)
    try:
        md5 = workbench.store_sample(b"some bytes for a customer", "a.txt", "txt")
        assert workbench.work_request("view_customer", md5)["view_customer"]["customer"] == "unknown"
        workbench.add_tags(md5, ["customer:ACME", "case-7"])
        view = workbench.work_request("view_customer", md5)["view_customer"]
        assert (view["customer"], view["customers"], view["md5"], view["filename"]) == ("ACME", ["ACME"], md5, "a.txt")
        workbench.set_tags(md5, ["customer:Beta"])  # not cacheable: the new tag shows at once
        assert workbench.work_request("view_customer", md5)["view_customer"]["customer"] == "Beta"
    finally:
        workbench.close()


@pytest.mark.parametrize("name", ["http.pcap", "kitchen_boss.pcap", "gold_xxx.pcap"])
def test_pcap_http_graph_counts_every_request_of_pcap_http(name: str) -> None:
    path = require_data("pcap") / name
    graph = nx.node_link_graph(run_worker("pcap_http_graph", path), edges="edges")
    http = run_worker("pcap_http", path)
    requested = Counter()
    for source, target, key, data in graph.edges(keys=True, data=True):
        if key == "requested":
            requested[(source, target)] += data["count"]
    assert requested == Counter((r["src"], r["host"] or r["dst"]) for r in http["requests"])
    files = {t for _, t, k in graph.edges(keys=True) if k == "served"}
    assert files == {f["md5"] for f in http["files"] if f["stored"]}
    assert {graph.nodes[n]["kind"] for n in graph} <= {"client", "host", "server", "file"}


def test_view_pcap_details_names_the_bro_logs_and_files(tmp_path: Path) -> None:
    workbench = make_workbench(tmp_path)
    try:
        md5 = workbench.store_sample(require_data("pcap/http.pcap").read_bytes(), "http.pcap", "")
        view = workbench.work_request("view_pcap_details", md5)["view_pcap_details"]
        deep = workbench.work_request("view_pcap_deep", md5)["view_pcap_deep"]
        assert {k: view[k] for k in deep} == deep
        assert set(view["bro_logs"]) == {"conn_log", "http_log", "files_log"}
        rows = list(workbench.stream_sample(view["bro_logs"]["http_log"]))
        assert [row["host"] for row in rows] == ["packetlife.net"]
        assert view["extracted_files"] == ["966007c476e0c200fba8b28b250a6379"]
    finally:
        workbench.close()


class FakeVirusTotal(BaseHTTPRequestHandler):
    """Answers /files/<md5> like VirusTotal's API v3: 401 without the key, 404 for unknown files."""

    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        FakeVirusTotal.seen.append((self.path, self.headers.get("x-apikey")))
        if self.headers.get("x-apikey") != "test-key":
            return self._answer(401, {"error": {"code": "WrongCredentialsError"}})
        if not self.path.endswith(MD5_SEEN):
            return self._answer(404, {"error": {"code": "NotFoundError"}})
        results = {"EngineA": {"category": "malicious", "result": "Trojan.X"},
                   "EngineB": {"category": "undetected", "result": None},
                   "EngineC": {"category": "suspicious", "result": "heur"}}
        self._answer(200, {"data": {"attributes": {
            "last_analysis_stats": {"malicious": 1, "suspicious": 1, "undetected": 1, "harmless": 0},
            "last_analysis_results": results, "last_analysis_date": 1700000000, "names": ["x.exe"],
            "type_description": "Win32 EXE", "reputation": -5, "tags": ["peexe"]}}})

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def fake_vt() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeVirusTotal)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/v3/files/"
    server.shutdown()


def _vt(data: bytes, **options: object) -> dict:
    return run_worker("vt_query", data, filename="x.exe", options={"vt_query": {"api_key_env": "", **options}})


def test_vt_query_reads_a_report_with_the_originals_keys(fake_vt: str) -> None:
    report = _vt(KNOWN, url=fake_vt, api_key="test-key")
    assert (report["found"], report["positives"], report["suspicious"], report["total"]) == (True, 1, 1, 3)
    assert report["scans"] == {"EngineA": "Trojan.X", "EngineC": "heur"}
    assert report["scan_date"].startswith("2023-11-14T22:13:20")
    assert report["permalink"].endswith(MD5_SEEN)
    assert FakeVirusTotal.seen[-1] == (f"/api/v3/files/{MD5_SEEN}", "test-key")


def test_vt_query_unknown_file_is_found_false(fake_vt: str) -> None:
    assert _vt(b"never seen", url=fake_vt, api_key="test-key")["found"] is False


def test_vt_query_without_a_key_or_a_network_is_a_clear_error(fake_vt: str) -> None:
    with pytest.raises(WorkerFailed, match="needs a VirusTotal API key"):
        _vt(b"no key")
    with pytest.raises(WorkerFailed, match="check the API key"):
        _vt(b"bad key", url=fake_vt, api_key="wrong")
    with pytest.raises(WorkerFailed, match="could not be reached.*no network"):
        _vt(b"no network", url="http://127.0.0.1:9/api/v3/files/", api_key="test-key", request_timeout=2.0)

