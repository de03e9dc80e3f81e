"""The remote API: validates arguments and delegates to Workbench. Only the methods below are callable.

Method names are the original Workbench's, so its clients keep working. Every error reaches the client as a
zerorpc RemoteError whose name is the exception class (UnknownMD5, UnknownWorker, WorkerFailed...).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from itertools import islice
from typing import Any

import zerorpc

from workbench import __version__
from workbench.exceptions import BadArgument, WorkbenchError
from workbench.server.rpc.help_text import help_text
from workbench.server.rpc.rpc_limits import LimitedServer
from workbench.server.workbench import Workbench

log = logging.getLogger(__name__)


def _batched(items: Iterator[Any], size: int) -> Iterator[Any]:
    """Items one by one (size 1, the original protocol) or in lists of ``size`` (far fewer messages)."""
    if not isinstance(size, int) or size < 1 or size > 10_000:
        raise BadArgument(f"batch_size must be a whole number from 1 to 10000, got {size!r}")
    if size == 1:
        yield from items
        return
    batches = getattr(items, "batches", None)
    if batches is not None:  # a ResultStream: lists of what is ready, so cold results are not held back
        yield from batches(size)
        return
    while chunk := list(islice(items, size)):
        yield chunk


class WorkbenchRPC:
    """Workbench over zerorpc."""

    def __init__(self, workbench: Workbench) -> None:
        self._wb = workbench

    def store_sample(self, input_bytes: bytes, filename: str, type_tag: str = "") -> str:
        """Store a sample (bytes) and return its md5; type_tag is guessed by libmagic when empty."""
        return self._wb.store_sample(input_bytes, filename, type_tag)

    def get_sample(self, md5: str) -> dict:
        """The sample with its bytes: {'sample': {md5, filename, type_tag, length, import_time, raw_bytes}}."""
        return self._wb.get_sample(md5)

    def get_sample_info(self, md5: str) -> dict:
        """The sample's metadata and tags, without its bytes."""
        return self._wb.get_sample_info(md5)

    def has_sample(self, md5: str) -> bool:
        """True if a sample with this md5 is stored (ask before sending bytes)."""
        return self._wb.has_sample(md5)

    def complete_md5(self, prefix: str, limit: int = 10) -> list:
        """Stored md5s starting with a prefix (1-32 hex digits), sorted, at most limit (1-1000)."""
        return self._wb.complete_md5(prefix, limit)

    def remove_sample(self, md5: str) -> bool:
        """Remove a sample and every output computed from it."""
        return self._wb.remove_sample(md5)

    def combine_samples(self, md5_list: list, filename: str, type_tag: str = "") -> str:
        """Join uploaded chunks (stored samples, in order) into one sample; return its md5."""
        return self._wb.combine_samples(md5_list, filename, type_tag)

    def set_type_tag(self, md5: str, type_tag: str) -> bool:
        """Correct a sample's type_tag (its stored outputs are dropped); False if it already had it."""
        return self._wb.set_type_tag(md5, type_tag)

    def upload_start(self, filename: str, type_tag: str = "") -> str:
        """Open a chunked upload (parts appended and hashed once, no joining); returns its id."""
        return self._wb.upload_start(filename, type_tag)

    def upload_part(self, upload_id: str, offset: int, data: bytes) -> int:
        """Append the next part of an upload at offset (bytes so far); returns the new length."""
        return self._wb.upload_part(upload_id, offset, data)

    def upload_finish(self, upload_id: str) -> str:
        """Store a chunked upload as one sample (kept once per md5); returns its md5."""
        return self._wb.upload_finish(upload_id)

    def upload_abort(self, upload_id: str) -> None:
        """Drop a chunked upload in progress (e.g. the sample turned out to be stored already)."""
        return self._wb.upload_abort(upload_id)

    @zerorpc.stream
    def stream_sample(self, md5: str, kwargs: dict | None = None) -> Iterator[Any]:
        """Stream a sample: Bro logs as typed records, logs as {'row': line}, other text line by line, others in 1 MiB
        chunks. kwargs: max_rows;
        format 'arrow': a Zeek log or JSON-lines sample as Arrow IPC messages (typed from Zeek's #types)."""
        kwargs = kwargs or {}
        if kwargs.get("format", "records") == "arrow":
            return self._wb.stream_sample_arrow(md5, kwargs.get("max_rows"))
        if kwargs.get("format", "records") != "records":
            raise BadArgument(f"unknown stream_sample format {kwargs['format']!r}; use 'records' or 'arrow'")
        return self._wb.stream_sample(md5, kwargs.get("max_rows"))

    def get_sample_window(self, type_tag: str, size_mb: float = 10) -> list:
        """md5s of the newest samples of a type_tag, newest first, until their total size passes size_mb."""
        return self._wb.get_sample_window(type_tag, size_mb)

    def index_sample(self, md5: str, index_name: str) -> dict:
        """Index a text sample's rows (log, Zeek log, text, JSON) for search_index."""
        return self._wb.index_sample(md5, index_name)

    def store_sample_set(self, md5_list: list) -> str:
        """Store a list of md5s and return the set's id."""
        return self._wb.store_sample_set(md5_list)

    def get_sample_set(self, sample_set: str) -> list:
        """The md5s in a stored set."""
        return self._wb.get_sample_set(sample_set)

    def generate_sample_set(self, tags: Any = None, type_tag: str | None = None) -> str:
        """A set of all samples with all the given tags and/or the given type_tag; returns its id (kept for
        sample_set_days)."""
        return self._wb.generate_sample_set(tags, type_tag)

    def remove_sample_set(self, sample_set: str) -> bool:
        """Remove a stored sample set (its samples stay); False if there was none."""
        return self._wb.remove_sample_set(sample_set)

    def add_tags(self, md5: str, tags: Any) -> None:
        """Add tags (a list or one string) to a sample."""
        return self._wb.add_tags(md5, tags)

    def set_tags(self, md5: str, tags: Any) -> None:
        """Replace a sample's tags."""
        return self._wb.set_tags(md5, tags)

    def get_tags(self, md5: str) -> list:
        """A sample's tags."""
        return self._wb.get_tags(md5)

    def get_all_tags(self) -> dict:
        """Every tag in use, with how many samples carry it."""
        return self._wb.get_all_tags()

    def get_type_tags(self) -> dict:
        """Every type_tag in use, with how many samples have it."""
        return self._wb.get_type_tags()

    def get_children(self, md5: str) -> list:
        """md5s of samples extracted from this one (archive members, files carried over HTTP)."""
        return self._wb.get_children(md5)

    def get_parents(self, md5: str) -> list:
        """md5s of the samples this one was extracted from."""
        return self._wb.get_parents(md5)

    def work_request(self, worker_name: str, md5: str, subkeys: Any = None) -> dict:
        """Run a worker (and its dependencies) on a sample: {'md5': md5, worker_name: output}; with subkeys (a
        dotted path or a list of them; 'foo.*' for all of foo) a flat {last_key: value}. Cached when valid."""
        return self._wb.work_request(worker_name, md5, subkeys)

    @zerorpc.stream
    def set_work_request(self, worker_name: str, sample_set: str, subkeys: Any = None) -> Iterator[Any]:
        """Stream a worker's outputs over a stored sample set (with subkeys, flat dicts); the third argument is
        subkeys (a dotted path or a list) or kwargs {subkeys, batch_size}."""
        kwargs = subkeys if isinstance(subkeys, dict) else {"subkeys": subkeys}
        results = self._wb.set_work_request(worker_name, sample_set, kwargs.get("subkeys"))
        return _batched(results, kwargs.get("batch_size", 1))

    @zerorpc.stream
    def batch_work_request(self, worker_name: str, kwargs: dict | None = None) -> Iterator[Any]:
        """Stream a worker's outputs (with subkeys, flat dicts) over samples chosen by kwargs (type_tag, md5_list,
        tags; subkeys, batch_size)."""
        kwargs = dict(kwargs or {})
        results = self._wb.batch_work_request(worker_name, kwargs)
        return _batched(results, kwargs.get("batch_size", 1))

    @zerorpc.stream
    def similarity_graph(self, kwargs: dict | None = None) -> Iterator[Any]:
        """Stream ssdeep similarity edges {source, target, score} among samples chosen by kwargs (type_tag,
        md5_list, tags; threshold 0-100, default 25; batch_size), each pair once, from the store's index."""
        kwargs = dict(kwargs or {})
        return _batched(self._wb.similarity_graph(kwargs), kwargs.get("batch_size", 1))

    @zerorpc.stream
    def batch_arrow(self, worker_name: str, kwargs: dict | None = None) -> Iterator[Any]:
        """batch_work_request as Arrow IPC messages (typed columns, rows = samples; batch_size rows each)."""
        return self._wb.batch_arrow(worker_name, dict(kwargs or {}))

    def list_all_workers(self) -> list:
        """Every worker found, with status ok/failed (and why), summary and dependencies."""
        return self._wb.list_all_workers()

    def help(self, topic: str | None = None) -> str:
        """Help on a command or worker; with no topic, a list of all of them."""
        return help_text(topic, self._commands(), self._wb.plugins)

    def help_basic(self) -> str:
        """Getting started: the first calls to make (the original's name for help('basic'))."""
        return self.help("basic")

    def help_commands(self) -> str:
        """Every command with its summary (the original's name for help('commands'))."""
        return self.help("commands")

    def help_command(self, command: str) -> str:
        """Help on one command: its signature and docstring."""
        return self.help(command)

    def help_workers(self) -> str:
        """Every worker with its summary (the original's name for help('workers'))."""
        return self.help("workers")

    def help_worker(self, worker: str) -> str:
        """Help on one worker: what it needs, what it applies to, what it returns."""
        return self.help(worker)

    def explain(self, worker_name: str, md5: str) -> dict:
        """The chain plan for a sample: for each worker, cached, stale (and why), not applicable or to run."""
        return self._wb.explain(worker_name, md5)

    def test_worker(self, worker_name: str) -> dict:
        """Run a worker's whole chain afresh on a stored sample it applies to; report its output or error and time."""
        return self._wb.test_worker(worker_name)

    def clear_db(self) -> None:
        """Delete every sample, tag, set and output from the store."""
        return self._wb.clear_db()

    def clear_worker_output(self, worker_name: str | None = None) -> int:
        """Drop stored outputs of one worker (all with no name) so they are recomputed; returns the count."""
        return self._wb.clear_worker_output(worker_name)

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

    def group_compute(self, worker_name: str, md5_list: list) -> list:
        """Internal to a group: compute a chunk of another server's batch here (results in md5_list order)."""
        return self._wb.group_compute(worker_name, md5_list)

    def version(self) -> str:
        """The server's Workbench version."""
        return __version__

    def get_datastore_uri(self) -> str:
        """The URI of the data store this server uses."""
        return self._wb.store.uri

    def index_worker_output(self, worker_name: str, md5: str, index_name: str, subfields: Any = None) -> dict:
        """Index a worker's output for a sample (or its dotted subfields: one string or a list) for search_index."""
        return self._wb.index_worker_output(worker_name, md5, index_name, subfields)

    @zerorpc.stream
    def index_worker_outputs(self, worker_name: str, index_name: str, subfields: Any = None,
                             kwargs: dict | None = None) -> Iterator[Any]:
        """Index a worker's outputs over samples chosen by kwargs (type_tag, md5_list, tags; reindex, batch_size)."""
        kwargs = dict(kwargs or {})
        records = self._wb.index_worker_outputs(worker_name, index_name, subfields, kwargs)
        return _batched(records, kwargs.get("batch_size", 1))

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
        return _batched(self._wb.retrohunt(rules_text, kwargs), kwargs.get("batch_size", 1))

    def info(self) -> dict:
        """Server status: version, store, sample count, workers, worker processes, cache hits."""
        return self._wb.info()

    def _commands(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in dir(self) if not name.startswith("_")}


class ApiServer(LimitedServer):
    """zerorpc.Server that answers expected errors (WorkbenchError) with their message only, logged in one line.

    Unexpected errors keep zerorpc's behaviour: a logged traceback, sent to the client too. Per-client limits
    (in-flight bound, message size, CURVE key check) come from LimitedServer.
    """

    def _print_traceback(self, protocol_v1: bool, exc_infos: list) -> tuple:
        exc_type, exc_value, _ = exc_infos
        if isinstance(exc_value, zerorpc.LostRemote):  # a client left mid-call (Ctrl-C, closed): routine, one line
            log.info("client went away: %s", exc_value)
            return (repr(exc_value),) if protocol_v1 else (exc_type.__name__, str(exc_value), None)
        if not isinstance(exc_value, WorkbenchError):
            return super()._print_traceback(protocol_v1, exc_infos)
        log.info("refused: %s: %s", exc_type.__name__, exc_value)
        return (repr(exc_value),) if protocol_v1 else (exc_type.__name__, str(exc_value), None)
