"""view_pcap_deep: view_pcap plus details, each checked against tshark (requests, statuses, files, DNS, graph)."""

from __future__ import annotations

import io
import random
from collections import Counter

import dpkt
import pytest
from pcap_reference import reference

from workbench.testing import make_workbench, require_data, run_worker

NAME = "kitchen_boss.pcap"


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    workbench = make_workbench(tmp_path_factory.mktemp("view_pcap_deep"))
    try:
        md5 = workbench.store_sample((require_data("pcap") / NAME).read_bytes(), NAME)
        return (workbench.work_request("view_pcap_deep", md5)["view_pcap_deep"],
                workbench.work_request("view_pcap", md5)["view_pcap"])
    finally:
        workbench.close()


def test_deep_view_contains_the_whole_summary_view(views: tuple[dict, dict]) -> None:
    deep, summary = views
    assert {key: deep[key] for key in summary} == summary


def test_requests_statuses_and_files_match_tshark(views: tuple[dict, dict]) -> None:
    deep, _ = views
    frames = [f for f in reference(require_data("pcap") / NAME).frames if "tcp" in f["frame.protocols"]]
    requests = Counter(r for f in frames
                       for r in zip(f["http.request.method"], f["http.host"], f["http.request.uri"], strict=True))
    assert Counter((r["method"], r["host"], r["uri"]) for r in deep["http_requests"]) == requests
    assert deep["http_status_counts"] == {
        code: n for code, n in sorted(Counter(c for f in frames for c in f["http.response.code"]).items())}
    assert {f["md5"] for f in deep["files"] if f["stored"]} == set(reference(require_data("pcap") / NAME).exported)
    assert deep["user_agents"] == sorted({r["user_agent"] for r in deep["http_requests"] if r["user_agent"]})


def test_dns_hosts_and_graph_sizes_match_tshark(views: tuple[dict, dict]) -> None:
    deep, _ = views
    tshark = reference(require_data("pcap") / NAME)
    queries = [f for f in tshark.frames if f["dns.flags.response"] == ["0"]]
    assert [entry["name"] for entry in deep["dns"]] == sorted({n for f in queries for n in f["dns.qry.name"]})
    answered = {a for f in tshark.frames if f["dns.flags.response"] == ["1"] for a in f["dns.a"]}
    assert {a for entry in deep["dns"] for a in entry["answers"]} & answered  # A answers reach the names
    assert {host["ip"]: (host["packets"], host["bytes"]) for host in deep["hosts"]} == tshark.endpoints()
    assert deep["graph"] == {"nodes": len(tshark.endpoints()), "edges": deep["graph"]["edges"]}
    assert deep["graph"]["edges"] >= len(tshark.conversations("IPv4"))


def test_max_requests_and_max_flows_cap_the_lists() -> None:
    deep = run_worker("view_pcap_deep", require_data("pcap") / NAME,
                      options={"view_pcap_deep": {"max_requests": 5, "max_flows": 4}})
    assert (len(deep["http_requests"]), len(deep["flows"])) == (5, 4)
    assert deep["http_request_count"] > 5


def _capture(frames: list[bytes]) -> bytes:
    stream = io.BytesIO()
    writer = dpkt.pcap.Writer(stream)
    for index, frame in enumerate(frames):
        writer.writepkt(frame, ts=1_600_000_000 + index)
    return stream.getvalue()


def test_empty_and_garbage_captures_run_the_whole_chain_without_errors() -> None:
    # view_pcap_deep depends on all six other PCAP workers, so this runs each of them
    empty = run_worker("view_pcap_deep", _capture([]), filename="empty.pcap")
    assert (empty["packet_count"], empty["flow_count"], empty["http_request_count"], empty["graph"]) == (
        0, 0, 0, {"nodes": 0, "edges": 0})
    assert empty["first_time"] is None and empty["duration"] == 0.0
    rng = random.Random(7)
    junk = [bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 120))) for _ in range(200)]
    garbage = run_worker("view_pcap_deep", _capture(junk), filename="junk.pcap", type_tag="pcap")
    assert garbage["packet_count"] == 200 and sum(garbage["protocols"][k] for k in ("ip", "ip6", "arp", "other")) == 200
