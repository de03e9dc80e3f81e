"""RPC calls on questions about the whole corpus: similarity, full-text indexes, retrohunts, the property graph.

One of the groups WorkbenchRPC (rpc_service.py) is made of: each method validates and delegates to Workbench."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import zerorpc

from workbench.server.rpc.stream_messages import batched

if TYPE_CHECKING:
    from workbench.server.workbench import Workbench


class CorpusCalls:
    """Questions about the whole corpus: similarity, full-text indexes, retrohunts, the property graph."""

    _wb: Workbench

    @zerorpc.stream
    def similarity_graph(self, kwargs: dict | None = None) -> Iterator[Any]:
        """Stream ssdeep similarity edges {source, target, score} among samples chosen by kwargs (type_tag,
        md5_list, tags; threshold 0-100, default 25; batch_size), each pair once, from the store's index."""
        kwargs = dict(kwargs or {})
        return batched(self._wb.similarity_graph(kwargs), kwargs.get("batch_size", 1))

    def index_worker_output(self, worker_name: str, md5: str, index_name: str, subfields: Any = None) -> dict:
        """Index a worker's output for a sample (or its dotted subfields: one string or a list) for search_index."""
        return self._wb.index_worker_output(worker_name, md5, index_name, subfields)

    @zerorpc.stream
    def index_worker_outputs(self, worker_name: str, index_name: str, subfields: Any = None,
                             kwargs: dict | None = None) -> Iterator[Any]:
        """Index a worker's outputs over samples chosen by kwargs (type_tag, md5_list, tags; reindex, batch_size)."""
        kwargs = dict(kwargs or {})
        records = self._wb.index_worker_outputs(worker_name, index_name, subfields, kwargs)
        return batched(records, kwargs.get("batch_size", 1))

    def search_index(self, index_name: str, query: str, limit: int = 1000) -> list:
        """Samples whose indexed output holds every term: [{md5, worker, field, snippet}] (e.g. 'evil.com')."""
        return self._wb.search_index(index_name, query, limit)

    def list_text_indexes(self) -> dict:
        """Every full-text index made by index_worker_output(s), with how many outputs it holds."""
        return self._wb.list_text_indexes()

    @zerorpc.stream
    def retrohunt(self, rules_text: Any, kwargs: dict | None = None) -> Iterator[Any]:
        """YARA rules (text or {namespace: text}) over samples chosen by kwargs (type_tag, md5_list, tags; progress,
        batch_size): streams {md5, matches: [{namespace, rule, tags}]} for each matching sample."""
        kwargs = dict(kwargs or {})
        return batched(self._wb.retrohunt(rules_text, kwargs), kwargs.get("batch_size", 1))

    def add_node(self, node_id: str, name: str, labels: Any) -> None:
        """Add a node to the store's property graph (the original's Neo4j call); labels merge on repeat."""
        return self._wb.add_node(node_id, name, labels)

    def has_node(self, node_id: str) -> bool:
        """Whether the property graph holds this node."""
        return self._wb.has_node(node_id)

    def add_rel(self, source_id: str, target_id: str, rel: str) -> None:
        """Add a relationship of type ``rel`` between two graph nodes (idempotent)."""
        return self._wb.add_rel(source_id, target_id, rel)

    def clear_graph_db(self) -> None:
        """Drop the property graph (samples and outputs stay)."""
        return self._wb.clear_graph_db()

    def get_graph(self, kwargs: dict | None = None) -> dict:
        """The property graph as networkx node-link JSON; kwargs ``labels``/``rels`` filter it."""
        return self._wb.get_graph(kwargs)
