"""pcap_flows against tshark's conversation tables (conv,tcp and conv,udp): same flows, same frame counts."""

from __future__ import annotations

import pytest
from pcap_reference import PCAPS, reference

from workbench.testing import require_data, run_worker


@pytest.fixture(scope="module")
def outputs() -> dict[str, dict]:
    folder = require_data("pcap")
    return {name: run_worker("pcap_flows", folder / name) for name in PCAPS}


def _ours(flows: dict, proto: str) -> dict[frozenset, tuple[int, int, int]]:
    """Flows in tshark's shape: {endpoints: (frames src->dst, frames dst->src, total)}."""
    return {frozenset((f"{f['src']}:{f['sport']}", f"{f['dst']}:{f['dport']}")):
            (f["src_packets"], f["dst_packets"], f["packets"]) for f in flows["flows"] if f["proto"] == proto}


def _undirected(table: dict[frozenset, tuple[int, int, int]]) -> dict[frozenset, tuple[int, int]]:
    return {ends: (sorted(counts[:2])[0], counts[2]) for ends, counts in table.items()}


@pytest.mark.parametrize("name", PCAPS)
@pytest.mark.parametrize(("proto", "title"), [("tcp", "TCP"), ("udp", "UDP")])
def test_flows_and_their_frame_counts_match_tshark_conversations(outputs: dict, name: str, proto: str,
                                                                 title: str) -> None:
    # A flow is keyed by protocol and both endpoints with no idle timeout, which is exactly tshark's
    # conversation key, so the tables must agree row for row. (Which side tshark calls A is not the
    # initiator, so the direction split is compared without its orientation.)
    theirs = reference(require_data("pcap") / name).conversations(title)
    ours = _ours(outputs[name], proto)
    assert set(ours) == set(theirs)
    assert _undirected(ours) == _undirected(theirs)
    assert outputs[name]["protocol_counts"].get(proto, 0) == len(theirs)


@pytest.mark.parametrize("name", PCAPS)
def test_all_ip_packets_are_in_exactly_one_flow(outputs: dict, name: str) -> None:
    frames = reference(require_data("pcap") / name).frames
    ip_frames = sum("ip" in frame["frame.protocols"] or "ipv6" in frame["frame.protocols"] for frame in frames)
    flows = outputs[name]
    assert sum(flow["packets"] for flow in flows["flows"]) == ip_frames
    assert flows["flow_count"] == len(flows["flows"]) == sum(flows["protocol_counts"].values())
    for flow in flows["flows"]:
        assert flow["src_packets"] + flow["dst_packets"] == flow["packets"]
        assert flow["src_bytes"] + flow["dst_bytes"] == flow["bytes"]
        assert flow["end"] - flow["start"] == pytest.approx(flow["duration"]) and flow["duration"] >= 0


def test_tcp_flow_source_is_the_side_that_sent_the_syn(outputs: dict) -> None:
    # http.pcap: one connection, 192.168.1.140:57678 opens it to 174.143.213.184:80 (tshark: 21 frames
    # from the client, 19 from the server).
    (flow,) = outputs["http.pcap"]["flows"]
    assert (flow["src"], flow["sport"], flow["dst"], flow["dport"]) == ("192.168.1.140", 57678,
                                                                       "174.143.213.184", 80)
    assert (flow["src_packets"], flow["dst_packets"]) == (21, 19)


def test_max_flows_caps_the_list_but_not_the_count(outputs: dict) -> None:
    capped = run_worker("pcap_flows", require_data("pcap") / "kitchen_boss.pcap",
                        options={"pcap_flows": {"max_flows": 5}})
    full = outputs["kitchen_boss.pcap"]
    assert capped["flows"] == full["flows"][:5]
    assert (capped["flow_count"], capped["flows_truncated"], full["flows_truncated"]) == (full["flow_count"],
                                                                                           True, False)
