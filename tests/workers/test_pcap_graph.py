"""pcap_graph: loads into networkx, and its hosts and host pairs are tshark's IP endpoints and conversations."""

from __future__ import annotations

import networkx as nx
import pytest
from pcap_reference import PCAPS, reference

from workbench.testing import require_data, run_worker


@pytest.fixture(scope="module")
def outputs() -> dict[str, dict]:
    folder = require_data("pcap")
    return {name: run_worker("pcap_graph", folder / name) for name in PCAPS}


def _load(graph: dict) -> nx.MultiDiGraph:
    # edges="edges" names the key explicitly: networkx 3.4-3.5 default to "links", 3.6 to "edges"
    return nx.node_link_graph(graph, edges="edges")


@pytest.mark.parametrize("name", PCAPS)
def test_networkx_loads_the_graph_with_every_node_and_edge(outputs: dict, name: str) -> None:
    graph = outputs[name]
    loaded = _load(graph)
    assert isinstance(loaded, nx.MultiDiGraph)
    assert loaded.number_of_nodes() == len(graph["nodes"]) and loaded.number_of_edges() == len(graph["edges"])
    edge = graph["edges"][0]
    assert loaded.edges[edge["source"], edge["target"], edge["key"]]["packets"] == edge["packets"]


@pytest.mark.parametrize("name", PCAPS)
def test_nodes_are_tshark_ip_endpoints_with_their_packet_and_byte_counts(outputs: dict, name: str) -> None:
    nodes = {node["id"]: (node["packets"], node["bytes"]) for node in outputs[name]["nodes"]}
    assert nodes == reference(require_data("pcap") / name).endpoints()


@pytest.mark.parametrize("name", PCAPS)
def test_connected_host_pairs_are_tshark_ip_conversations(outputs: dict, name: str) -> None:
    loaded = _load(outputs[name])
    pairs = {frozenset((source, target)) for source, target in loaded.edges()}
    assert pairs == set(reference(require_data("pcap") / name).conversations("IPv4"))


def test_edges_group_flows_by_initiator_responder_and_protocol() -> None:
    flows = run_worker("pcap_flows", require_data("pcap") / "gold_xxx.pcap")["flows"]
    graph = run_worker("pcap_graph", require_data("pcap") / "gold_xxx.pcap")
    edges = {(e["source"], e["target"], e["protocol"]): e for e in graph["edges"]}
    assert len(edges) == len(graph["edges"])  # one edge per (initiator, responder, protocol)
    assert sum(e["flows"] for e in graph["edges"]) == len(flows)
    for flow in flows:
        edge = edges[flow["src"], flow["dst"], flow["proto"]]
        assert flow["dport"] in edge["ports"] if flow["dport"] is not None else flow["proto"] == "igmp"
    assert graph["graph"] == {"flow_count": len(flows), "truncated": False}
