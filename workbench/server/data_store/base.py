"""The one small interface every data store backend implements.

Samples are keyed by md5 and stored once. Worker outputs are keyed by (md5, worker) and carry the chain
version they were computed with, so the chain runner can tell a valid cached output from a stale one.
Outputs are stored as readable documents (JSON text in sqlite, documents in MongoDB).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import gevent

SAMPLE_INFO_FIELDS = ("md5", "filename", "type_tag", "length", "import_time")


def let_loop_run() -> None:
    """A page boundary of store-wide work: let the event loop serve everything ready (other clients' calls,
    heartbeats, timers) before the next page. ``gevent.sleep(0)`` is not enough: it only runs greenlets already
    scheduled, and a loop paging with it served no timer or socket for ~100 ms (measured, issue 17); a timer,
    however short, waits for a full turn of the loop."""
    gevent.sleep(1e-6)


class SetIdHasher:
    """A sample set's id, fed its md5s a page at a time: the md5 of the comma-joined list (the original's rule,
    so the same list always gets the same id)."""

    def __init__(self) -> None:
        self._hash = hashlib.md5()  # noqa: S324 - an id, not a security hash
        self.count = 0

    def update(self, md5s: list[str]) -> None:
        """Add the next md5s of the list."""
        if md5s:
            self._hash.update(("," * bool(self.count) + ",".join(md5s)).encode())
            self.count += len(md5s)

    def hexdigest(self) -> str:
        """The id of the md5s fed so far."""
        return self._hash.hexdigest()


class DataStore(ABC):
    """Storage for samples, tags, sample sets, parent/child links and worker outputs."""

    uri: str

    # --- samples -----------------------------------------------------------------------------------
    @abstractmethod
    def store_sample(self, raw_bytes: bytes, md5: str, filename: str, type_tag: str) -> bool:
        """Store a sample under its (caller-computed) md5; False if it was already stored (one copy kept)."""

    @abstractmethod
    def store_sample_file(self, path: Path, md5: str, filename: str, type_tag: str) -> bool:
        """``store_sample`` for bytes already in a file under ``spool_dir()`` (a finished chunked upload, md5
        computed by the caller). The store takes the file over (moved into place where it can be, else read and
        deleted); False if the md5 was already stored."""

    def spool_dir(self) -> Path:
        """A folder for uploads in progress, on the samples' own filesystem where the store has one."""
        path = Path(tempfile.gettempdir()) / "workbench-uploads"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def sample_path(self, md5: str) -> Path | None:
        """The file holding a sample's bytes, for stores that keep them in files; None otherwise."""
        return None

    @abstractmethod
    def set_type_tag(self, md5: str, type_tag: str) -> bool:
        """Correct a stored sample's type_tag and drop its outputs (computed for the old type); False if it
        already had that tag. UnknownMD5 if absent."""

    @abstractmethod
    def has_sample(self, md5: str) -> bool:
        """Whether a sample with this md5 is stored. A point lookup, no bytes read."""

    @abstractmethod
    def get_sample_info(self, md5: str) -> dict[str, Any] | None:
        """The sample's metadata (``SAMPLE_INFO_FIELDS``) without its bytes; None if absent."""

    @abstractmethod
    def get_sample_bytes(self, md5: str) -> bytes | None:
        """The sample's bytes; None if absent. The only call that reads sample bytes."""

    @abstractmethod
    def remove_sample(self, md5: str) -> bool:
        """Remove a sample with its tags, links, outputs and full-text entries; False if it was not stored."""

    @abstractmethod
    def iter_md5s(self, type_tag: str | None = None, tags: list[str] | None = None) -> Iterator[str]:
        """md5s of stored samples, oldest first, optionally only one type_tag and/or carrying all ``tags``."""

    @abstractmethod
    def type_tag_counts(self) -> dict[str, int]:
        """Every type_tag in use with its number of samples."""

    @abstractmethod
    def count_samples(self) -> int:
        """How many samples are stored."""

    @abstractmethod
    def total_sample_bytes(self) -> int:
        """The sum of all samples' lengths (for ``samples_cap_mb``)."""

    @abstractmethod
    def oldest_md5s(self, limit: int) -> list[str]:
        """The ``limit`` oldest samples by import time (expiry order)."""

    @abstractmethod
    def md5s_with_prefix(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` stored md5s starting with ``prefix`` (lowercase hex), sorted; an index range, no scan."""

    # --- tags --------------------------------------------------------------------------------------
    @abstractmethod
    def add_tags(self, md5: str, tags: Iterable[str]) -> None:
        """Add tags to a stored sample (duplicates ignored)."""

    @abstractmethod
    def set_tags(self, md5: str, tags: Iterable[str]) -> None:
        """Replace a stored sample's tags."""

    @abstractmethod
    def get_tags(self, md5: str) -> list[str]:
        """A sample's tags, sorted."""

    @abstractmethod
    def get_all_tags(self) -> dict[str, int]:
        """Every tag in use with the number of samples carrying it."""

    # --- sample sets (issue 17: membership rows, written and read a page at a time) -----------------------
    @abstractmethod
    def store_sample_set(self, set_id: str | None, md5s: Iterable[str], expires: float | None = None) -> str:
        """Store md5s as a set, in order, reading ``md5s`` a page at a time (a selection is never held whole);
        return its id. With ``set_id`` None the id is ``SetIdHasher``'s (the md5 of the comma-joined list,
        worked out while writing). If a live set has that id already it is kept (idempotent) and takes the later
        expiry; ``expires`` is epoch seconds, None for never. An expired set reads as absent."""

    @abstractmethod
    def sample_set_size(self, set_id: str) -> int | None:
        """How many md5s a live set holds; None if absent or expired (a point lookup)."""

    @abstractmethod
    def iter_sample_set(self, set_id: str) -> Iterator[str]:
        """A live set's md5s in order, a page per query; nothing for an absent set."""

    def get_sample_set(self, set_id: str) -> list[str] | None:
        """The md5 list stored under ``set_id``; None if absent or expired (callers that want the list)."""
        return None if self.sample_set_size(set_id) is None else list(self.iter_sample_set(set_id))

    @abstractmethod
    def remove_sample_set(self, set_id: str) -> bool:
        """Remove a set (gone for readers at once, its rows dropped a page at a time); False if absent."""

    @abstractmethod
    def purge_expired_sample_sets(self) -> int:
        """Drop sets past their expiry (and the rest of removals or builds cut short); return how many."""

    # --- parent/child links ------------------------------------------------------------------------
    @abstractmethod
    def add_link(self, parent: str, child: str) -> None:
        """Record that ``child`` was extracted from ``parent`` (idempotent)."""

    @abstractmethod
    def get_children(self, md5: str) -> list[str]:
        """md5s extracted from this sample."""

    @abstractmethod
    def get_parents(self, md5: str) -> list[str]:
        """md5s this sample was extracted from."""

    # --- worker outputs ----------------------------------------------------------------------------
    @abstractmethod
    def store_output(self, md5: str, worker: str, chain_version: str, versions: dict[str, str],
                     output: dict[str, Any], encoded: str | None = None) -> None:
        """Store (replace) one worker's output for one sample, with the versions it was computed with.

        ``encoded`` is ``output`` already JSON-encoded (the chain runner validates outputs by encoding them):
        a backend that keeps JSON text stores it as is instead of encoding the output a second time."""

    @abstractmethod
    def get_output(self, md5: str, worker: str) -> dict[str, Any] | None:
        """``{'md5', 'worker', 'chain_version', 'versions', 'time', 'output'}`` or None. A point lookup."""

    def get_output_stamps(self, md5: str, workers: list[str]) -> dict[str, dict[str, Any]]:
        """``{worker: {'chain_version', 'versions', 'time'}}`` of the stored outputs of ``workers`` for one sample,
        absent ones left out, outputs not read: what a chain plan needs to mark each step cached or stale.
        Backends answer it in one query; this fallback reads each output."""
        found = {}
        for worker in workers:
            doc = self.get_output(md5, worker)
            if doc is not None:
                found[worker] = {key: doc[key] for key in ("chain_version", "versions", "time")}
        return found

    @abstractmethod
    def get_outputs(self, md5s: list[str], worker: str) -> dict[str, dict[str, Any]]:
        """``{md5: {'chain_version', 'output'}}`` for many samples in one indexed query, absent ones left out: the
        cache check of a batch stream (no versions or time decoded; ``get_output`` has them)."""

    def get_output_texts(self, md5s: list[str], worker: str,
                         paths: list[str] | None = None) -> dict[str, tuple[str, str]]:
        """``{md5: (chain_version, output as JSON text)}``, like ``get_outputs``, for readers that parse a whole
        chunk in one go (Arrow slabs); with ``paths`` (dotted, e.g. ``dense_features.file_size``) only those
        parts, nested as in the output, a missing one null. This default encodes ``get_outputs``; sqlite
        returns its stored text, or extracts the paths in the query."""
        found = {}
        for md5, doc in self.get_outputs(md5s, worker).items():
            output = doc["output"]
            if paths:
                picked: dict[str, Any] = {}
                for path in paths:
                    *parents, last = path.split(".")
                    source, target = output, picked
                    for part in parents:
                        source = source.get(part) if isinstance(source, dict) else None
                        target = target.setdefault(part, {})
                    target[last] = source.get(last) if isinstance(source, dict) else None
                output = picked
            found[md5] = (doc["chain_version"], json.dumps(output))
        return found

    def output_stamp(self, worker: str) -> str | None:
        """A token that changes with every write or delete of ``worker``'s outputs (in the same transaction),
        or None when this store keeps none: then no slab file is kept for it (MongoDB: outputs are read as
        today, several servers share them and a local file could not see the others' writes)."""
        return None

    def slab_folder(self) -> Path | None:
        """Where slab files (columnar copies of cached outputs, planning/slab_cache.py) live, or None: none."""
        return None

    def output_text_pages(self, worker: str, chain_version: str, paths: list[str] | None,
                          page: int) -> Iterator[tuple[str, list[tuple[str, str]]]]:
        """``(stamp, [(md5, text), ...])`` pages of every stored output of ``worker`` at ``chain_version`` (text
        as ``get_output_texts``), read as one snapshot whose ``output_stamp`` is ``stamp``; at least one page,
        possibly empty. Only for stores whose ``output_stamp`` is not None."""
        raise NotImplementedError(f"{type(self).__name__} keeps no output stamp; check output_stamp() first")

    # --- bulk loading ------------------------------------------------------------------------------
    @abstractmethod
    def store_samples(self, samples: Iterable[tuple[bytes, str, str, str]]) -> int:
        """Store many ``(raw_bytes, md5, filename, type_tag)`` in one go (imports, benchmarks); return how many
        were new. Like ``store_sample``: md5s are the caller's, one copy kept. Callers chunk huge imports."""

    @abstractmethod
    def store_outputs(self, outputs: Iterable[tuple[str, str, str, dict[str, str], dict[str, Any]]]) -> None:
        """``store_output`` for many ``(md5, worker, chain_version, versions, output)`` rows in one go."""

    @abstractmethod
    def iter_outputs(self, worker: str, fields: list[str] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(md5, output)`` for every stored output of ``worker``; with ``fields``, only those top-level keys."""

    @abstractmethod
    def clear_worker_output(self, worker: str | None = None) -> int:
        """Drop stored outputs of one worker (or all); return how many were dropped. Samples stay."""

    # --- group: chain leases and server membership ----------------------------------------------------
    @abstractmethod
    def take_lease(self, key: str, holder: str, seconds: float, release: Sequence[str] = ()) -> bool:
        """Take ``key`` for ``holder`` for ``seconds`` in one atomic step: True if taken (free, expired, or
        already this holder's, then extended), False while another holder's lease runs. ``release``: keys
        ``holder`` gives up first, in the same write (a server running chain after chain writes once a chain)."""

    @abstractmethod
    def renew_leases(self, holder: str, seconds: float) -> None:
        """Extend every lease ``holder`` holds to ``seconds`` from now, in one write."""

    @abstractmethod
    def lease_holder(self, key: str) -> str | None:
        """Who holds ``key`` now (None when free or expired)."""

    @abstractmethod
    def release_leases(self, keys: Sequence[str], holder: str) -> None:
        """Give ``keys`` up, those ``holder`` still holds."""

    @abstractmethod
    def register_server(self, name: str, info: dict[str, Any]) -> None:
        """Record that server ``name`` is alive now, with what it says of itself (replaces the last record)."""

    @abstractmethod
    def list_servers(self, seen_within: float) -> list[dict[str, Any]]:
        """Servers seen in the last ``seen_within`` seconds: ``{'name', 'seen' (epoch seconds), **info}``."""

    # --- property graph (the original's Neo4j calls) -----------------------------------------------
    @abstractmethod
    def add_node(self, node_id: str, name: str, labels: list[str]) -> None:
        """Add a node (or merge ``labels`` into an existing one and take the new ``name``)."""

    @abstractmethod
    def has_node(self, node_id: str) -> bool:
        """Whether the node exists."""

    @abstractmethod
    def add_rel(self, source: str, target: str, rel: str) -> None:
        """Add a relationship of type ``rel`` between two nodes (idempotent; missing nodes are created bare)."""

    @abstractmethod
    def iter_graph(self) -> tuple[Iterator[dict[str, Any]], Iterator[dict[str, Any]]]:
        """``(nodes, rels)``: ``{'id', 'name', 'labels'}`` and ``{'source', 'target', 'rel'}`` iterators."""

    @abstractmethod
    def clear_graph(self) -> None:
        """Drop every node and relationship (samples and outputs stay)."""
    # --- browsing (the web view) --------------------------------------------------------------------
    @abstractmethod
    def find_samples(self, md5_prefix: str | None = None, filename: str | None = None, type_tag: str | None = None,
                     tag: str | None = None, offset: int = 0, limit: int = 50) -> list[dict[str, Any]]:
        """Infos (``SAMPLE_INFO_FIELDS``) of samples matching every filter given, newest first, paged.

        ``md5_prefix`` is lowercase hex (an index range); ``filename`` a case-insensitive substring (an index
        where the backend has one); ``type_tag`` and ``tag`` exact. No filter: the most recent samples."""

    @abstractmethod
    def count_by_type_tag(self) -> dict[str, int]:
        """How many samples each type_tag has (an index walk, no sample read)."""

    @abstractmethod
    def count_outputs(self) -> dict[str, int]:
        """How many outputs are stored per worker (an index walk, no output decoded)."""
    # --- fuzzy-hash similarity index (issue 10): kept with every meta_deep output ---------------------
    @abstractmethod
    def ssdeep_candidates(self, keys: list[int]) -> list[tuple[str, str]]:
        """``(md5, ssdeep)`` of every sample whose stored meta_deep ssdeep hash has at least one of ``keys``
        (``workbench.analysis.ssdeep_index.index_keys``). The index is written in the same transaction/document
        as the meta_deep output, dropped with the sample and replaced when the output is."""

    @abstractmethod
    def tlsh_digests_since(self, cursor: Any = None) -> tuple[list[tuple[str, str | None]], Any]:
        """``(md5, tlsh)`` of meta_deep outputs stored since ``cursor`` (None: all), and the next cursor.
        Removed samples are not reported: a reader checks its hits (``get_outputs``) before returning them."""
    # --- full-text index over outputs (issue 10; language and flattening in text_search.py) ---------
    @abstractmethod
    def index_texts(self, index_name: str, docs: Iterable[tuple[str, str, str, list[tuple[str, str]]]]) -> int:
        """Index many ``(md5, worker, version, [(field, text), ...])`` under ``index_name`` in one go (also the
        bulk path): each replaces what the index held for its (md5, worker). ``version`` is the output's
        chain_version, so a resumed batch can tell a stale entry. Returns how many docs were written."""

    @abstractmethod
    def search_texts(self, index_name: str, query: str, limit: int) -> list[dict[str, str]]:
        """Up to ``limit`` hits ``{'md5', 'worker', 'field', 'snippet'}``, one per indexed field holding every
        term of ``query`` (text_search.py's language); sqlite in indexing order. BadArgument for an empty query."""

    @abstractmethod
    def text_index_versions(self, index_name: str, worker: str, md5s: list[str]) -> dict[str, str]:
        """``{md5: version}`` of the given samples that ``index_name`` holds for ``worker`` (one indexed query)."""

    @abstractmethod
    def text_indexes(self) -> dict[str, int]:
        """Every full-text index with how many (md5, worker) docs it holds."""

    @abstractmethod
    def drop_text_index(self, index_name: str) -> int:
        """Forget one full-text index; return how many docs it held. Samples and outputs stay."""

    # --- admin -------------------------------------------------------------------------------------
    @abstractmethod
    def clear(self) -> None:
        """Drop everything: samples, tags, sets, links and outputs."""

    @abstractmethod
    def close(self) -> None:
        """Release connections and files."""
