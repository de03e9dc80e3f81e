"""similarity_graph over a real server: every pair of selected samples scoring >= threshold, each sent once."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import ssdeep
import zerorpc

from workbench.testing import require_data


def near_copies(raw: bytes, count: int) -> list[bytes]:
    """Copies of a file with 16 bytes flipped at different places: one family of similar samples."""
    return [raw[:at] + bytes(b ^ 0xFF for b in raw[at:at + 16]) + raw[at + 16:]
            for at in (len(raw) * (i + 1) // (count + 1) for i in range(count))]


def test_graph_edges_equal_all_pairs_compare_each_pair_once(server) -> None:  # noqa: ANN001 - fixture
    client = server.client()
    paths = sorted(require_data("pe/good").iterdir())[:10]
    raws: dict[str, bytes] = {}
    for path in paths:
        for i, data in enumerate([path.read_bytes(), *near_copies(path.read_bytes(), 2 if path in paths[:3] else 0)]):
            raws[client.store_sample(data, f"{path.name}.{i}", "exe")] = data
    for _ in client.batch_work_request("meta_deep", {"md5_list": list(raws), "subkeys": ["meta_deep.ssdeep"]}):
        pass
    hashes = {md5: ssdeep.hash(data) for md5, data in raws.items()}
    for threshold, selection in ((25, list(raws)), (0, list(raws)), (25, list(raws)[:7])):
        edges = list(client.similarity_graph({"md5_list": selection, "threshold": threshold}))
        pairs = [tuple(sorted((e["source"], e["target"]))) for e in edges]
        assert len(pairs) == len(set(pairs))  # each pair once
        expected = {tuple(sorted(pair)): ssdeep.compare(hashes[pair[0]], hashes[pair[1]])
                    for pair in itertools.combinations(selection, 2)}
        expected = {pair: score for pair, score in expected.items() if score > 0 and score >= threshold}
        assert {pair: e["score"] for pair, e in zip(pairs, edges, strict=True)} == expected
        assert len(expected) >= (6 if len(selection) == len(raws) else 1)
    batched = list(client.similarity_graph({"type_tag": "exe", "batch_size": 100}))
    assert len(batched) == 1 and len(batched[0]) == len(list(client.similarity_graph({"type_tag": "exe"})))


@pytest.mark.parametrize("kwargs", [{"threshold": 101}, {"threshold": "25"}, {"colour": "red"}])
def test_bad_arguments_are_refused_with_the_fix(server, kwargs: dict) -> None:  # noqa: ANN001 - fixture
    with pytest.raises(zerorpc.RemoteError) as error:
        list(server.client().similarity_graph(kwargs))
    assert error.value.name == "BadArgument"
    assert "threshold" in error.value.msg or "unknown batch options" in error.value.msg


def test_pe_sim_graph_client_notebook_style_clusters(server, tmp_path: Path) -> None:  # noqa: ANN001 - fixture
    import networkx as nx

    client = server.client()
    raw = sorted(require_data("pe/good").iterdir())[0].read_bytes()
    md5s = [client.store_sample(data, f"v{i}.exe", "exe") for i, data in enumerate([raw, *near_copies(raw, 3)])]
    for _ in client.batch_work_request("meta_deep", {"md5_list": md5s}):
        pass
    graph = nx.Graph()
    graph.add_weighted_edges_from((e["source"], e["target"], e["score"]) for e in client.similarity_graph({}))
    assert sorted(map(sorted, nx.connected_components(graph))) == [sorted(md5s)]
