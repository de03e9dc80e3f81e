"""Result streams as pandas DataFrames or Parquet files.

``batch_dataframe``, ``batch_frames``, ``batch_parquet`` and ``set_dataframe`` use the columnar path: the
server's ``batch_arrow`` stream of typed Arrow record batches (see ``workbench.clients.slabs``): integers stay
int64, lists stay lists, a failed sample is a row with its ``error``. ``batch_table`` gives the Arrow table
itself. Each row is ``md5``, ``error`` (``"Type: message"`` for a failed sample, else null), ``error_kind``
(``not_applicable``, ``timed_out``...) and the worker's output fields, nested dicts flattened by dotted name
(``dense_features.file_size``). Ask the server for ``subkeys`` so that only the fields you need cross the
wire::

    frame = batch_dataframe(client, "pe_features", subkeys=["pe_features.dense_features"], type_tag="exe")
    batch_parquet(client, "pe_features", "features.parquet", type_tag="exe")

The dict path stays for any other stream of results (``work_request`` answers, ``batch_stream``):
``to_dataframe``/``iter_frames`` build rows from dicts, and ``write_parquet`` holds one chunk at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import zerorpc

from workbench.clients import slabs
from workbench.clients.client_helper import batch_results, flatten
from workbench.server.planning.arrow_slabs import ROW_KEYS, ROWS_PER_MESSAGE, flatten_fields, result_row

CHUNK_ROWS = 1000
__all__ = ["ROW_KEYS", "batch_dataframe", "batch_frames", "batch_parquet", "batch_stream", "batch_table",
           "flatten_fields", "iter_frames", "result_row", "set_dataframe", "to_dataframe", "write_parquet"]


def row_chunks(results: Iterable[Any], chunk_rows: int = CHUNK_ROWS) -> Iterator[list[dict[str, Any]]]:
    """Flat rows, ``chunk_rows`` at a time, from a stream whose messages are results or lists of results."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    rows = (result_row(r) for r in flatten(iter(results)))
    while True:
        chunk = list(islice(rows, chunk_rows))
        if not chunk:
            return
        yield chunk
        del chunk  # before the next chunk is built: one chunk alive at a time, not two


def iter_frames(results: Iterable[Any], chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """One DataFrame per chunk of ``chunk_rows`` results: process a stream of any length in bounded memory."""
    for chunk in row_chunks(results, chunk_rows):
        yield pd.DataFrame.from_records(chunk)


def to_dataframe(results: Iterable[Any], chunk_rows: int = CHUNK_ROWS) -> pd.DataFrame:
    """The whole stream as one DataFrame (built chunk by chunk; columns are the union over all results)."""
    frames = list(iter_frames(results, chunk_rows))
    if not frames:
        return pd.DataFrame(columns=list(ROW_KEYS))
    return pd.concat(frames, ignore_index=True, sort=False) if len(frames) > 1 else frames[0]


def _window(chunk_rows: int) -> dict[str, int]:
    """Results per message and messages the server may send ahead: about one chunk waits in client memory."""
    batch_size = max(1, min(100, chunk_rows))
    return {"batch_size": batch_size, "slots": max(2, chunk_rows // batch_size)}


def batch_stream(client: zerorpc.Client, worker: str, subkeys: list[str] | None = None,
                 chunk_rows: int = CHUNK_ROWS, **selection: Any) -> Iterator[dict[str, Any]]:
    """``batch_work_request`` (selection: type_tag, tags, md5_list) with a read-ahead of about one chunk."""
    if subkeys:
        selection["subkeys"] = list(subkeys)
    return batch_results(client, worker, **_window(chunk_rows), **selection)


def batch_table(client: zerorpc.Client, worker: str, subkeys: list[str] | None = None,
                chunk_rows: int = ROWS_PER_MESSAGE, **selection: Any) -> pa.Table:
    """A batch as one Arrow table (``batch_arrow``, ``chunk_rows`` rows per message): for Polars, DuckDB..."""
    return slabs.batch_table(client, worker, subkeys, chunk_rows, **selection)


def batch_frames(client: zerorpc.Client, worker: str, subkeys: list[str] | None = None,
                 chunk_rows: int = ROWS_PER_MESSAGE, **selection: Any) -> Iterator[pd.DataFrame]:
    """A batch as one DataFrame per message of up to ``chunk_rows`` rows, for streams too large for one frame."""
    for message in slabs.batch_messages(client, worker, subkeys, chunk_rows, **selection):
        yield slabs.table_to_frame(pa.Table.from_batches([slabs.read_message(message)]))


def batch_dataframe(client: zerorpc.Client, worker: str, subkeys: list[str] | None = None,
                    chunk_rows: int = ROWS_PER_MESSAGE, **selection: Any) -> pd.DataFrame:
    """A batch as one DataFrame, one row per selected sample, typed columns (see ``slabs.table_to_frame``)."""
    return slabs.messages_frame(slabs.batch_messages(client, worker, subkeys, chunk_rows, **selection))


def batch_parquet(client: zerorpc.Client, worker: str, path: str | Path, subkeys: list[str] | None = None,
                  chunk_rows: int = ROWS_PER_MESSAGE, **selection: Any) -> dict[str, Any]:
    """A batch written to a typed Parquet file, one row group per message (``slabs.write_batches``)."""
    return slabs.write_batches(slabs.batch_messages(client, worker, subkeys, chunk_rows, **selection), path)


def set_dataframe(client: zerorpc.Client, worker: str, sample_set: str, subkeys: list[str] | None = None,
                  chunk_rows: int = ROWS_PER_MESSAGE) -> pd.DataFrame:
    """A stored sample set as one DataFrame (the columnar path over the set's md5s)."""
    return batch_dataframe(client, worker, subkeys, chunk_rows, md5_list=client.get_sample_set(sample_set))


# --- Parquet ---------------------------------------------------------------------------------------
def _kind(values: list[Any]) -> pa.DataType:
    """A column's Parquet type from its first chunk: bool, float64 (all JSON numbers) or string (the rest)."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pa.bool_()
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return pa.float64()
    return pa.string()


def _as_text(value: Any) -> str | None:
    """A cell of a string column: text as is, anything else (lists, numbers) as JSON text."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _column(name: str, values: list[Any], kind: pa.DataType) -> pa.Array:
    if kind == pa.string():
        values = [_as_text(v) for v in values]
    try:
        return pa.array(values, type=kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValueError(f"column {name!r} changed type after the first chunk ({kind} expected: {exc}); pass "
                         f"columns=[...] with a first chunk that shows its type, or subkeys to leave it out") from None


def write_parquet(results: Iterable[Any], path: str | Path, chunk_rows: int = CHUNK_ROWS,
                  columns: list[str] | None = None) -> dict[str, Any]:
    """Write a stream to one Parquet file, one row group per chunk, never holding more than one chunk.

    The schema comes from the first chunk (or ``columns``): numbers are float64 (JSON numbers, NaN for
    missing), True/False bool, everything else text (lists and dicts as JSON). A column first seen in a later
    chunk is an error naming it; absent values are nulls. Returns ``{path, rows, row_groups, columns}``.
    """
    path = Path(path)
    writer: pq.ParquetWriter | None = None
    schema: pa.Schema | None = None
    rows = groups = 0
    try:
        for chunk in row_chunks(results, chunk_rows):
            if schema is None:
                names = list(ROW_KEYS) + [c for c in (columns or _names(chunk)) if c not in ROW_KEYS]
                schema = pa.schema([(n, _kind([r.get(n) for r in chunk])) for n in names])
                writer = pq.ParquetWriter(path, schema)
            extra = set().union(*chunk) - set(schema.names)
            if extra and columns is None:
                raise ValueError(f"columns {sorted(extra)[:10]} first appear after row {rows}; pass columns=[...] "
                                 "to fix the Parquet schema up front (or subkeys to fetch fewer fields)")
            arrays = [_column(f.name, [r.get(f.name) for r in chunk], f.type) for f in schema]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema), row_group_size=len(chunk))
            rows, groups = rows + len(chunk), groups + 1
            del chunk, arrays  # free this chunk before the stream builds the next one
    finally:
        if writer is not None:
            writer.close()
    if writer is None:  # an empty stream still gives a readable file
        pq.write_table(pa.table({n: pa.array([], pa.string()) for n in ROW_KEYS}), path)
    return {"path": str(path), "rows": rows, "row_groups": groups, "columns": schema.names if schema else []}


def _names(chunk: list[dict[str, Any]]) -> list[str]:
    """Column names in first-seen order over a chunk."""
    return list(dict.fromkeys(name for row in chunk for name in row))
