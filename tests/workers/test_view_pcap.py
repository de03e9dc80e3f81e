"""view_pcap: the summary agrees with tshark on packets, HTTP hosts, DNS names, flows and carried files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from pcap_reference import reference

from workbench.testing import make_workbench, require_data, run_worker

NAMES = ("kitchen_boss.pcap", "gold_xxx.pcap")


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    workbench = make_workbench(tmp_path_factory.mktemp("view_pcap"))
    try:
        found = {}
        for name in NAMES:
            md5 = workbench.store_sample((require_data("pcap") / name).read_bytes(), name)
            found[name] = workbench.work_request("view_pcap", md5)["view_pcap"]
        return found
    finally:
        workbench.close()


def _tshark_tcp(path: Path) -> list[dict]:
    return [frame for frame in reference(path).frames if "tcp" in frame["frame.protocols"]]


@pytest.mark.parametrize("name", NAMES)
def test_packet_count_http_hosts_and_dns_names_match_tshark(views: dict, name: str) -> None:
    path = require_data("pcap") / name
    view = views[name]
    assert view["packet_count"] == len(reference(path).frames)
    hosts = Counter(host for frame in _tshark_tcp(path) for host in frame["http.host"])
    assert {entry["host"]: entry["requests"] for entry in view["http_hosts"]} == hosts
    assert [entry["requests"] for entry in view["http_hosts"]] == sorted(hosts.values(), reverse=True)
    queries = [f for f in reference(path).frames if f["dns.flags.response"] == ["0"]]
    assert view["dns_names"] == sorted({n for f in queries for n in f["dns.qry.name"]})
    assert view["dns_query_count"] == len(queries)


@pytest.mark.parametrize("name", NAMES)
def test_top_flows_are_the_largest_tshark_conversations(views: dict, name: str) -> None:
    path = require_data("pcap") / name
    conversations = {**reference(path).conversations("TCP"), **reference(path).conversations("UDP")}
    view = views[name]
    assert len(view["top_flows"]) == min(10, view["flow_count"])
    sizes = [flow["bytes"] for flow in view["top_flows"]]
    assert sizes == sorted(sizes, reverse=True)
    for flow in view["top_flows"]:
        ends = frozenset((f"{flow['src']}:{flow['sport']}", f"{flow['dst']}:{flow['dport']}"))
        assert conversations[ends][2] == flow["packets"]


def test_files_extracted_counts_every_stored_body_like_tshark_export(views: dict) -> None:
    # kitchen_boss.pcap has no POST bodies, so tshark's HTTP export holds exactly the response bodies
    assert views["kitchen_boss.pcap"]["files_extracted"] == reference(
        require_data("pcap") / "kitchen_boss.pcap").exported_count


def test_view_dispatches_pcap_samples_to_view_pcap_and_top_is_an_option() -> None:
    path = require_data("pcap") / "http.pcap"
    assert run_worker("view", path)["view_worker"] == "view_pcap"
    small = run_worker("view_pcap", require_data("pcap") / "gold_xxx.pcap", options={"view_pcap": {"top": 3}})
    assert len(small["top_flows"]) == len(small["top_hosts"]) == 3
