"""Hyperslabs on the client: ``batch_arrow`` streams read as Arrow tables, pandas frames and files.

Each zerorpc message is one Arrow IPC stream (schema + one record batch) that pyarrow reads in place, without
copying the message. The server's schema only grows (see ``workbench.server.planning.arrow_slabs``): the last
message's schema is the widest, and earlier batches are conformed to it (a column they lack becomes nulls, a
widened column is cast) - only the batches that differ cost anything::

    table = batch_table(client, "pe_features", subkeys=["pe_features.dense_features"], type_tag="exe")
    frame = table_to_frame(table)            # numeric columns as int64/float64, lists as lists
    write_batches(batch_messages(client, "pe_features", type_tag="exe"), "features.parquet")

Polars users take the table from there (``polars.from_arrow(table)``).
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import zerorpc

from workbench.server.planning.arrow_slabs import META_JSON, META_WIDENED, ROW_KEYS, ROWS_PER_MESSAGE, json_text

FORMATS = (".parquet", ".arrow", ".feather", ".csv", ".jsonl")
SLOTS = 4  # messages the server may send ahead of the reader
# The frame's columns are allocated by the C library's malloc, not Arrow's default pool (mimalloc), which keeps
# the memory of freed message copies and pieces: receiving 100,000 pe_features rows peaked at +94 MiB for 58 MiB
# of columns with it, +70 MiB with malloc (bench_dataframe, measured). The pieces (a message's column, 32 KiB)
# sit between live ones in malloc's heap: once a column is joined, glibc's malloc_trim hands their pages back
# (without it the frame's build peaked at +109 MiB for a 60 MiB frame; with it +71 MiB).
FRAME_POOL = pa.system_memory_pool()
TRIM_BYTES = 4 << 20  # pieces freed between two trims (a trim walks malloc's heap: ~0.5 ms)
try:
    _MALLOC_TRIM = getattr(ctypes.CDLL(None), "malloc_trim", None)  # glibc only; elsewhere nothing to do
except (OSError, TypeError):  # no C library to open this way (Windows)
    _MALLOC_TRIM = None


def release_freed() -> None:
    """Return malloc's free pages to the system (glibc ``malloc_trim``), a no-op where there is none."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def read_message(message: bytes) -> pa.RecordBatch:
    """One IPC message as a record batch whose buffers point into ``message`` (no copy)."""
    return pa.ipc.open_stream(pa.py_buffer(message)).read_next_batch()


def json_columns(schema: pa.Schema) -> set[str]:
    """Columns sent as JSON text (lists of records, mixed types): see ``workbench.server.planning.arrow_slabs``."""
    return set(json.loads((schema.metadata or {}).get(META_JSON, b"[]")))


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` under a wider schema of the same stream: missing columns as nulls, widened ones cast, columns
    that became JSON text later encoded as JSON."""
    now, before = json_columns(schema), json_columns(batch.schema)
    if batch.schema.equals(schema, check_metadata=False) and now == before:
        return batch.replace_schema_metadata(schema.metadata)
    names = batch.schema.names
    arrays = []
    for field in schema:
        if field.name not in names:
            arrays.append(pa.nulls(batch.num_rows, field.type))
            continue
        column = batch.column(field.name)
        if field.name in now and field.name not in before:
            arrays.append(pa.array([json_text(v) for v in column.to_pylist()], pa.string()))
        elif column.type == field.type:
            arrays.append(column)
        else:
            arrays.append(column.cast(field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def batch_messages(client: zerorpc.Client, worker: str, subkeys: list[str] | None = None,
                   rows: int = ROWS_PER_MESSAGE, **selection: Any) -> Iterator[bytes]:
    """The raw ``batch_arrow`` stream (selection: type_tag, tags, md5_list), ``rows`` rows per message."""
    kwargs = {**selection, "batch_size": rows, **({"subkeys": list(subkeys)} if subkeys else {})}
    return client.batch_arrow(worker, kwargs, slots=SLOTS)


def messages_table(messages: Iterable[bytes]) -> pa.Table:
    """A whole stream of IPC messages as one table under the last (widest) schema; empty: the row keys."""
    batches = [read_message(m) for m in messages]
    if not batches:
        return pa.table({name: pa.array([], pa.string()) for name in ROW_KEYS})
    schema = batches[-1].schema
    return pa.Table.from_batches([conform(b, schema) for b in batches], schema=schema)


def batch_table(client: zerorpc.Client, worker: str, subkeys: list[str] | None = None,
                rows: int = ROWS_PER_MESSAGE, **selection: Any) -> pa.Table:
    """A batch as one Arrow table: one row per selected sample (failed ones with their ``error``)."""
    return messages_table(batch_messages(client, worker, subkeys, rows, **selection))


def messages_frame(messages: Iterable[bytes]) -> pd.DataFrame:
    """A whole stream as one DataFrame, in about the frame's own memory (see ``table_to_frame`` for the types).

    Each message is read in place, then its columns are copied out so that the message is freed at once; at
    the end each column's pieces are joined (one copy) and handed to pandas without another copy, a column at
    a time, so the peak stays near the frame's size rather than twice it."""
    batches = [_detach(read_message(m)) for m in messages]
    if not batches:
        return pd.DataFrame({name: pd.Series([], dtype=object) for name in ROW_KEYS})
    schema = batches[-1].schema
    batches = [conform(b, schema) for b in batches]
    columns = {name: [b.column(index) for b in batches] for index, name in enumerate(schema.names)}
    rows = sum(b.num_rows for b in batches)
    del batches
    return _frame(columns, schema, rows)


def _detach(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch's columns copied out of their message (concat_arrays allocates), so the message can go."""
    return pa.RecordBatch.from_arrays([pa.concat_arrays([c], memory_pool=FRAME_POOL) for c in batch.columns],
                                      schema=batch.schema)


def table_to_frame(table: pa.Table) -> pd.DataFrame:
    """A table of this stream's shape as a DataFrame.

    Numeric columns come as int64/float64 (an int column with nulls as float64 with NaN, as pandas does; no
    copy when there are no nulls), lists as lists, JSON-text columns decoded (lists of records as lists of
    dicts), text as pandas' string dtype, a column with no value as float64 NaN; ``df.attrs['widened']``
    names widened columns."""
    return _frame({name: table.column(name).chunks for name in table.column_names}, table.schema, table.num_rows)


def _frame(columns: dict[str, list[pa.Array]], schema: pa.Schema, rows: int) -> pd.DataFrame:
    """Columns (lists of Arrow pieces, consumed one by one) as a DataFrame with one block per column."""
    decoded = json_columns(schema)
    series: dict[str, pd.Series] = {}
    freed = 0
    for field in schema:
        pieces = columns.pop(field.name)
        if _nested(field.type) or field.name in decoded:  # Python objects, missing NaN (as the dict path)
            values = [v for piece in pieces for v in piece.to_pylist()]
            if field.name in decoded:
                values = [None if v is None else json.loads(v) for v in values]
            series[field.name] = pd.Series([math.nan if v is None else v for v in values], dtype=object)
        elif pa.types.is_null(field.type):  # never a value: NaN, as pandas makes an all-missing column
            series[field.name] = pd.Series(np.full(rows, np.nan))
        else:
            whole = pieces[0] if len(pieces) == 1 else pa.concat_arrays(pieces, memory_pool=FRAME_POOL)
            del pieces
            series[field.name] = whole.to_pandas(memory_pool=FRAME_POOL)
            freed += whole.nbytes
            if freed > TRIM_BYTES:
                release_freed()  # the pieces' memory back to the system, not kept beside the frame
                freed = 0
    frame = pd.DataFrame(series, copy=False)
    metadata = schema.metadata or {}
    frame.attrs.update(widened=json.loads(metadata.get(META_WIDENED, b"{}")), json_columns=sorted(decoded))
    return frame


def sample_table(client: zerorpc.Client, md5: str, max_rows: int | None = None) -> pa.Table:
    """A Zeek log (typed from its #types header) or JSON-lines sample as an Arrow table."""
    return messages_table(client.stream_sample(md5, {"format": "arrow", "max_rows": max_rows}))


# --- files ----------------------------------------------------------------------------------------
def check_format(path: str | Path) -> str:
    """The output format from the file's extension; anything but FORMATS is a ValueError naming them."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"cannot write {str(path)!r}: unknown extension {suffix or '(none)'!r}; use one of "
                         f"{', '.join(FORMATS)}")
    return suffix


def write_batches(messages: Iterable[bytes], path: str | Path) -> dict[str, Any]:
    """Write a stream of IPC messages to ``path`` (.parquet, .arrow/.feather, .csv or .jsonl) in bounded memory.

    The messages are spooled to a temporary file next to ``path`` as they arrive, then written under the
    last (widest) schema, one message at a time: a column widened late is widened in the whole file, and a
    Parquet file has one row group per message. Returns ``{path, rows, row_groups, columns}``."""
    path = Path(path)
    suffix = check_format(path)
    spool = tempfile.NamedTemporaryFile(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".spool",
                                        delete=False)
    spans: list[tuple[int, int]] = []
    schema: pa.Schema | None = None
    try:
        with spool:
            for message in messages:
                spans.append((spool.tell(), len(message)))
                spool.write(message)
                schema = read_message(message).schema
        if schema is None:
            schema = pa.schema([(name, pa.string()) for name in ROW_KEYS])
        # plain reads, one message in memory at a time: a memory map's pages would count against the client
        with open(spool.name, "rb") as source:
            batches = (conform(read_message(_span(source, start, size)), schema) for start, size in spans)
            rows = _write(suffix, batches, schema, path)
    finally:
        os.unlink(spool.name)
    return {"path": str(path), "rows": rows, "row_groups": len(spans), "columns": schema.names}


def _span(source: Any, start: int, size: int) -> bytes:
    source.seek(start)
    return source.read(size)


def _write(suffix: str, batches: Iterator[pa.RecordBatch], schema: pa.Schema, path: Path) -> int:
    rows = 0
    if suffix == ".jsonl":
        decoded = json_columns(schema)
        with open(path, "w", encoding="utf-8") as out:
            for batch in batches:
                for row in batch.to_pylist():
                    for name in decoded:
                        row[name] = None if row[name] is None else json.loads(row[name])
                    out.write(json.dumps(row, default=str) + "\n")
                rows += batch.num_rows
        return rows
    if suffix == ".csv":
        schema = pa.schema([pa.field(f.name, pa.string() if _nested(f.type) else f.type) for f in schema])
        batches = (_text_nested(b, schema) for b in batches)
    writer: Any
    if suffix == ".parquet":
        writer = pq.ParquetWriter(path, schema)
    elif suffix == ".csv":
        writer = pa_csv.CSVWriter(path, schema)
    else:
        writer = pa.ipc.new_file(path, schema)
    with writer:
        for batch in batches:
            if suffix == ".parquet":
                writer.write_batch(batch, row_group_size=max(1, batch.num_rows))
            else:
                writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def _nested(kind: pa.DataType) -> bool:
    return pa.types.is_nested(kind)


def _text_nested(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """CSV has no lists: nested cells as JSON text."""
    arrays = [pa.array([None if v is None else json.dumps(v, default=str) for v in column.to_pylist()],
                       pa.string()) if _nested(column.type) else column for column in batch.columns]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
