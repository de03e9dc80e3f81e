"""Slab files: a columnar copy of a worker's cached outputs that ``batch_arrow`` serves from.

Reading cached outputs as JSON costs ~40 us a row (sqlite's text, then Arrow's JSON parser); a slab file pays
that once. Per (worker, chain_version, subkey paths) and per store stamp (``DataStore.output_stamp``: changes in
the transaction of every output write or delete of the worker), ``<db>.slabs/`` holds:

- ``<name>.arrow``: an Arrow IPC file, the md5 (``workbench.slab_md5``) plus the flattened columns exactly
  as ``cached_columns`` types them, read memory-mapped (no copy into the heap; the page cache holds it);
- ``<name>.md5`` / ``<name>.pos``: the md5s sorted (32 bytes each) and their rows, for a binary search
  (numpy ``searchsorted`` over the memory-mapped index: no hash table built per request).

A slab is built when a ``batch_arrow`` request finds none at the current stamp: in the background (this request
reads the JSON; no request waits for a build), in gevent's threadpool on a connection of its own (one read
snapshot; the event loop keeps serving), and used only while the stamp is unchanged: a write makes the next
request start a new build. It is refused (kept as an empty slab naming the reason, so not retried until
the next write) when one table could not give what the per-chunk JSON path gives: a column whose type differs
between pages, or integers and floats mixed in one float column (the JSON path types each chunk alone: int64
for a chunk of integers), or when the first page cannot be typed in bulk (lists of records...). Later pages
``cached_columns`` cannot type are left out; their rows go the JSON path. A build that fails (disk full) is
logged and the request reads the JSON as before. MongoDB keeps no slabs (``output_stamp`` is None).

One difference from the JSON path remains: a nested key that no row of a chunk has, while other stored rows
have it, comes as an all-null column in that chunk's message (the JSON path leaves it out): a slab cannot tell
a missing key from a null one. The frame equals the JSON path's whenever a selected row has the key.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sqlite3
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import gevent
import numpy as np
import pyarrow as pa

from workbench.server.data_store.base import DataStore
from workbench.server.planning.arrow_slabs import cached_columns

log = logging.getLogger(__name__)
SLAB_PAGE = 4096  # outputs per page of a build (one JSON parse each)
META_REFUSED = b"workbench.slab_refused"
MD5_BYTES = 32
KEY = "workbench.slab_md5"  # the file's own md5 column (an output may have an ``md5`` field)


class Slab:
    """One slab file, memory-mapped, with its sorted md5 index."""

    def __init__(self, path: Path, stamp: str) -> None:
        self.path, self.stamp = path, stamp
        reader = pa.ipc.open_file(pa.memory_map(str(path)))
        self.schema = reader.schema
        self.batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
        self.starts = np.cumsum([0] + [b.num_rows for b in self.batches])
        self.refused = (reader.schema.metadata or {}).get(META_REFUSED, b"").decode() or None
        rows = int(self.starts[-1])
        self.md5s = np.memmap(path.with_suffix(".md5"), "S32", "r") if rows else np.empty(0, "S32")
        self.rows = np.memmap(path.with_suffix(".pos"), "<i8", "r") if rows else np.empty(0, "<i8")
        self.prefixes = _prefixes(self.md5s)  # 8 bytes a row in memory: integer compares, not 32-byte strings

    def find(self, md5s: list[str]) -> tuple[list[str], np.ndarray]:
        """The md5s of ``md5s`` this slab holds (in their order, repeats kept) and their rows."""
        if not len(self.md5s):
            return [], np.empty(0, "<i8")
        keys = _md5_keys(md5s)
        at = np.minimum(np.searchsorted(self.prefixes, _prefixes(keys)), len(self.md5s) - 1)
        hit = self.md5s[at] == keys
        shared = ~hit & (self.prefixes[at] == _prefixes(keys))  # another md5 with the same first 8 characters
        if shared.any():
            at[shared] = np.minimum(np.searchsorted(self.md5s, keys[shared]), len(self.md5s) - 1)
            hit = self.md5s[at] == keys
        hit &= keys != b""
        found = list(md5s) if hit.all() else [m for m, h in zip(md5s, hit, strict=True) if h]
        return found, np.asarray(self.rows[at[hit]])

    def _take(self, rows: np.ndarray) -> pa.Table:
        """A take per record batch (4x faster than one over the whole table), then back in the order asked. Rows
        in the file's order (a selection in import order, as the slab is in output order) need no reordering, and
        a run of consecutive rows is a slice of the memory-mapped batch, not a copy."""
        which = np.searchsorted(self.starts, rows, "right") - 1
        ordered = bool(np.all(rows[1:] > rows[:-1]))
        order = np.arange(len(rows)) if ordered else np.argsort(which, kind="stable")
        parts = []
        for batch in np.unique(which):
            local = rows[order[which[order] == batch]] - self.starts[batch]
            run = ordered and local[-1] - local[0] == len(local) - 1
            parts.append(self.batches[batch].slice(local[0], len(local)) if run
                         else self.batches[batch].take(pa.array(local)))
        taken = pa.Table.from_batches(parts, self.schema)
        if ordered:
            return taken
        back = np.empty_like(order)
        back[order] = np.arange(len(order))
        return taken.take(pa.array(back))

    def columns(self, rows: np.ndarray) -> dict[str, pa.Array]:
        """The output columns of ``rows`` (only these rows); a column all null there is null-typed, as the JSON
        path types a chunk that has no value for it."""
        taken = self._take(rows)
        out = {}
        for index, name in enumerate(taken.column_names[1:], 1):
            column = taken.column(index).combine_chunks()
            out[name] = pa.nulls(len(column)) if column.null_count == len(column) else column
        return out


def _prefixes(keys: np.ndarray) -> np.ndarray:
    """The first 8 bytes of each 32-byte key as a big-endian integer: sorted as the keys are."""
    return np.ascontiguousarray(np.frombuffer(np.ascontiguousarray(keys).tobytes(), ">u8")[::4]).astype("<u8") \
        if len(keys) else np.empty(0, "<u8")


def _md5_keys(md5s: list[str]) -> np.ndarray:
    """The md5s as 32-byte keys, in numpy's C loops; anything not a 32-character ASCII string (a slab holds no
    such md5) becomes a key that matches nothing."""
    if set(map(len, md5s)) <= {MD5_BYTES}:  # joined and cut into fixed-width keys in C: no object per md5
        try:
            return np.frombuffer("".join(md5s).encode("ascii"), "S32")
        except UnicodeEncodeError:
            pass
    return np.array([m.encode() if len(m) == MD5_BYTES and m.isascii() else b"" for m in md5s], "S32")


class SlabCache:
    """The slabs of one store: built in the background when asked for, one build per slab at a time, stale
    files removed. ``counters`` (the front's) counts finished builds as ``slab_builds``."""

    def __init__(self, store: DataStore, counters: Counter) -> None:
        self.store = store
        self.folder = store.slab_folder()
        self.counters = counters
        self.open: dict[str, Slab] = {}
        self.building: dict[str, gevent.Greenlet] = {}

    def get(self, worker: str, chain_version: str, paths: list[str], build: bool = True) -> Slab | None:
        """The slab of the worker's outputs as they are now, or None. A missing one is built in the background
        (when ``build``), so no request waits for a build (at 1M outputs one takes about 40 s): this request
        reads the JSON, the requests after the build read the slab."""
        stamp = self.store.output_stamp(worker)
        if stamp is None or self.folder is None:
            return None
        key = hashlib.sha1(repr((chain_version, sorted(paths))).encode()).hexdigest()[:16]
        name = f"{worker}-{key}"
        slab = self.open.get(name)
        if slab is not None and slab.stamp == stamp:
            return slab
        path = self.folder / f"{name}-{stamp}.arrow"
        if path.exists():
            self.open[name] = Slab(path, stamp)
            return self.open[name]
        if build and name not in self.building:
            self.building[name] = gevent.spawn(self._build, worker, chain_version, paths, name)
        return None

    def wait(self, timeout: float | None = None) -> None:
        """Until the builds running now have finished (tests, and the in-process API's users)."""
        gevent.joinall(list(self.building.values()), timeout=timeout)

    def _build(self, worker: str, chain_version: str, paths: list[str], name: str) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            pages = self.store.output_text_pages(worker, chain_version, paths or None, SLAB_PAGE)
            path = gevent.get_hub().threadpool.apply(build_slab, (pages, paths, self.folder, name))
            self.counters["slab_builds"] += 1
            self._drop_stale(worker, path)
        except (OSError, sqlite3.Error, pa.ArrowException) as exc:  # a full disk, a locked file...
            log.warning("slab %s not built (%s: %s); batch_arrow reads the stored JSON", name,
                        type(exc).__name__, exc)
        finally:
            self.building.pop(name, None)

    def current(self, worker: str, slab: Slab) -> bool:
        """Whether ``slab`` still holds the worker's outputs as they are (one point read)."""
        return self.store.output_stamp(worker) == slab.stamp

    def _drop_stale(self, worker: str, built: Path) -> None:
        """Remove the worker's slab files of any other stamp (every key): no request can use them again."""
        stamp = _stamp_of(built)
        for old in self.folder.glob(f"{worker}-*"):
            if _stamp_of(old) != stamp:
                old.unlink(missing_ok=True)


def _stamp_of(path: Path) -> str:
    """``<worker>-<key>-<stamp>.arrow`` (or .md5, .pos, .tmp): the stamp; worker names hold no '-'."""
    return path.name.split(".", 1)[0].split("-", 2)[-1]


def build_slab(pages: Iterator[tuple[str, list[tuple[str, str]]]], paths: list[str], folder: Path,
               name: str) -> Path:
    """Write a slab from the store's pages (runs in a native thread); returns its ``.arrow`` path."""
    parts = folder / f".{name}-{uuid.uuid4().hex}.parts"
    parts.mkdir()
    types: dict[str, pa.DataType] = {}
    md5s: list[np.ndarray] = []
    refused, stamp = "", ""
    try:
        for count, page in enumerate(pages):
            stamp, rows = page
            columns = cached_columns([text for _, text in rows], paths) if rows else None
            if columns is None and rows and not md5s:
                refused = "the first page of outputs cannot be typed in bulk (see cached_columns)"
                break  # such outputs rarely get better later: no full pass for nothing
            if columns is None:
                continue
            refused = _merge_types(types, columns) or _mixed_numbers(columns, [text for _, text in rows])
            if refused:
                break
            table = pa.table({KEY: pa.array([m for m, _ in rows], pa.string()), **columns})
            with pa.ipc.new_file(parts / f"{count}.arrow", table.schema) as writer:
                writer.write_table(table)
            md5s.append(np.array([m for m, _ in rows], "S32"))
        target = folder / f"{name}-{stamp}.arrow"
        if refused or not md5s:
            schema = pa.schema([(KEY, pa.string())], metadata={META_REFUSED: refused.encode()} if refused else None)
            _write_file(target, schema, [])
            return target
        schema = pa.schema([(KEY, pa.string()), *types.items()])
        part_files = sorted(parts.glob("*.arrow"), key=lambda p: int(p.stem))
        index = np.concatenate(md5s)
        order = np.argsort(index, kind="stable")
        for suffix, values in ((".md5", index[order]), (".pos", order.astype("<i8"))):
            temp = target.with_suffix(suffix + ".tmp")
            values.tofile(temp)
            os.replace(temp, target.with_suffix(suffix))
        _write_file(target, schema, part_files)
        return target
    finally:
        for part in parts.iterdir():
            part.unlink()
        parts.rmdir()


def _write_file(target: Path, schema: pa.Schema, part_files: list[Path]) -> None:
    """The IPC file, written beside and renamed into place (its existence says the slab is complete)."""
    temp = target.with_suffix(".arrow.tmp")
    with pa.ipc.new_file(temp, schema) as writer:
        for part in part_files:
            table = pa.ipc.open_file(pa.memory_map(str(part))).read_all()
            arrays = [table.column(f.name).cast(f.type) if f.name in table.column_names
                      else pa.nulls(table.num_rows, f.type) for f in schema]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
    os.replace(temp, target)


def _merge_types(types: dict[str, pa.DataType], columns: dict[str, pa.Array]) -> str:
    """Fold one page's column types into the slab's; the reason to refuse the slab, or ''."""
    for name, array in columns.items():
        merged = _merge(types.get(name, pa.null()), array.type)
        if merged is None:
            return f"column {name!r} is {types[name]} in one page and {array.type} in another"
        types[name] = merged
    return ""


def _merge(known: pa.DataType, new: pa.DataType) -> pa.DataType | None:
    """Null (a page with no value) yields to any type, also inside lists; any other difference is None."""
    if known == new or pa.types.is_null(new):
        return known
    if pa.types.is_null(known):
        return new
    if pa.types.is_list(known) and pa.types.is_list(new):
        inner = _merge(known.value_type, new.value_type)
        return None if inner is None else pa.list_(inner)
    return None


INT_TOKEN = r'"(?:{names})": ?{prefix}-?\d+[,}}\]]'


def _mixed_numbers(columns: dict[str, pa.Array], texts: list[str]) -> str:
    """The reason to refuse when a float column of this page may hold an integer token ("n": 1 beside "n":
    2.5): the JSON path would type a chunk of only those rows int64. Matched by leaf name, so a same-named
    integer elsewhere refuses too: a refusal only costs speed."""
    scalars, lists = set(), set()
    for name, array in columns.items():
        kind = array.type
        if pa.types.is_floating(kind):
            scalars.add(name.rsplit(".", 1)[-1])
        elif pa.types.is_list(kind) and pa.types.is_floating(kind.value_type):
            lists.add(name.rsplit(".", 1)[-1])
        elif "double" in str(kind) or "float" in str(kind):
            return f"column {name!r} holds floats nested deeper than one list"
    blob = "\n".join(texts)
    for leaves, prefix in ((scalars, ""), (lists, r"\[(?:[^\]]*?, ?)?")):
        if leaves:
            pattern = INT_TOKEN.format(names="|".join(map(re.escape, sorted(leaves))), prefix=prefix)
            found = re.search(pattern, blob)
            if found:
                return f"integers and floats in one column ({found.group(0)[:60]!r})"
    return ""
