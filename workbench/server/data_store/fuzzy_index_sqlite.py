"""The sqlite store's fuzzy-hash index: meta_deep's ssdeep (window keys) and tlsh, kept beside its outputs.

Two tables, written only inside the store's write transactions that write meta_deep outputs, so a kill -9
at any moment leaves outputs and index consistent (both committed or neither):

- ``fuzzy_hashes(id, md5, ssdeep, tlsh)``: one row per sample with a meta_deep output. ``id`` is an
  AUTOINCREMENT integer, never reused: a recomputed output gets a new id, so "ids above N" is exactly what
  changed since a reader last looked (the TLSH scan refreshes that way);
- ``ssdeep_keys(key, sample)`` WITHOUT ROWID: one row per distinct index key of the hash
  (``workbench.analysis.ssdeep_index``), about 40-90 per real hash. A query is one primary-key range per key.

Cost on disk: measured 930-970 bytes per sample (both tables and the md5 index; bench/bench_similarity.py).
Building it for an existing store at open (the upgrade) took 98 s for 1M meta_deep outputs on 2 cores (191 s
with the machine loaded), in one transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any

import numpy as np

from workbench.analysis.ssdeep_index import INDEXED_WORKER, index_keys

SCHEMA = """
CREATE TABLE fuzzy_hashes (id INTEGER PRIMARY KEY AUTOINCREMENT, md5 TEXT NOT NULL UNIQUE,
                           ssdeep TEXT NOT NULL, tlsh TEXT);
CREATE TABLE ssdeep_keys (key INTEGER NOT NULL, sample INTEGER NOT NULL, PRIMARY KEY (key, sample)) WITHOUT ROWID;
"""
CHUNK = 500  # parameters per IN (...) query
BUILD_BATCH = 50_000  # hashes per sorted insert of their keys while building


def ensure(db: sqlite3.Connection) -> bool:
    """Create the index tables if missing, building them from stored meta_deep outputs (the upgrade path) in
    one transaction: interrupted, it leaves no tables and runs again at the next open. True if it built."""
    exists = "SELECT 1 FROM sqlite_master WHERE type='table' AND name='ssdeep_keys'"
    if db.execute(exists).fetchone():
        return False
    with db:
        db.execute("BEGIN IMMEDIATE")
        if db.execute(exists).fetchone():  # another process built it while we waited for the lock
            return False
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        batch: list[tuple[str, str, str | None]] = []
        for row in _rows_from_outputs(db):
            batch.append(row)
            if len(batch) >= BUILD_BATCH:
                _write_hashes(db, batch, fresh=True)
                batch = []
        _write_hashes(db, batch, fresh=True)
    return True


def _rows_from_outputs(db: sqlite3.Connection) -> Iterable[tuple[str, str | None, str | None]]:
    cursor = db.execute("SELECT md5, json_extract(output, '$.ssdeep'), json_extract(output, '$.tlsh') "
                        "FROM outputs WHERE worker=?", (INDEXED_WORKER,))
    while rows := cursor.fetchmany(10_000):
        yield from rows


def write(db: sqlite3.Connection, rows: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """Index (replace) the hashes of meta_deep outputs ``(md5, output)``; call inside a write transaction."""
    latest = {md5: (output.get("ssdeep") or "", output.get("tlsh")) for md5, output in rows}
    _write_hashes(db, [(md5, ssdeep, tlsh) for md5, (ssdeep, tlsh) in latest.items()])


def _write_hashes(db: sqlite3.Connection, rows: list[tuple[str, str | None, str | None]],
                  fresh: bool = False) -> None:
    if not fresh:
        delete(db, [md5 for md5, _, _ in rows])
    seq = db.execute("SELECT seq FROM sqlite_sequence WHERE name='fuzzy_hashes'").fetchone()
    first = (seq[0] if seq else 0) + 1
    db.executemany("INSERT INTO fuzzy_hashes(id, md5, ssdeep, tlsh) VALUES (?, ?, ?, ?)",
                   [(first + n, md5, ssdeep or "", tlsh) for n, (md5, ssdeep, tlsh) in enumerate(rows)])
    per_sample = [index_keys(ssdeep or "") for _, ssdeep, _ in rows]
    keys = np.fromiter(chain.from_iterable(per_sample), dtype=np.int64)
    samples = np.repeat(np.arange(first, first + len(rows), dtype=np.int64), [len(k) for k in per_sample])
    order = np.lexsort((samples, keys))  # in key order: each insert lands next to the previous one
    db.executemany("INSERT OR IGNORE INTO ssdeep_keys(key, sample) VALUES (?, ?)",
                   zip(keys[order].tolist(), samples[order].tolist(), strict=True))


def delete(db: sqlite3.Connection, md5s: list[str]) -> None:
    """Drop these samples from the index (their key rows found from their stored hash); inside a transaction."""
    for start in range(0, len(md5s), CHUNK):
        chunk = md5s[start:start + CHUNK]
        sql = f"SELECT id, ssdeep FROM fuzzy_hashes WHERE md5 IN ({','.join('?' * len(chunk))})"
        old = db.execute(sql, chunk).fetchall()
        if old:
            db.executemany("DELETE FROM ssdeep_keys WHERE key=? AND sample=?",
                           [(key, sample) for sample, ssdeep in old for key in index_keys(ssdeep)])
            db.executemany("DELETE FROM fuzzy_hashes WHERE id=?", [(sample,) for sample, _ in old])


def clear_in_pages(db: sqlite3.Connection, page: int, between: Callable[[], None]) -> None:
    """Drop the whole index about ``page`` key rows per transaction, calling ``between`` after each: at 1M
    samples it holds ~50M key rows, which one DELETE would hold the server on for seconds. Keys go by primary-key
    range (everything up to the page's last key), then the hashes by id; a reader meanwhile finds fewer
    candidates, never a key without its hash row."""
    while True:
        with db:
            db.execute("BEGIN IMMEDIATE")
            last = db.execute("SELECT key FROM ssdeep_keys ORDER BY key LIMIT 1 OFFSET ?", (page - 1,)).fetchone()
            if last is None:
                db.execute("DELETE FROM ssdeep_keys")
                break
            db.execute("DELETE FROM ssdeep_keys WHERE key <= ?", last)
        between()
    while True:
        with db:
            gone = db.execute("DELETE FROM fuzzy_hashes WHERE id IN (SELECT id FROM fuzzy_hashes ORDER BY id "
                              "LIMIT ?)", (page,)).rowcount
        if gone < page:
            return
        between()


def candidates(db: sqlite3.Connection, keys: list[int]) -> list[tuple[str, str]]:
    """(md5, ssdeep) of every indexed sample sharing at least one key."""
    if not keys:
        return []
    found: dict[str, str] = {}
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start:start + CHUNK]
        sql = ("SELECT md5, ssdeep FROM fuzzy_hashes WHERE id IN "
               f"(SELECT sample FROM ssdeep_keys WHERE key IN ({','.join('?' * len(chunk))}))")
        found.update(db.execute(sql, chunk).fetchall())
    return list(found.items())


def tlsh_since(db: sqlite3.Connection, cursor: int | None) -> tuple[list[tuple[str, str | None]], int]:
    """(md5, tlsh) indexed after ``cursor`` (None: all), and the cursor to pass next time."""
    rows = db.execute("SELECT id, md5, tlsh FROM fuzzy_hashes WHERE id > ? ORDER BY id", (cursor or 0,)).fetchall()
    return [(md5, tlsh) for _, md5, tlsh in rows], (rows[-1][0] if rows else cursor or 0)
