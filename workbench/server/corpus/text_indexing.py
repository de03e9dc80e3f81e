"""Full-text search over worker outputs: "which samples contain this domain / import / string?" (issue 10).

``index_worker_output`` indexes one sample's output (computed or served from the cache as ``work_request``
would), ``index_worker_outputs`` a whole selection in chunks written one store transaction each, so a batch cut
short resumes where it stopped: a sample whose indexed entry was made from the output now stored is skipped.
``search_index`` answers from the store's own text index (sqlite FTS5, a MongoDB text index). What is indexed
and how a query reads: workbench/server/data_store/text_search.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Any

from workbench.exceptions import BadArgument, WorkbenchError
from workbench.server.data_store import DataStore
from workbench.server.data_store.text_search import flatten, subfield_list
from workbench.server.planning.work_front import WorkFront

INDEX_CHUNK = 500  # samples per store transaction of a batch (a kill loses at most this much work)
MAX_HITS = 100_000


def _index_name(index_name: Any) -> str:
    if not isinstance(index_name, str) or not index_name.strip():
        raise BadArgument(f"index_name must be a non-empty string such as 'url_index', got {index_name!r}")
    return index_name


class TextIndexer:
    """Indexes worker outputs into the store's full-text index and searches it."""

    def __init__(self, store: DataStore, work: WorkFront) -> None:
        self.store, self.work = store, work

    def _version(self, md5s: list[str], worker: str) -> dict[str, str]:
        """The chain_version of each stored output ("" for a worker whose outputs are not stored)."""
        return {md5: doc["chain_version"] for md5, doc in self.store.get_outputs(md5s, worker).items()}

    def index_one(self, worker: str, md5: str, index_name: str, subfields: Any = None) -> dict[str, Any]:
        """Index one sample's output of ``worker`` (or its ``subfields``); ``{md5, worker, index_name, fields}``."""
        index_name, wanted = _index_name(index_name), subfield_list(subfields)
        output = self.work.work(worker, md5)[worker]
        pairs = flatten(output, wanted, worker)
        self.store.index_texts(index_name, [(md5, worker, self._version([md5], worker).get(md5, ""), pairs)])
        return {"md5": md5, "worker": worker, "index_name": index_name, "fields": [field for field, _ in pairs]}

    def index_rows(self, md5: str, index_name: str, rows: list[str]) -> None:
        """Index a sample's own text rows (``index_sample``): one field ``row<N>`` per row, worker 'sample'."""
        pairs = [(f"row{number}", row) for number, row in enumerate(rows) if row.strip()]
        self.store.index_texts(_index_name(index_name), [(md5, "sample", "", pairs)])

    def index_many(self, worker: str, index_name: str, subfields: Any, md5s: Iterator[str],
                   reindex: bool = False) -> Iterator[dict]:
        """One record per sample: ``{md5, indexed: [fields]}``, ``{md5, skipped: 'already indexed'}`` or
        ``{md5, error: {type, kind, message}}``. With ``reindex`` nothing is skipped."""
        index_name, wanted = _index_name(index_name), subfield_list(subfields)
        return self._index_many(worker, index_name, wanted, md5s, reindex)

    def _index_many(self, worker: str, index_name: str, wanted: list[str] | None, md5s: Iterator[str],
                    reindex: bool) -> Iterator[dict]:
        while chunk := list(islice(md5s, INDEX_CHUNK)):
            todo = chunk
            if not reindex:
                indexed = self.store.text_index_versions(index_name, worker, chunk)
                stored = self._version([m for m in chunk if m in indexed], worker) if indexed else {}
                todo = [m for m in chunk if m not in indexed or indexed[m] != stored.get(m, "")]
                pending = set(todo)
                yield from ({"md5": m, "skipped": "already indexed"} for m in chunk if m not in pending)
            yield from self._index_chunk(worker, index_name, wanted, todo)

    def _index_chunk(self, worker: str, index_name: str, wanted: list[str] | None, md5s: list[str]) -> Iterator[dict]:
        outputs: dict[str, dict[str, Any]] = {}
        failed = []
        for result in self.work.stream(worker, md5s):
            if result.get("error"):
                failed.append({"md5": result["md5"], "error": result["error"]})
            else:
                outputs[result["md5"]] = result[worker]
        versions = self._version(list(outputs), worker)
        docs, records = [], []
        for md5, output in outputs.items():
            try:
                pairs = flatten(output, wanted, worker)
            except WorkbenchError as exc:
                failed.append({"md5": md5, "error": {"type": type(exc).__name__, "kind": None, "message": str(exc)}})
                continue
            docs.append((md5, worker, versions.get(md5, ""), pairs))
            records.append({"md5": md5, "indexed": [field for field, _ in pairs]})
        self.store.index_texts(index_name, docs)
        yield from records
        yield from failed

    def search(self, index_name: str, query: str, limit: int = 1000) -> list[dict[str, str]]:
        """Hits ``{md5, worker, field, snippet}``: one per indexed field that holds every term of ``query``."""
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_HITS:
            raise BadArgument(f"limit must be a whole number from 1 to {MAX_HITS}, got {limit!r}")
        return self.store.search_texts(_index_name(index_name), query, limit)
