"""Hyperslabs: stream results as typed Apache Arrow record batches, one IPC message per zerorpc message.

A row is one result: ``md5``, ``error`` (``"Type: message"`` for a failed sample, else null), ``error_kind``
(``not_applicable``, ``timed_out``...), then the worker's output fields. Nested dicts are **flattened by
dotted name** (``dense_features.file_size``), not Arrow structs: the columns are then the ones ``subkeys``
name, Parquet/CSV writers need no struct support, and the frame equals the dict path's. Types come from the
values: int64, float64, bool, string, lists of scalars (and lists of lists) as Arrow lists; missing values are
nulls. Lists of records (``sections``, ``records``), empty dicts and columns whose values share no type travel
as JSON text, named in the schema metadata (``workbench.json_columns``); the client decodes them back into
Python values, so its frame equals the dict path's.

**Schema, one message at a time.** The packer keeps a running schema that only grows: a column first seen
later is added (earlier messages lack it: null there), a column whose type widens (int64 then float64,
list<int64> then list<double>, null then anything) is widened once and named in the schema metadata
(``workbench.widened``), and a column whose values cannot share one type (text in one row, a number in
another) becomes JSON text from there on. Every message is a complete IPC stream
(schema + one batch) cast to the running schema, so each can be read alone; a reader conforms earlier
batches to the last message's schema, which is the widest.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any

import gevent
import pyarrow as pa
import pyarrow.json as pa_json

from workbench.analysis import bro_parsing
from workbench.exceptions import BadArgument

if TYPE_CHECKING:
    from workbench.server.planning.slab_cache import Slab
    from workbench.server.planning.work_front import WorkFront

ROW_KEYS = ("md5", "error", "error_kind")
ROWS_PER_MESSAGE = 4096  # rows per IPC message (a few MB for ~100 numeric columns)
META_WIDENED = b"workbench.widened"
META_JSON = b"workbench.json_columns"
META_FLATTEN = b"workbench.nested"
JSON_READ = pa_json.ReadOptions(use_threads=True, block_size=1 << 20)
STORE_QUERY = 512  # md5s per store query of cached outputs (the event loop runs between queries)


def flatten_fields(value: dict[str, Any], prefix: str = "", into: dict[str, Any] | None = None) -> dict[str, Any]:
    """Nested dicts as one level with dotted keys (``{'a': {'b': 1}}`` -> ``{'a.b': 1}``); lists kept whole."""
    into = {} if into is None else into
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict) and item:
            flatten_fields(item, f"{name}.", into)
        else:
            into[name] = item
    return into


def result_row(result: dict[str, Any]) -> dict[str, Any]:
    """One stream result as a flat row: md5, error, error_kind, then the output's fields by dotted name."""
    error = result.get("error")
    row: dict[str, Any] = {
        "md5": result.get("md5"),
        "error": f"{error.get('type')}: {error.get('message')}" if isinstance(error, dict) else error,
        "error_kind": error.get("kind") if isinstance(error, dict) else None,
    }
    for key, output in result.items():
        if key not in ROW_KEYS and isinstance(output, dict):
            flatten_fields(output, into=row)
    return row


def json_text(value: Any) -> str | None:
    """A cell of a JSON-text column: any value as JSON (text too, so that decoding gives it back), NaN null."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return json.dumps(value, default=str)


def _has_struct(kind: pa.DataType) -> bool:
    if pa.types.is_struct(kind):
        return True
    return pa.types.is_list(kind) and _has_struct(kind.value_type)


def infer_array(values: list[Any]) -> pa.Array | None:
    """Arrow's own inference (ints int64, int+float float64...), or None when the values share no type or are
    lists of records (JSON text is then the honest column)."""
    try:
        array = pa.array(values, from_pandas=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, TypeError):
        return None
    if _has_struct(array.type):  # records in a list (a struct would add every record's keys to each), or {}
        return None
    return array


class SlabPacker:
    """Rows or columns in, IPC messages out, under one running schema (see the module docstring)."""

    def __init__(self, metadata: dict[bytes, bytes] | None = None) -> None:
        self.fields: dict[str, pa.DataType] = {}
        self.widened: dict[str, str] = {}
        self.json_columns: set[str] = set()
        self.extra = dict(metadata or {})

    def pack_rows(self, rows: list[dict[str, Any]]) -> memoryview:
        """Flat rows (dicts) as one IPC message; column order is first-seen order over the stream."""
        names = list(dict.fromkeys([*self.fields, *(name for row in rows for name in row)]))
        return self.pack_columns({name: [row.get(name) for row in rows] for name in names}, len(rows))

    def pack_columns(self, columns: dict[str, list[Any] | pa.Array], num_rows: int) -> memoryview:
        """Columns (Python lists, or Arrow arrays already typed) as one IPC message: a view of the buffer Arrow
        wrote it into, which msgpack sends as it is (``to_pybytes`` copied each message once more)."""
        arrays = {name: self._array(name, values) for name, values in columns.items()}
        for name in self.fields:
            arrays.setdefault(name, pa.nulls(num_rows, self.fields[name]))
        schema = self._schema()
        batch = pa.RecordBatch.from_arrays([arrays[f.name] for f in schema], schema=schema)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, schema) as writer:
            writer.write_batch(batch)
        return memoryview(sink.getvalue())

    def _array(self, name: str, values: list[Any] | pa.Array) -> pa.Array:
        if name in self.json_columns:
            return self._as_json(values)
        array = values if isinstance(values, pa.Array) else infer_array(values)
        if array is None:
            return self._to_json(name, values)
        known = self.fields.get(name)
        if known is None or known == array.type or pa.types.is_null(known):
            self.fields[name] = array.type
            return array
        if pa.types.is_null(array.type):
            return pa.nulls(len(array), known)
        try:
            wide = pa.unify_schemas([pa.schema([(name, known)]), pa.schema([(name, array.type)])],
                                    promote_options="permissive").field(name).type
            if pa.types.is_string(wide) or pa.types.is_large_string(wide) or pa.types.is_binary(wide):
                raise pa.ArrowTypeError("text and non-text values")  # keep a numeric column numeric or JSON
            cast = array.cast(wide)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            return self._to_json(name, values)
        if wide != known:
            self.widened[name] = f"{known} -> {wide}"
            self.fields[name] = wide
        return cast

    def _to_json(self, name: str, values: list[Any] | pa.Array) -> pa.Array:
        """From now on the column is JSON text (named in the metadata): its values share no Arrow type."""
        self.json_columns.add(name)
        if name in self.fields and not pa.types.is_null(self.fields[name]):
            self.widened[name] = f"{self.fields[name]} -> json text"
        self.fields[name] = pa.string()
        return self._as_json(values)

    @staticmethod
    def _as_json(values: list[Any] | pa.Array) -> pa.Array:
        if isinstance(values, pa.Array):
            values = values.to_pylist()
        return pa.array([json_text(v) for v in values], pa.string())

    def _schema(self) -> pa.Schema:
        metadata = {**self.extra, META_FLATTEN: b"flattened by dotted name"}
        if self.widened:
            metadata[META_WIDENED] = json.dumps(self.widened, sort_keys=True).encode()
        if self.json_columns:
            metadata[META_JSON] = json.dumps(sorted(self.json_columns)).encode()
        return pa.schema(list(self.fields.items()), metadata=metadata)


def result_messages(result_lists: Iterable[list[dict[str, Any]] | dict[str, Any]],
                    packer: SlabPacker | None = None) -> Iterator[memoryview]:
    """A batch stream (lists of results, as ``ResultStream.batches`` yields) as Arrow IPC messages."""
    packer = packer or SlabPacker()
    for results in result_lists:
        rows = [result_row(r) for r in (results if isinstance(results, list) else [results])]
        if rows:
            yield packer.pack_rows([{**dict.fromkeys(ROW_KEYS), **row} for row in rows])


def slab_messages(dispatcher: WorkFront, worker: str, md5s: Iterator[str], subkeys: list[str] | None,
                  rows: int = ROWS_PER_MESSAGE) -> Iterator[memoryview]:
    """``batch_arrow``: the selected samples, ``rows`` at a time, as Arrow IPC messages under one schema.

    Each chunk's cached outputs are read in one store query as JSON text and parsed by Arrow's C++ JSON
    reader straight into columns (no Python object per value); the rest (cold samples, and chunks whose
    values the bulk parse cannot type as the dict path would) go through the dispatcher's ``ResultStream``
    (chains on the pool, at most ``max_in_flight`` at once) and are packed row by row."""
    if not isinstance(rows, int) or isinstance(rows, bool) or not 1 <= rows <= 10_000:
        raise BadArgument(f"batch_size must be a whole number from 1 to 10000, got {rows!r}")
    dispatcher.plugins.get(worker)  # an unknown worker fails the call, not each row
    return _slab_messages(dispatcher, worker, md5s, subkeys, rows)


def _slab_messages(dispatcher: WorkFront, worker: str, md5s: Iterator[str], subkeys: list[str] | None,
                   rows: int) -> Iterator[memoryview]:
    """One chunk behind the store: chunk k's JSON is parsed, or its rows from the worker's slab file
    (planning/slab_cache.py, while it is current: no JSON) packed, in a native thread (Arrow releases the GIL)
    while chunk k+1 is read from the store here, and the server's other greenlets keep running meanwhile. The
    packer is used by one thread at a time: a chunk's slab rows are packed once the chunk before is sent."""
    packer = SlabPacker()
    paths = [".".join(p.split(".")[1:]) if p.split(".")[0] == worker else p for p in subkeys or []]
    chunk = list(islice(md5s, rows))
    # a selection of one partial message reads its JSON (< `rows` x 40 us) rather than build a slab of every
    # cached output of the worker; a current slab serves it all the same
    slab = dispatcher.slab(worker, paths, build=len(chunk) == rows) if all(paths) else None
    threads = gevent.get_hub().threadpool
    pending: tuple | None = None
    while chunk:
        if slab is not None and not dispatcher.slabs.current(worker, slab):
            slab = None  # outputs written meanwhile (e.g. this stream's cold samples): JSON from here on
        found, slab_rows = slab.find(chunk) if slab is not None else ([], None)
        known = set(found)
        rest = [md5 for md5 in chunk if md5 not in known]
        texts = _stored_texts(dispatcher, worker, rest, paths) if rest and all(paths) else None
        hits = [md5 for md5 in rest if md5 in texts] if texts else []
        parse = threads.spawn(cached_columns, [texts[md5] for md5 in hits], paths) if hits else None
        if pending:
            yield from _chunk_messages(dispatcher, worker, subkeys, rows, packer, *pending)
        packed = threads.spawn(_slab_message, packer, slab, found, slab_rows) if found else None
        dispatcher.counters["cache_hits"] += len(found)
        dispatcher.counters["slab_rows"] += len(found)
        pending = (rest, hits, parse, packed)
        chunk = list(islice(md5s, rows))
    if pending:
        yield from _chunk_messages(dispatcher, worker, subkeys, rows, packer, *pending)


def _stored_texts(dispatcher: WorkFront, worker: str, chunk: list[str], paths: list[str]) -> dict | None:
    """``cached_texts`` a few hundred md5s per query, letting other greenlets (heartbeats, clients) run between."""
    texts: dict[str, str] = {}
    for start in range(0, len(chunk), STORE_QUERY):
        part = dispatcher.cached_texts(worker, chunk[start:start + STORE_QUERY], paths)
        if part is None:
            return None
        texts.update(part)
        gevent.sleep(0)
    return texts


def _slab_message(packer: SlabPacker, slab: Slab, found: list[str], slab_rows: Any) -> memoryview:
    """The slab rows of a chunk as one message."""
    return packer.pack_columns({"md5": pa.array(found, pa.string()), "error": pa.nulls(len(found)),
                                "error_kind": pa.nulls(len(found)), **slab.columns(slab_rows)}, len(found))


def _chunk_messages(dispatcher: WorkFront, worker: str, subkeys: list[str] | None, rows: int,
                    packer: SlabPacker, chunk: list[str], hits: list[str], parse: Any,
                    packed: Any = None) -> Iterator[memoryview]:
    """A chunk's slab rows as one message (packed in a thread), its other cached rows as one (when the bulk parse
    typed them), the rest through ResultStream."""
    gevent.sleep(0)  # a stream of cached chunks never starves the server's other greenlets
    if packed is not None:
        yield packed.get()
    columns = parse.get() if parse is not None else None
    if columns is not None:
        dispatcher.counters["cache_hits"] += len(hits)
        yield packer.pack_columns({"md5": pa.array(hits, pa.string()), "error": pa.nulls(len(hits)),
                                   "error_kind": pa.nulls(len(hits)), **columns}, len(hits))
        done = set(hits)
        chunk = [md5 for md5 in chunk if md5 not in done]
    if chunk:
        yield from result_messages(dispatcher.stream(worker, chunk, subkeys).batches(rows), packer)


def cached_columns(texts: list[str], paths: list[str]) -> dict[str, pa.Array] | None:
    """Stored outputs (JSON text, one per row) as flat typed columns, or None where the bulk parse would not
    give what the dict path gives: an output Arrow cannot type as one table, a timestamp-looking string, an
    empty or null dict, a list of records, or a subkey that names nothing."""
    blob = "\n".join(texts).encode()
    if b"{}" in blob:  # an empty dict (json.dumps writes it so): a cell on the dict path, gone once flattened
        return None
    try:
        table = pa_json.read_json(io.BytesIO(blob), read_options=JSON_READ)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    while any(pa.types.is_struct(f.type) for f in table.schema):
        if any(pa.types.is_struct(f.type) and (f.type.num_fields == 0 or table.column(f.name).null_count)
               for f in table.schema):
            return None  # {} or a null dict: the dict path keeps it as a cell, flattening would drop it
        table = table.flatten()
    names = table.column_names
    if paths:
        if not all(any(n == w or n.startswith(f"{w}.") for n in names) for w in paths):
            return None
        names = [n for n in names if any(n == w or n.startswith(f"{w}.") for w in paths)]
        if any(table.column(n).null_count for n in names if n in paths):
            return None  # a null leaf the subkey names may be a missing key: the dict path says which, per row
    if any(_bulk_unsafe(table.schema.field(n).type) for n in names):
        return None
    return {name: table.column(name).combine_chunks() for name in names}


def _bulk_unsafe(kind: pa.DataType) -> bool:
    """Types the JSON reader infers where json.loads would not: timestamps, records inside lists."""
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind) or pa.types.is_struct(kind):
        return True
    return pa.types.is_list(kind) and _bulk_unsafe(kind.value_type)


# --- samples as tables -------------------------------------------------------------------------------
ZEEK_SCALARS = {**dict.fromkeys(bro_parsing.INT_TYPES, pa.int64()),
                **dict.fromkeys(bro_parsing.FLOAT_TYPES, pa.float64()), "bool": pa.bool_()}


def zeek_type(name: str) -> pa.DataType:
    """The Arrow type of a Zeek type: count/int/port int64, double/time/interval float64 (seconds), bool,
    set/vector/table of those as lists, anything else (string, addr, subnet, enum...) string."""
    if name.startswith(bro_parsing.CONTAINERS):
        return pa.list_(zeek_type(name[name.index("[") + 1:-1]))
    return ZEEK_SCALARS.get(name, pa.string())


def zeek_messages(raw: bytes, max_rows: int | None = None, rows: int = ROWS_PER_MESSAGE) -> Iterator[memoryview]:
    """A Zeek ASCII log as IPC messages, typed from its ``#types`` header (values as bro_parsing converts them).

    A value that did not fit its declared type (kept as text by the parser) makes its column inferred instead
    for that message; the running schema then widens it to JSON text and says so."""
    header, values = bro_parsing.iter_rows(raw)
    packer = SlabPacker({b"workbench.source": b"zeek"})
    chunk: list[dict[str, Any]] = []
    block: tuple[list[str], list[str]] = (header.fields, header.types)

    def pack() -> memoryview:
        columns: dict[str, Any] = {}
        for name, kind in zip(*block, strict=True):
            column = [r.get(name) for r in chunk]
            try:
                columns[name] = pa.array(column, zeek_type(kind))
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                columns[name] = column
        return packer.pack_columns(columns, len(chunk))

    for count, row in enumerate(values):
        if max_rows is not None and count >= max_rows:
            break
        if header.fields is not block[0]:  # a new #fields block (concatenated logs): its own message
            if chunk:
                yield pack()
                chunk = []
            block = (header.fields, header.types)
        chunk.append(bro_parsing.to_record(header, row))
        if len(chunk) >= rows:
            yield pack()
            chunk = []
    if chunk:
        yield pack()


def json_messages(raw: bytes, max_rows: int | None = None, rows: int = ROWS_PER_MESSAGE) -> Iterator[memoryview]:
    """JSON lines (one object per line) or one JSON array of objects as IPC messages, types inferred."""
    text = raw.decode("utf-8", "replace")
    stripped = text.lstrip()
    try:
        objects: Iterable[Any] = json.loads(stripped) if stripped.startswith("[") else [
            json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise BadArgument(f"not JSON lines or a JSON array ({exc}); stream it with format 'records'") from None
    packer = SlabPacker({b"workbench.source": b"json"})
    chunk: list[dict[str, Any]] = []
    for count, item in enumerate(objects):
        if max_rows is not None and count >= max_rows:
            break
        chunk.append(flatten_fields(item) if isinstance(item, dict) else {"value": item})
        if len(chunk) >= rows:
            yield packer.pack_rows(chunk)
            chunk = []
    if chunk:
        yield packer.pack_rows(chunk)
