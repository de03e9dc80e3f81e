"""The Workbench service in-process: samples, tags, sets and work, with no RPC in the way.

The RPC service wraps this class; tests and notebooks can use it directly (``procs=0`` runs chains here).
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from workbench import __version__, contract
from workbench.analysis.bro_parsing import read_log
from workbench.config import Config
from workbench.exceptions import BadArgument, UnknownMD5, UnknownSampleSet, WorkbenchError
from workbench.server.corpus import similarity_graph
from workbench.server.corpus.retrohunt import Retrohunts
from workbench.server.corpus.text_indexing import TextIndexer
from workbench.server.data_store import DataStore, open_store
from workbench.server.execution.executor import Executor, LocalExecutor
from workbench.server.execution.pipe_protocol import decoded
from workbench.server.execution.process_pool import ProcessPool
from workbench.server.intake.sample_intake import (
    check_type_tag,
    clean_filename,
    correct_type_tag,
    given_type_tag,
    resolve_md5,
    store_bytes,
)
from workbench.server.intake.uploads import Uploads
from workbench.server.planning import arrow_slabs, set_work
from workbench.server.planning.batch_stream import flat_subkeys, original_item, subkey_list, with_md5
from workbench.server.planning.plugin_manager import PluginManager
from workbench.server.planning.work_front import WorkFront

TEXT_TAGS = ("log", "bro", "txt", "json")
CUSTOMER_PREFIX = "customer:"  # a sample's customer is a tag customer:NAME (view_customer reads it the same way)


def resolve_procs(value: str | int) -> int:
    """``auto`` -> the number of cores; 0 -> run chains in the server process."""
    if str(value).strip().lower() == "auto":
        return os.cpu_count() or 1
    procs = int(value)
    if procs < 0:
        raise BadArgument(f"procs must be 'auto' or a number >= 0, got {value!r}")
    return procs


def _tags(tags: Any) -> list[str]:
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list | tuple) or not all(isinstance(t, str) and t for t in tags):
        raise BadArgument(f"tags must be a list of non-empty strings, got {tags!r}")
    return list(tags)


def _graph_id(node_id: Any) -> str:
    if not isinstance(node_id, str) or not node_id or len(node_id) > 512:
        raise BadArgument(f"bad graph node id {node_id!r}: use a non-empty string such as a sample's md5")
    return node_id


GROUP_SEEN_S = 10.0  # a server not heard from for this long is left out of info()'s group list


class Workbench:
    """Everything the API offers, as plain method calls."""

    def __init__(self, config: Config, store: DataStore | None = None, procs: int | str | None = None,
                 plugins: PluginManager | None = None) -> None:
        self.config = config
        self.store = store or open_store(config.get("server", "datastore"))
        plugin_dirs = [d.strip() for d in config.get("server", "plugin_dirs").split(",") if d.strip()]
        self.plugin_dirs = [os.path.expanduser(config.resolve_path(d)) for d in plugin_dirs]
        self.plugins = plugins or PluginManager(self.plugin_dirs, config)
        self.max_bytes = config.get("server", "max_sample_size_mb") * 2**20
        self.procs = resolve_procs(config.get("server", "procs") if procs is None else procs)
        if self.procs and self.store.uri.startswith("mongomock://"):
            raise BadArgument("mongomock:// is an in-memory stand-in that worker processes cannot share; "
                              "use --procs 0 with it, or a real mongodb:// server")
        timeout = config.get("server", "worker_timeout")
        executor: Executor
        if self.procs == 0:
            executor = LocalExecutor(self.store, self.plugins, timeout, self.max_bytes)
        else:
            executor = ProcessPool(self.procs, {
                "config_path": str(config.path) if config.path else None, "config": config.as_dict(),
                "datastore": self.store.uri, "plugin_dirs": [str(d) for d in self.plugin_dirs]},
                prefetch=config.get("server", "prefetch"))
        self.front = WorkFront(self.store, self.plugins, executor, timeout, max(4, 2 * self.procs),
                               config.get("server", "stream_linger_ms") / 1000)
        self.uploads = Uploads(self.store, lambda: self.max_bytes)
        if config.get("server", "group_address"):
            self._join_group(config)
        self.started = time.time()
        self.text_index = TextIndexer(self.store, self.front)
        self.retrohunts = Retrohunts(executor, timeout, max(4, 2 * self.procs))

    def close(self) -> None:
        """Stop worker processes, give up this server's chain leases, and close the store."""
        self.front.executor.close()
        if self.front.leases is not None:
            self.front.leases.close()
        self.store.close()

    # --- samples -----------------------------------------------------------------------------------
    def resolve_md5(self, md5: str) -> str:
        """The full md5 of a stored sample given it or a unique prefix of 6+ hex digits."""
        return resolve_md5(self.store, md5)

    def _info(self, md5: str) -> dict[str, Any]:
        info = self.store.get_sample_info(self.resolve_md5(md5))
        if info is None:
            raise UnknownMD5(f"no sample with md5 {md5}; store it first with store_sample")
        return info

    def store_sample(self, input_bytes: bytes, filename: str, type_tag: str = "") -> str:
        """Store bytes once (keyed by md5), guessing type_tag when empty; expire old samples past the cap."""
        md5 = store_bytes(self.store, input_bytes, filename, type_tag, self.max_bytes)
        self._expire_past_cap(md5)
        return md5

    def _expire_past_cap(self, md5: str) -> None:
        """Remove the oldest samples (never ``md5``, the one just stored) while over ``samples_cap_mb``."""
        cap = self.config.get("server", "samples_cap_mb") * 2**20
        while cap and self.store.total_sample_bytes() > cap and self.store.count_samples() > 1:
            oldest = self.store.oldest_md5s(1)[0]
            if oldest == md5:
                break
            self.store.remove_sample(oldest)

    def get_sample(self, md5: str) -> dict[str, Any]:
        """``{'sample': {...metadata..., 'raw_bytes': bytes}}``."""
        info = self._info(md5)
        return {"sample": {**info, "raw_bytes": self.store.get_sample_bytes(info["md5"])}}

    def get_sample_info(self, md5: str) -> dict[str, Any]:
        """The sample's metadata and tags, without its bytes."""
        info = self._info(md5)
        return {**info, "tags": self.store.get_tags(info["md5"])}

    def has_sample(self, md5: str) -> bool:
        """Whether the sample is stored (clients ask this before sending bytes)."""
        try:
            return self.store.has_sample(self.resolve_md5(md5))
        except UnknownMD5:  # a prefix no sample starts with
            return False

    def complete_md5(self, prefix: str, limit: int = 10) -> list[str]:
        """Stored md5s starting with ``prefix`` (1-32 hex digits), sorted, at most ``limit`` (1-1000)."""
        if not isinstance(prefix, str) or not re.fullmatch(r"[0-9a-fA-F]{1,32}", prefix):
            raise BadArgument(f"bad md5 prefix {prefix!r}: expected 1 to 32 hex digits, e.g. '033d91'")
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise BadArgument(f"limit must be a whole number from 1 to 1000, got {limit!r}")
        return self.store.md5s_with_prefix(prefix.lower(), limit)

    def remove_sample(self, md5: str) -> bool:
        """Remove a sample and everything computed from it."""
        return self.store.remove_sample(self.resolve_md5(md5))

    def combine_samples(self, md5_list: list[str], filename: str, type_tag: str = "") -> str:
        """Join stored chunks (in order) into one sample, then drop the parts: those stored as type_tag 'chunk' or
        under the joined file's name (as the original's clients stored them, with its type_tag).

        A part whose bytes equal a sample stored in its own right (another name) keeps that sample.
        The parts are streamed into the joined file (uploads.py), never held in memory together.
        """
        infos = [self._info(m) for m in self._md5_list(md5_list)]
        type_tag = given_type_tag(type_tag)
        path, md5 = self.uploads.combine(infos, filename)
        if not self.store.has_sample(md5):
            guess = type_tag or self.uploads.guess(path, clean_filename(filename))
            self.store.store_sample_file(path, md5, clean_filename(filename), guess)
        else:
            path.unlink(missing_ok=True)
            if type_tag:
                correct_type_tag(self.store, md5, type_tag)
        for info in infos:  # the original's clients stored chunks under the file's name and its type
            if info["md5"] != md5 and (info["type_tag"] == "chunk" or info["filename"] == clean_filename(filename)):
                self.store.remove_sample(info["md5"])
        self._expire_past_cap(md5)
        return md5

    def set_type_tag(self, md5: str, type_tag: str) -> bool:
        """Correct a stored sample's type_tag and drop its outputs; False if it already had that tag."""
        check_type_tag(type_tag)
        if not type_tag:
            raise BadArgument("type_tag must not be empty: name the type, e.g. 'exe' or 'pcap'")
        return self.store.set_type_tag(self._info(md5)["md5"], type_tag)

    def upload_start(self, filename: str, type_tag: str = "", length: int | None = None) -> str:
        """Open a chunked upload (parts appended and hashed once, see uploads.py); return its id. ``length``: the
        whole file's size, when the client knows it (refused now if over the limit, not parts later)."""
        return self.uploads.start(filename, type_tag, length)

    def upload_part(self, upload_id: str, offset: int, data: bytes) -> int:
        """Append the next part of an upload at ``offset``; return the bytes received so far."""
        return self.uploads.part(upload_id, offset, data)

    def upload_finish(self, upload_id: str) -> str:
        """Store the upload as one sample (once per md5) and return its md5."""
        md5 = self.uploads.finish(upload_id)
        self._expire_past_cap(md5)
        return md5

    def upload_abort(self, upload_id: str) -> None:
        """Drop an upload in progress and its spool file."""
        self.uploads.abort(upload_id)

    def stream_sample(self, md5: str, max_rows: int | None = None) -> Iterator[Any]:
        """Bro/Zeek logs as typed records, text logs as the original's ``{'row': line}``, other text samples line by
        line, the rest in 1 MiB chunks of bytes."""
        info = self._info(md5)
        raw = self.store.get_sample_bytes(info["md5"]) or b""
        if info["type_tag"] == "bro":
            yield from islice(read_log(raw)[1], max_rows)
        elif info["type_tag"] in TEXT_TAGS:
            for count, line in enumerate(raw.decode("utf-8", "replace").splitlines()):
                if max_rows is not None and count >= max_rows:
                    return
                yield {"row": line} if info["type_tag"] == "log" else line
        else:
            for start in range(0, len(raw), 1 << 20):
                yield raw[start:start + (1 << 20)]

    def stream_sample_arrow(self, md5: str, max_rows: int | None = None) -> Iterator[memoryview]:
        """A Zeek log (typed from #types) or JSON / JSON-lines sample as Arrow IPC messages (arrow_slabs)."""
        info = self._info(md5)
        if info["type_tag"] not in ("bro", "json"):
            raise BadArgument(f"sample {md5} is {info['type_tag']!r}: only Zeek logs ('bro') and JSON samples "
                              "stream as Arrow; use format 'records' for the rest")
        raw = self.store.get_sample_bytes(info["md5"]) or b""
        return (arrow_slabs.zeek_messages if info["type_tag"] == "bro" else arrow_slabs.json_messages)(raw, max_rows)

    def get_sample_window(self, type_tag: str, size_mb: float = 10) -> list[str]:
        """md5s of the newest samples of ``type_tag``, newest first, until their total size passes ``size_mb``
        (the original's window: the sample that crosses the limit is included)."""
        if not isinstance(size_mb, int | float) or isinstance(size_mb, bool) or size_mb <= 0:
            raise BadArgument(f"size_mb must be a positive number of megabytes, got {size_mb!r}")
        check_type_tag(type_tag)
        limit, total, window, offset = size_mb * 2**20, 0, [], 0
        while page := self.store.find_samples(type_tag=type_tag, offset=offset, limit=1000):
            for info in page:
                if total > limit:
                    return window
                window.append(info["md5"])
                total += info["length"]
            offset += len(page)
        return window

    def index_sample(self, md5: str, index_name: str) -> dict[str, Any]:
        """Index a text sample's rows (a log, Zeek log, text or JSON, as stream_sample gives them) for
        search_index, as the original indexed each streamed row; ``{md5, index_name, rows}``."""
        info = self._info(md5)
        if info["type_tag"] not in TEXT_TAGS:
            raise BadArgument(f"index_sample indexes text samples ({', '.join(TEXT_TAGS)}); sample {info['md5']} is "
                              f"{info['type_tag']!r}: index a worker's output with index_worker_output instead")
        rows = [str(row.get("row", json.dumps(row, default=str))) if isinstance(row, dict) else str(row)
                for row in self.stream_sample(info["md5"])]
        self.text_index.index_rows(info["md5"], index_name, rows)
        return {"md5": info["md5"], "index_name": index_name, "rows": len(rows)}

    def _md5_list(self, md5_list: Any) -> list[str]:
        if not isinstance(md5_list, list | tuple):
            raise BadArgument(f"md5_list must be a list of md5s, got {type(md5_list).__name__}")
        return [self.resolve_md5(m) for m in md5_list]

    # --- sample sets, tags, links ------------------------------------------------------------------
    def store_sample_set(self, md5_list: list[str]) -> str:
        """Store a list of (stored) md5s; the id is a hash of the list, so the same list gives the same id."""
        md5s = self._md5_list(md5_list)
        for md5 in md5s:
            self._info(md5)
        return self.store.store_sample_set(None, md5s)

    def _live_set(self, set_id: str) -> str:
        if self.store.sample_set_size(str(set_id)) is None:
            raise UnknownSampleSet(f"no sample set {set_id!r} (never stored, removed, or expired after "
                                   f"sample_set_days); make one with store_sample_set or generate_sample_set")
        return str(set_id)

    def get_sample_set(self, set_id: str) -> list[str]:
        """The md5s of a stored set (the whole list: the server's own paths walk it a page at a time)."""
        return list(self.store.iter_sample_set(self._live_set(set_id)))

    def generate_sample_set(self, tags: list[str] | str | None = None, type_tag: str | None = None) -> str:
        """A set of every sample carrying all ``tags`` and/or of ``type_tag`` (a type_tag counts as a tag, as in
        the original: ``generate_sample_set('zip')`` finds every zip), streamed from the store into its membership
        rows; it expires after ``sample_set_days`` (expired sets are purged here, lazily)."""
        selection = self._tagged(tags, type_tag)
        self.store.purge_expired_sample_sets()
        days = self.config.get("server", "sample_set_days")
        return self.store.store_sample_set(None, selection, time.time() + days * 86400 if days > 0 else None)

    def remove_sample_set(self, set_id: str) -> bool:
        """Remove a stored set (its samples stay); False if there was none."""
        return self.store.remove_sample_set(str(set_id))

    def _tagged(self, tags: Any, type_tag: str | None) -> Iterator[str]:
        """Samples with all ``tags`` and ``type_tag``; a tag nobody set that is a type_tag in use selects that type."""
        tags = _tags(tags) if tags else []
        types = [t for t in tags if not self.store.find_samples(tag=t, limit=1)  # two indexed point reads a tag
                 and self.store.find_samples(type_tag=t, limit=1)]
        kinds = {*types, *([type_tag] if type_tag else [])}
        if len(kinds) > 1:
            return iter(())  # a sample has one type_tag
        rest = [t for t in tags if t not in types]
        return self.store.iter_md5s(type_tag=next(iter(kinds), None), tags=rest or None)

    def add_tags(self, md5: str, tags: list[str] | str) -> None:
        """Add tags to a sample."""
        self.store.add_tags(self._info(md5)["md5"], _tags(tags))

    def set_tags(self, md5: str, tags: list[str] | str) -> None:
        """Replace a sample's tags."""
        self.store.set_tags(self._info(md5)["md5"], _tags(tags))

    def get_tags(self, md5: str) -> list[str]:
        """A sample's tags."""
        return self.store.get_tags(self._info(md5)["md5"])

    def get_all_tags(self) -> dict[str, int]:
        """Every tag in use with its sample count."""
        return self.store.get_all_tags()

    def get_type_tags(self) -> dict[str, int]:
        """Every type_tag in use, with how many samples have it."""
        return self.store.type_tag_counts()

    def get_children(self, md5: str) -> list[str]:
        """Samples extracted from this one (zip members, files carried over HTTP)."""
        return self.store.get_children(self._info(md5)["md5"])

    def get_parents(self, md5: str) -> list[str]:
        """Samples this one was extracted from."""
        return self.store.get_parents(self._info(md5)["md5"])

    def select_md5s(self, kwargs: dict[str, Any]) -> Iterator[str]:
        """Samples chosen by ``md5_list``, ``type_tag`` and/or ``tags`` (all samples when none is given)."""
        known = {"md5_list", "type_tag", "tags", "subkeys", "batch_size"}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise BadArgument(f"unknown batch options {unknown}; use {sorted(known)}")
        if kwargs.get("md5_list") is not None:
            return iter(self._md5_list(kwargs["md5_list"]))
        return self._tagged(kwargs.get("tags"), kwargs.get("type_tag") or None)

    # --- work --------------------------------------------------------------------------------------
    def work_request(self, worker_name: str, md5: str, subkeys: list[str] | str | None = None) -> dict[str, Any]:
        """``{'md5': md5, worker_name: output}`` (the output carrying md5); with ``subkeys`` (a dotted path or a
        list of them) the original's flat ``{last_key: value}``. Cached outputs are served without running."""
        self.plugins.get(worker_name)
        paths = subkey_list(subkeys)
        full = self.resolve_md5(md5)
        try:
            output = self._served(worker_name, self.front.work(worker_name, full)[worker_name], full)
        except UnknownMD5:
            if self.store.sample_set_size(full) is None:
                raise
            output = self._over_set(worker_name, full)
        return flat_subkeys(worker_name, output, paths) if paths else {"md5": full, worker_name: output}

    def _over_set(self, worker_name: str, set_id: str) -> dict[str, Any]:
        """work_request on a sample set's id (see server/planning/set_work.py)."""
        if worker_name not in set_work.SET_WORKERS:
            raise set_work.not_a_sample(worker_name, set_id)
        output = set_work.pcap_bro_over_set(
            self.store, lambda worker, md5: self.front.work(worker, md5)[worker], self.store.iter_sample_set(set_id),
            lambda raw, name: store_bytes(self.store, raw, name, "bro", self.max_bytes), self.front.max_in_flight)
        return {"md5": set_id, **output}

    def batch_work_request(self, worker_name: str, kwargs: dict[str, Any] | None = None) -> Iterator[dict]:
        """One item per selected sample as they finish: the output itself, or with ``subkeys`` the flat dict of
        work_request (the original's stream items); a failed sample is ``{md5, worker: None, error}``."""
        kwargs = dict(kwargs or {})
        md5s = self.select_md5s(kwargs)
        return self._stream(worker_name, md5s, kwargs.get("subkeys"))

    def batch_arrow(self, worker_name: str, kwargs: dict[str, Any] | None = None) -> Iterator[memoryview]:
        """batch_work_request as Arrow IPC messages, ``batch_size`` rows each (see server/planning/arrow_slabs.py)."""
        kwargs = dict(kwargs or {})
        return arrow_slabs.slab_messages(self.front, worker_name, self.select_md5s(kwargs), kwargs.get("subkeys"),
                                         kwargs.get("batch_size", arrow_slabs.ROWS_PER_MESSAGE))

    def set_work_request(self, worker_name: str, sample_set: str, subkeys: list[str] | str | None = None
                         ) -> Iterator[dict]:
        """One item per sample of a stored set, as they finish (items shaped as batch_work_request's)."""
        return self._stream(worker_name, self.store.iter_sample_set(self._live_set(sample_set)), subkeys)

    def _stream(self, worker_name: str, md5s: Iterable[str], subkeys: Any) -> Iterator[dict]:
        paths = subkey_list(subkeys)
        if worker_name in contract.RETIRED_WORKERS:
            md5s = list(md5s)
            if not md5s:  # the original's scripts ask for them over sets that are empty here: nothing to stream
                return iter(())
        self.plugins.get(worker_name)
        return self.front.stream(worker_name, md5s, shape=original_item(worker_name, paths, self._served))

    def _served(self, worker_name: str, output: Any, md5: str) -> Any:
        """An output as clients get it: carrying its md5; meta also with the sample's tags (its type_tag among
        them, as the original tagged samples) and customer (a ``customer:NAME`` tag, else 'unknown'), read
        now rather than stored with the output, so that they are never stale."""
        output = with_md5(decoded(output) if worker_name == "meta" else output, md5)
        if worker_name != "meta" or not isinstance(output, dict) or "tags" in output:
            return output
        tags = self.store.get_tags(md5)
        customers = sorted(tag[len(CUSTOMER_PREFIX):] for tag in tags if tag.startswith(CUSTOMER_PREFIX))
        return {**output, "tags": sorted({*tags, *([output["type_tag"]] if output.get("type_tag") else [])}),
                "customer": customers[0] if customers else "unknown"}

    def similarity_graph(self, kwargs: dict[str, Any] | None = None) -> Iterator[dict]:
        """ssdeep edges {source, target, score} among selected samples (kwargs as batch_work_request, plus
        ``threshold``, default 25), each pair once, from the store's index; run meta_deep on them first."""
        kwargs = dict(kwargs or {})
        threshold = similarity_graph.check_threshold(kwargs.pop("threshold", similarity_graph.DEFAULT_THRESHOLD))
        return similarity_graph.edges(self.store, self.select_md5s(kwargs), threshold)

    def explain(self, worker_name: str, md5: str) -> dict[str, Any]:
        """Why each worker of the chain would or would not run for this sample."""
        self.plugins.get(worker_name)
        return self.front.explain(worker_name, self.resolve_md5(md5))

    def test_worker(self, worker_name: str) -> dict[str, Any]:
        """Run a worker's whole chain afresh (every step, cached or not) on the first stored sample it applies to
        and report output or error."""
        worker = self.plugins.get(worker_name)
        md5 = None
        for type_tag in worker.applies_to or (None,):
            md5 = md5 or next(iter(self.store.iter_md5s(type_tag=type_tag)), None)
        if md5 is None:  # a report, not an exception: the original's test_worker always answered
            kind = f"a {'/'.join(worker.applies_to)} sample" if worker.applies_to else "a sample"
            return {"worker": worker_name, "md5": None, "ok": False, "seconds": 0.0,
                    "error": f"no stored sample for worker {worker_name!r} to run on; store {kind} first"}
        started = time.perf_counter()
        try:
            output = self.front.run_afresh(worker_name, md5)
            return {"worker": worker_name, "md5": md5, "ok": True, "output": output,
                    "seconds": round(time.perf_counter() - started, 4)}
        except WorkbenchError as exc:
            return {"worker": worker_name, "md5": md5, "ok": False, "error": f"{type(exc).__name__}: {exc}",
                    "seconds": round(time.perf_counter() - started, 4)}

    def list_all_workers(self) -> list[dict[str, Any]]:
        """Every worker found: name, status (ok/failed), summary, dependencies, applies_to, error."""
        rows = []
        for name, w in sorted(self.plugins.all().items()):
            rows.append({"name": name, "status": "ok" if w.ok else "failed", "summary": w.summary,
                         "dependencies": w.dependencies, "applies_to": list(w.applies_to),
                         "error": w.error, "path": str(w.path)})
        return rows

    # --- property graph (the original's Neo4j calls, kept in the store) ---------------------------------
    def add_node(self, node_id: str, name: str, labels: list[str] | str) -> None:
        """Add a graph node (an md5 or any id) with a display name and labels; labels merge on repeat."""
        self.store.add_node(_graph_id(node_id), str(name), _tags(labels) if labels else [])

    def has_node(self, node_id: str) -> bool:
        """Whether the graph holds this node."""
        return self.store.has_node(_graph_id(node_id))

    def add_rel(self, source_id: str, target_id: str, rel: str) -> None:
        """Add a relationship of type ``rel`` between two nodes (idempotent)."""
        if not isinstance(rel, str) or not rel:
            raise BadArgument(f"bad relationship type {rel!r}: give a short name such as 'ssdeep' or 'imports'")
        self.store.add_rel(_graph_id(source_id), _graph_id(target_id), rel)

    def clear_graph_db(self) -> None:
        """Drop every graph node and relationship (samples and outputs stay)."""
        self.store.clear_graph()

    def get_graph(self, kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
        """The graph as networkx node-link data (``networkx.node_link_graph(g, edges='edges')``).

        kwargs: ``labels`` keeps nodes carrying any of them, ``rels`` keeps those relationship types; a
        relationship is kept when both its ends are."""
        kwargs = dict(kwargs or {})
        unknown = sorted(set(kwargs) - {"labels", "rels"})
        if unknown:
            raise BadArgument(f"unknown get_graph options {unknown}; use 'labels' and/or 'rels'")
        labels = set(_tags(kwargs["labels"])) if kwargs.get("labels") else None
        rel_types = set(_tags(kwargs["rels"])) if kwargs.get("rels") else None
        nodes, rels = self.store.iter_graph()
        kept = [n for n in nodes if labels is None or labels & set(n["labels"])]
        ids = {n["id"] for n in kept}
        edges = [{"source": r["source"], "target": r["target"], "key": r["rel"], "rel": r["rel"]} for r in rels
                 if r["source"] in ids and r["target"] in ids and (rel_types is None or r["rel"] in rel_types)]
        return {"directed": True, "multigraph": True, "graph": {}, "nodes": kept, "edges": edges}
    # --- browsing (the web view) --------------------------------------------------------------------
    def find_samples(self, md5_prefix: str | None = None, filename: str | None = None, type_tag: str | None = None,
                     tag: str | None = None, offset: int = 0, limit: int = 50) -> list[dict[str, Any]]:
        """Sample infos matching every filter given (md5 prefix, filename substring, type_tag, tag), newest first."""
        if md5_prefix is not None and not re.fullmatch(r"[0-9a-fA-F]{1,32}", md5_prefix):
            raise BadArgument(f"bad md5 prefix {md5_prefix!r}: expected 1 to 32 hex digits, e.g. '033d91'")
        if not (isinstance(offset, int) and offset >= 0 and isinstance(limit, int) and 0 <= limit <= 1000):
            raise BadArgument(f"offset must be >= 0 and limit 0 to 1000, got offset={offset!r} limit={limit!r}")
        return self.store.find_samples(md5_prefix.lower() if md5_prefix else None, filename or None,
                                       type_tag or None, tag or None, offset, limit)

    def sample_counts(self) -> dict[str, dict[str, int]]:
        """Stored samples counted by type_tag and by tag."""
        return {"type_tags": self.store.count_by_type_tag(), "tags": self.store.get_all_tags()}

    def output_counts(self) -> dict[str, int]:
        """Stored outputs counted by worker."""
        return self.store.count_outputs()

    def cached_output(self, worker_name: str, md5: str) -> dict[str, Any] | None:
        """The worker's stored output when valid for the current code of its chain, else None; never runs it."""
        self.plugins.get(worker_name)
        full = self.resolve_md5(md5)
        output = self.front.planner.plan(worker_name, full).output
        return None if output is None else self._served(worker_name, output, full)

    def clear_db(self) -> None:
        """Drop every sample, set, tag and output."""
        self.store.clear()

    def clear_worker_output(self, worker_name: str | None = None) -> int:
        """Drop stored outputs of one worker (or all), so they are recomputed on the next request."""
        if worker_name is not None and worker_name not in self.plugins.all():
            self.plugins.get(worker_name)
        return self.store.clear_worker_output(worker_name)

    # --- corpus search (issue 10): full-text index over outputs -----------------------------------
    def index_worker_output(self, worker_name: str, md5: str, index_name: str, subfields: Any = None) -> dict:
        """Index one sample's output of a worker (or its dotted ``subfields``) for ``search_index``."""
        self.plugins.get(worker_name)
        return self.text_index.index_one(worker_name, self.resolve_md5(md5), index_name, subfields)

    def index_worker_outputs(self, worker_name: str, index_name: str, subfields: Any = None,
                             kwargs: dict[str, Any] | None = None) -> Iterator[dict]:
        """Index a worker's outputs over a selection (as batch_work_request), skipping samples already indexed."""
        self.plugins.get(worker_name)
        kwargs = dict(kwargs or {})
        reindex = bool(kwargs.pop("reindex", False))
        return self.text_index.index_many(worker_name, index_name, subfields, self.select_md5s(kwargs), reindex)

    def search_index(self, index_name: str, query: str, limit: int = 1000) -> list[dict[str, str]]:
        """``[{md5, worker, field, snippet}]`` for indexed fields holding every term of ``query``."""
        return self.text_index.search(index_name, query, limit)

    def list_text_indexes(self) -> dict[str, int]:
        """Every full-text index with how many outputs it holds."""
        return self.store.text_indexes()

    def retrohunt(self, rules_text: Any, kwargs: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """YARA rules (text, or {namespace: text}) over the selected samples on every worker process: streams
        ``{md5, matches: [{namespace, rule, tags}]}`` for the matching ones (kwargs as batch_work_request;
        ``progress: True`` adds ``{progress: {done, total, matched}}`` records)."""
        kwargs = dict(kwargs or {})
        progress = bool(kwargs.pop("progress", False))
        return self.retrohunts.hunt(rules_text, self.select_md5s(kwargs), self._selection_size(kwargs), progress)

    def _selection_size(self, kwargs: dict[str, Any]) -> int:
        """How many samples a selection holds, without holding them: the list's length, the store's kept count
        for all samples, else a count over the same index pages the selection walks."""
        if kwargs.get("md5_list") is not None:
            return len(kwargs["md5_list"])
        if not kwargs.get("type_tag") and not kwargs.get("tags"):
            return self.store.count_samples()
        return sum(1 for _ in self.select_md5s(kwargs))

    def info(self) -> dict[str, Any]:
        """Version, store, sample count, workers, worker processes and what was served."""
        workers = self.plugins.all()
        return {
            "version": __version__, "datastore": self.store.uri, "samples": self.store.count_samples(),
            "workers_ok": sum(1 for w in workers.values() if w.ok),
            "workers_failed": sorted(n for n, w in workers.items() if not w.ok),
            "procs": self.procs, "procs_alive": self.front.executor.alive(),
            "procs_replaced": self.front.executor.replaced, "procs_load": self.front.executor.load(),
            "uptime_s": round(time.time() - self.started, 1),
            "counters": dict(self.front.counters), "workers_run": dict(self.front.workers_run),
            "pseudo_dependencies": list(contract.PSEUDO_DEPENDENCIES),
            "group": {**self.group_info(), **self._group_state()},
            "retrohunts": self.retrohunts.status(),
        }

    def _group_state(self) -> dict[str, Any]:
        """The group as the store knows it (servers seen lately), and what this server's group machinery did."""
        if self.front.group is None:
            return {}
        leases, group = self.front.leases, self.front.group
        return {"servers": self.store.list_servers(seen_within=GROUP_SEEN_S), "lease_waits": leases.waits,
                "chunks_sent": group.chunks_sent, "chunks_resent": group.chunks_resent}

    def _join_group(self, config: Config) -> None:
        """In a group: claim cold chains with leases in the store, and spread batches over the group."""
        from workbench.server.group.group_batch import GroupRunner
        from workbench.server.group.leases import ChainLeases
        from workbench.server.rpc.curve_auth import server_as_client_options

        self.front.leases = ChainLeases(self.store, self.group_info()["server_name"],
                                        config.get("server", "lease_seconds"))
        self.front.group = GroupRunner(config.get("server", "group_address"), config.get("server", "group_chunk"),
                                       config.get("server", "group_in_flight"), server_as_client_options(config))

    def group_compute(self, worker_name: str, md5_list: list[str]) -> list[dict[str, Any]]:
        """A chunk of another server's group batch, computed here: one result (its output encoded, relayed as it is
        by the asking server) or error record per md5."""
        return self.front.compute_here(worker_name, self._md5_list(md5_list))

    def register_in_group(self) -> None:
        """Tell the store this server is alive (``info()['group']['servers']`` lists who is)."""
        health = self.health()
        self.store.register_server(health["server_name"], {k: v for k, v in health.items() if k != "server_name"})

    def group_info(self) -> dict[str, Any]:
        """Which group this server belongs to and under what name (how a load balancer and a person see it)."""
        config = self.config
        name = config.get("server", "server_name") or f"{socket.gethostname()}:{config.get('server', 'port')}"
        group = {"server_name": name, "group_address": config.get("server", "group_address") or None,
                 "health_port": config.get("server", "health_port") or None}
        return group

    def health(self) -> dict[str, Any]:
        """What the load balancer's check reads: ok while the server can run chains. Cheap at any store size."""
        alive = self.front.executor.alive()
        return {"status": "ok" if alive or self.procs == 0 else "unavailable", **self.group_info(),
                "procs": self.procs, "procs_alive": alive, "procs_load": self.front.executor.load(),
                "uptime_s": round(time.time() - self.started, 1)}
