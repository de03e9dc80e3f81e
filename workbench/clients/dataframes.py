"""Result streams as pandas DataFrames or Parquet files, read chunk by chunk so client memory stays bounded.

Any stream of results works: ``batch_work_request``, ``set_work_request`` or a plain list of
``work_request`` answers. Each result ``{'md5': ..., WORKER: output}`` becomes one row: ``md5``, ``error``
(``"Type: message"`` for a failed sample, else None), ``error_kind`` (``not_applicable``, ``timed_out``...)
and the worker's output fields, nested dicts flattened by dotted name (``dense_features.file_size``).
Lists stay as they are (one cell holds the list). Ask the server for ``subkeys`` so that only the fields you
need cross the wire::

    frame = batch_dataframe(client, "pe_features", subkeys=["pe_features.dense_features"], type_tag="exe")
    batch_parquet(client, "pe_features", "features.parquet", type_tag="exe")

``write_parquet`` holds one chunk at a time (each becomes one Parquet row group), and the batch helpers let the
server send only about one chunk ahead of the reader (zerorpc ``slots``), so client memory stays bounded
whatever the length of the stream.
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

from workbench.clients.client_helper import batch_results, flatten

CHUNK_ROWS = 1000
ROW_KEYS = ("md5", "error", "error_kind")


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


def batch_frames(client: zerorpc.Client, worker: str, subkeys: list[str] | None = None,
                 chunk_rows: int = CHUNK_ROWS, **selection: Any) -> Iterator[pd.DataFrame]:
    """A batch as DataFrames of ``chunk_rows`` rows, for streams too large for one DataFrame."""
    return iter_frames(batch_stream(client, worker, subkeys, chunk_rows, **selection), chunk_rows)


def batch_dataframe(client: zerorpc.Client, worker: str, subkeys: list[str] | None = None,
                    chunk_rows: int = CHUNK_ROWS, **selection: Any) -> pd.DataFrame:
    """A batch as one DataFrame, one row per selected sample."""
    return to_dataframe(batch_stream(client, worker, subkeys, chunk_rows, **selection), chunk_rows)


def batch_parquet(client: zerorpc.Client, worker: str, path: str | Path, subkeys: list[str] | None = None,
                  chunk_rows: int = CHUNK_ROWS, **selection: Any) -> dict[str, Any]:
    """A batch written to a Parquet file chunk by chunk (see write_parquet): memory stays at about one chunk."""
    return write_parquet(batch_stream(client, worker, subkeys, chunk_rows, **selection), path, chunk_rows)


def set_dataframe(client: zerorpc.Client, worker: str, sample_set: str, subkeys: list[str] | None = None,
                  chunk_rows: int = CHUNK_ROWS) -> pd.DataFrame:
    """``set_work_request`` over a stored sample set as one DataFrame."""
    window = _window(chunk_rows)
    stream = client.set_work_request(worker, sample_set, {"subkeys": subkeys, "batch_size": window["batch_size"]},
                                     slots=window["slots"])
    return to_dataframe(stream, chunk_rows)


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
