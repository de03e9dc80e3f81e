"""The original Workbench's API calls, through a real server: what its clients and notebooks send works."""

from __future__ import annotations

import networkx as nx
import pytest
import zerorpc
from conftest import RunningServer


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
