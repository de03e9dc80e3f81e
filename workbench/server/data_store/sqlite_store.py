"""The embedded default store: one sqlite file (WAL), outputs as JSON text anyone can read with sqlite3.

Sample bytes live beside it as content-addressed files (``<db>.samples/ab/<md5>``, see sample_folder.py);
stores made before that keep their bytes in the ``sample_bytes`` table, which is still read, and moved to files
the first time such a store is opened (each blob: file written, then its row deleted, so a kill is harmless).

One connection per process, autocommit, each write transaction done in one go with no yield inside: under
gevent this is the pattern that stays atomic and never stalls the hub (../shared/notes/spikes.md section 5).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any

import gevent

from workbench.exceptions import StoreError, UnknownMD5
from workbench.server.data_store import fuzzy_index_sqlite as fuzzy
from workbench.server.data_store import sample_sets_sqlite as sample_sets
from workbench.server.data_store import text_search
from workbench.server.data_store.base import SAMPLE_INFO_FIELDS, DataStore, let_loop_run
from workbench.server.data_store.sample_folder import SampleFolder

SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    md5 TEXT PRIMARY KEY, filename TEXT NOT NULL, type_tag TEXT NOT NULL,
    length INTEGER NOT NULL, import_time TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS samples_type_tag ON samples(type_tag);
CREATE TABLE IF NOT EXISTS sample_bytes (md5 TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tags (md5 TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (md5, tag)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tags_tag ON tags(tag, md5);
CREATE TABLE IF NOT EXISTS store_counts (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sample_sets (id TEXT PRIMARY KEY, md5_list TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS links (parent TEXT NOT NULL, child TEXT NOT NULL, PRIMARY KEY (parent, child))
    WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS links_child ON links(child, parent);
CREATE TABLE IF NOT EXISTS outputs (
    md5 TEXT NOT NULL, worker TEXT NOT NULL, chain_version TEXT NOT NULL, versions TEXT NOT NULL,
    time TEXT NOT NULL, output TEXT NOT NULL, PRIMARY KEY (md5, worker));
CREATE INDEX IF NOT EXISTS outputs_worker ON outputs(worker);
"""

# A per-worker output generation, bumped by triggers in the transaction of every output write or delete (single,
# bulk, remove_sample, clear_worker_output, clear, and other processes on the same file): a slab file built from
# the outputs at generation g (planning/slab_cache.py) is served only while the worker is still at g. The epoch,
# drawn once per database file, tells a new file's generations from an old one's.
GENERATIONS = """
CREATE TABLE IF NOT EXISTS output_generations (worker TEXT PRIMARY KEY, generation INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO store_counts VALUES ('slab_epoch', abs(random()));
""" + "".join(f"""
CREATE TRIGGER IF NOT EXISTS outputs_generation_{event.lower()}_{row.lower()} AFTER {event} ON outputs BEGIN
    INSERT INTO output_generations VALUES ({row}.worker, 1)
    ON CONFLICT(worker) DO UPDATE SET generation = generation + 1;
END;""" for event, row in (("INSERT", "NEW"), ("DELETE", "OLD"), ("UPDATE", "NEW"), ("UPDATE", "OLD")))

# Tag selections oldest first without a scan: (tag, the sample's rowid) is a primary key range, walked a page at a
# time. Kept beside ``tags`` (md5 -> tags) by every tag write; filled once for a store made before it.
SAMPLE_TAGS = """
CREATE TABLE IF NOT EXISTS sample_tags (tag TEXT NOT NULL, sid INTEGER NOT NULL, md5 TEXT NOT NULL,
    PRIMARY KEY (tag, sid)) WITHOUT ROWID;
"""
BUSY_TIMEOUT_S = 30
MD5_CHARS = 32
SELECTION_PAGE = 1000  # rows one selection query examines: a few ms, then other greenlets run
DELETE_PAGE = 250  # rows per transaction of a bulk delete: 15-40 ms of outputs on our 2 cores

# Filename substring search: an FTS5 trigram index over samples.filename (external content). Substrings of 3+
# characters are index lookups; shorter ones fall back to a LIKE scan. Deletes are kept by a trigger; inserts
# are indexed by the code that inserts (``_index_filenames``), in one statement per batch: a per-row insert
# trigger made bulk imports of small samples about 6x slower (measured, bench/bench_web.py's index-cost line).
# Every INSERT INTO samples must be followed by ``_index_filenames`` in the same transaction.
FILENAME_INDEX = """
CREATE VIRTUAL TABLE IF NOT EXISTS samples_filename USING fts5(
    filename, content='samples', content_rowid='rowid', tokenize='trigram', columnsize=0);
CREATE TRIGGER IF NOT EXISTS samples_filename_delete AFTER DELETE ON samples BEGIN
    INSERT INTO samples_filename(samples_filename, rowid, filename) VALUES ('delete', old.rowid, old.filename); END;
"""
# clear(): each table with the key its pages are deleted by (rowid tables by rowid), samples last
CLEAR_ORDER = (
    ("outputs", ("rowid",)), ("text_fts", ("rowid",)), ("text_fields", ("rowid",)),
    ("text_docs", ("index_name", "worker", "md5")), ("tags", ("md5", "tag")), ("sample_tags", ("tag", "sid")),
    ("sample_sets", ("rowid",)), ("set_members", ("key", "pos")), ("set_headers", ("rowid",)),
    ("links", ("parent", "child")), ("graph_rels", ("source", "target", "rel")), ("graph_nodes", ("rowid",)),
    ("leases", ("key",)), ("sample_bytes", ("rowid",)), ("samples", ("rowid",)),
)
SAMPLES_DELETE_PAGE = 100  # a deleted sample also deletes its filename's trigrams (the FTS trigger): ~0.2 ms a row
INFO_COLUMNS = "s.md5, s.filename, s.type_tag, s.length, s.import_time"

GROUP_SCHEMA = """
CREATE TABLE IF NOT EXISTS leases (key TEXT PRIMARY KEY, holder TEXT NOT NULL, expires REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_servers (name TEXT PRIMARY KEY, seen REAL NOT NULL, info TEXT NOT NULL)
    WITHOUT ROWID;
"""

GRAPH_SCHEMA = """
CREATE TABLE IF NOT EXISTS graph_nodes (id TEXT PRIMARY KEY, name TEXT NOT NULL, labels TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS graph_rels (source TEXT NOT NULL, target TEXT NOT NULL, rel TEXT NOT NULL,
    PRIMARY KEY (source, target, rel)) WITHOUT ROWID;
"""

# Full-text index over outputs (issue 10): one row per (index, md5, worker) for bookkeeping, one per indexed
# field whose id is the FTS5 rowid. The tokenizer matches text_search.tokens (diacritics kept).
TEXT_SCHEMA = """
CREATE TABLE IF NOT EXISTS text_docs (
    index_name TEXT NOT NULL, worker TEXT NOT NULL, md5 TEXT NOT NULL, version TEXT NOT NULL,
    PRIMARY KEY (index_name, worker, md5)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS text_docs_md5 ON text_docs(md5);
CREATE TABLE IF NOT EXISTS text_fields (
    id INTEGER PRIMARY KEY, index_name TEXT NOT NULL, worker TEXT NOT NULL, md5 TEXT NOT NULL, field TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS text_fields_md5 ON text_fields(md5, index_name, worker);
CREATE INDEX IF NOT EXISTS text_fields_index ON text_fields(index_name);
CREATE VIRTUAL TABLE IF NOT EXISTS text_fts USING fts5(body, tokenize='unicode61 remove_diacritics 0');
"""

# CROSS JOIN keeps FTS5 the outer loop: a rare term finds its few rows, never a walk over a whole index's fields
TEXT_SEARCH_SQL = ("SELECT f.md5, f.worker, f.field, t.body FROM text_fts t CROSS JOIN text_fields f "
                   "WHERE text_fts MATCH ? AND f.id = t.rowid AND f.index_name = ? ORDER BY t.rowid LIMIT ?")


MAX_SQL_PARAMS = 500  # md5s per IN (...) query: far below sqlite's limit, big enough to amortise a query


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


PLAIN_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def _json_paths(paths: list[str], prefix: str = "") -> str:
    """SQL building ``{first: {second: ...}}`` from the stored output, only ``paths`` (checked PLAIN_PATH)."""
    tree: dict[str, list[str] | None] = {}
    for path in paths:
        head, _, rest = path.partition(".")
        tree.setdefault(head, [])
        if rest and tree[head] is not None:
            tree[head].append(rest)
        elif not rest:
            tree[head] = None  # the whole value, whatever deeper paths also asked
    parts = [f"'{key}', " + (f"json(output -> '$.{prefix}{key}')" if not rest else _json_paths(rest, f"{prefix}{key}."))
             for key, rest in tree.items()]
    return f"json_object({', '.join(parts)})"


def _selection_sql(type_tag: str | None, tags: list[str] | None) -> tuple[str, list[str]]:
    """A page query of ``iter_md5s``: ``(key, md5, keep)`` rows after key ``?``, at most ``?`` rows examined."""
    if not tags:
        where = "type_tag = ? AND " if type_tag else ""
        return (f"SELECT rowid AS key, md5, 1 AS keep FROM samples WHERE {where}rowid > ? "  # noqa: S608
                "ORDER BY rowid LIMIT ?", [type_tag] if type_tag else [])
    checks = ["EXISTS (SELECT 1 FROM tags t WHERE t.md5 = st.md5 AND t.tag = ?)"] * (len(tags) - 1)
    if type_tag:
        checks.append("EXISTS (SELECT 1 FROM samples s WHERE s.rowid = st.sid AND s.type_tag = ?)")
    matches = " AND ".join(checks) or "1"
    return (f"SELECT st.sid AS key, st.md5, {matches} AS keep FROM sample_tags st "  # noqa: S608 - constants, marks
            "WHERE st.tag = ? AND st.sid > ? ORDER BY st.sid LIMIT ?",
            [*tags[1:], *([type_tag] if type_tag else []), tags[0]])


def path_from_uri(uri: str) -> Path:
    """``sqlite:///relative.db`` or ``sqlite:////abs/path.db`` (``~`` expanded) to a file path."""
    if not uri.startswith("sqlite:///"):
        raise StoreError(f"bad sqlite URI {uri!r}; use sqlite:///relative/path.db or sqlite:////absolute/path.db")
    return Path(os.path.expanduser(uri.removeprefix("sqlite:///")))


class SqliteStore(DataStore):
    """DataStore on one sqlite file. Safe for several processes (WAL, busy timeout)."""

    def __init__(self, uri: str, fsync: bool = False) -> None:
        self.uri = uri
        self.path = path_from_uri(uri)
        self.files = SampleFolder(self.path.with_name(self.path.name + ".samples"), fsync)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                       timeout=BUSY_TIMEOUT_S)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=OFF")
            self._db.execute("PRAGMA journal_size_limit=67108864")  # a WAL grown by a big write shrinks back
            self._db.executescript(SCHEMA)
            self._open_sample_tags()
            self._open_counts()
            self._db.executescript(f"BEGIN IMMEDIATE; {GENERATIONS} COMMIT;")
            self._db.executescript(GRAPH_SCHEMA)
            self._db.executescript(GROUP_SCHEMA)
            self._open_filename_index()
            fuzzy.ensure(self._db)
            sample_sets.ensure(self._db)
            self._db.executescript(TEXT_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open sqlite store {self.path}: {exc}; check the path and permissions") from exc
        self.files.sweep_temp()
        self.migrate_blobs()

    def _open_filename_index(self) -> None:
        """Create the filename index; a store made before it existed gets its filenames indexed once."""
        existed = self._one("SELECT 1 FROM sqlite_master WHERE name='samples_filename'") is not None
        rebuild = "" if existed else "INSERT INTO samples_filename(samples_filename) VALUES ('rebuild');"
        self._db.executescript(f"BEGIN IMMEDIATE; {FILENAME_INDEX} {rebuild} COMMIT;")

    def _open_sample_tags(self) -> None:
        """Create the tag selection table; a store made before it gets it filled from ``tags`` once."""
        if self._one("SELECT 1 FROM sqlite_master WHERE name='sample_tags'") is None:
            fill = "INSERT INTO sample_tags SELECT t.tag, s.rowid, t.md5 FROM tags t JOIN samples s ON s.md5 = t.md5;"
            self._db.executescript(f"BEGIN IMMEDIATE; {SAMPLE_TAGS} {fill} COMMIT;")

    def _open_counts(self) -> None:
        """Keep the sample count and byte total in ``store_counts`` (info() reads them at any size); a store made
        before it is counted once."""
        if self._one("SELECT 1 FROM store_counts WHERE name='bytes'") is None:
            self._db.executescript("BEGIN IMMEDIATE; INSERT OR REPLACE INTO store_counts "
                                   "SELECT 'samples', COUNT(*) FROM samples UNION ALL "
                                   "SELECT 'bytes', COALESCE(SUM(length), 0) FROM samples; COMMIT;")

    def _count(self, samples: int, length: int) -> None:
        """Add to the kept counts (inside the writing transaction)."""
        self._db.executemany("UPDATE store_counts SET value = value + ? WHERE name = ?",
                             [(samples, "samples"), (length, "bytes")])

    def _last_rowid(self) -> int:
        return self._one("SELECT COALESCE(MAX(rowid), 0) FROM samples")[0]

    def _index_filenames(self, after_rowid: int) -> None:
        """Index the filenames of the samples inserted after ``after_rowid`` (inside the inserting transaction)."""
        self._db.execute("INSERT INTO samples_filename(rowid, filename) SELECT rowid, filename FROM samples "
                         "WHERE rowid > ?", (after_rowid,))

    def _read_off_loop(self, sql: str, args: tuple = ()) -> list[tuple]:
        """A read that walks a whole index (counts over every sample or output), in a native thread on a
        connection of its own: sqlite releases the GIL while it steps, so the event loop keeps serving other
        clients meanwhile (a 1M-row GROUP BY takes 100+ ms). WAL: the read never blocks a writer."""
        def read() -> list[tuple]:
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
            try:
                return db.execute(sql, args).fetchall()
            finally:
                db.close()
        return gevent.get_hub().threadpool.apply(read)

    def _one(self, sql: str, args: tuple = ()) -> tuple | None:
        return self._db.execute(sql, args).fetchone()

    # --- samples -----------------------------------------------------------------------------------
    def store_sample(self, raw_bytes: bytes, md5: str, filename: str, type_tag: str) -> bool:
        # The file goes in place inside the write transaction, then the row commits: a sample is visible only
        # once its bytes are whole, and a concurrent remove_sample (same lock) cannot unlink a fresh file.
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            if self._one("SELECT 1 FROM samples WHERE md5=?", (md5,)):
                return False
            self.files.write(md5, raw_bytes)
            before = self._last_rowid()
            self._db.execute("INSERT INTO samples VALUES (?, ?, ?, ?, ?)",
                             (md5, filename, type_tag, len(raw_bytes), _now()))
            self._index_filenames(before)
            self._count(1, len(raw_bytes))
        return True

    def store_sample_file(self, path: Path, md5: str, filename: str, type_tag: str) -> bool:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            if self._one("SELECT 1 FROM samples WHERE md5=?", (md5,)):
                path.unlink(missing_ok=True)
                return False
            length = path.stat().st_size
            self.files.adopt(md5, path)
            before = self._last_rowid()
            self._db.execute("INSERT INTO samples VALUES (?, ?, ?, ?, ?)", (md5, filename, type_tag, length, _now()))
            self._index_filenames(before)
            self._count(1, length)
        return True

    def spool_dir(self) -> Path:
        self.files.spool.mkdir(parents=True, exist_ok=True)
        return self.files.spool

    def sample_path(self, md5: str) -> Path | None:
        row = self._one("SELECT length FROM samples WHERE md5=?", (md5,))
        path = self.files.path(md5)
        return path if row and path.is_file() else None

    def set_type_tag(self, md5: str, type_tag: str) -> bool:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._require(md5)
            if self._one("SELECT 1 FROM samples WHERE md5=? AND type_tag=?", (md5, type_tag)):
                return False
            self._db.execute("UPDATE samples SET type_tag=? WHERE md5=?", (type_tag, md5))
            self._db.execute("DELETE FROM outputs WHERE md5=?", (md5,))
        return True

    def migrate_blobs(self, batch: int = 100) -> int:
        """Move sample bytes kept in the old ``sample_bytes`` table to files; return how many moved."""
        moved = 0
        while rows := self._db.execute("SELECT md5, data FROM sample_bytes LIMIT ?", (batch,)).fetchall():
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                for md5, data in rows:
                    self.files.write(md5, data)
                    self._db.execute("DELETE FROM sample_bytes WHERE md5=?", (md5,))
            moved += len(rows)
        return moved

    def has_sample(self, md5: str) -> bool:
        return self._one("SELECT 1 FROM samples WHERE md5=?", (md5,)) is not None

    def get_sample_info(self, md5: str) -> dict[str, Any] | None:
        row = self._one("SELECT md5, filename, type_tag, length, import_time FROM samples WHERE md5=?", (md5,))
        return dict(zip(SAMPLE_INFO_FIELDS, row, strict=True)) if row else None

    def get_sample_bytes(self, md5: str) -> bytes | None:
        row = self._one("SELECT length FROM samples WHERE md5=?", (md5,))
        if row is None:
            return None
        data = self.files.read(md5, row[0])
        if data is None:  # a store written before sample files, not migrated yet
            blob = self._one("SELECT data FROM sample_bytes WHERE md5=?", (md5,))
            data = bytes(blob[0]) if blob else None
        return data

    def remove_sample(self, md5: str) -> bool:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._drop_sample_tags(md5)
            gone = self._db.execute("DELETE FROM samples WHERE md5=? RETURNING length", (md5,)).fetchall()
            removed = bool(gone)
            if removed:
                self._count(-1, -gone[0][0])
            for sql in ("DELETE FROM sample_bytes WHERE md5=?", "DELETE FROM tags WHERE md5=?",
                        "DELETE FROM outputs WHERE md5=?", "DELETE FROM links WHERE parent=? OR child=?"):
                self._db.execute(sql, (md5,) * sql.count("?"))
            self.files.remove(md5)  # under the write lock: a concurrent store of the same md5 waits for us
            fuzzy.delete(self._db, [md5])
            self._drop_text_entries("md5=?", (md5,))
        return removed

    def iter_md5s(self, type_tag: str | None = None, tags: list[str] | None = None) -> Iterator[str]:
        """Keyset pages of SELECTION_PAGE rows on an index (rowid, type_tag or sample_tags), each its own short
        query with no cursor left open, other greenlets running between pages; memory does not grow with the
        selection. A tag selection walks the first tag's rows only; other filters are point lookups. The md5s
        of a page are handed on by C iterators: Python code runs once a page, not once an md5."""
        return chain.from_iterable(self._md5_pages(type_tag, tags))

    def _md5_pages(self, type_tag: str | None, tags: list[str] | None) -> Iterator[list[str]]:
        sql, args = _selection_sql(type_tag, tags)
        # A page comes back as one string of the md5s that match, joined by sqlite in the subquery's key order (no
        # tuple and str per row: a 100,000-sample selection 2.5x faster); a page with an md5 that is not 32
        # characters long (none is, unless written so by hand) is read row by row instead.
        page_sql = (f"SELECT group_concat(CASE WHEN keep THEN md5 END, ''), max(key), count(*), "  # noqa: S608
                    f"total(keep) FROM ({sql})")
        last = 0
        while True:
            joined, after, examined, kept = self._db.execute(page_sql, (*args, last, SELECTION_PAGE)).fetchone()
            if len(joined or "") == MD5_CHARS * kept:
                yield [joined[at:at + MD5_CHARS] for at in range(0, MD5_CHARS * int(kept), MD5_CHARS)]
            else:
                rows = self._db.execute(sql, (*args, last, SELECTION_PAGE)).fetchall()
                yield [md5 for _, md5, keep in rows if keep]
            if examined < SELECTION_PAGE:
                return
            last = after
            let_loop_run()

    def type_tag_counts(self) -> dict[str, int]:
        return self.count_by_type_tag()

    def count_samples(self) -> int:
        return self._one("SELECT value FROM store_counts WHERE name='samples'")[0]

    def total_sample_bytes(self) -> int:
        return self._one("SELECT value FROM store_counts WHERE name='bytes'")[0]

    def oldest_md5s(self, limit: int) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT md5 FROM samples ORDER BY rowid LIMIT ?", (limit,))]

    def md5s_with_prefix(self, prefix: str, limit: int) -> list[str]:
        # hex digits sort below 'g': [prefix, prefix+'g') is exactly the prefix's range of the primary key index
        sql = "SELECT md5 FROM samples WHERE md5 >= ? AND md5 < ? ORDER BY md5 LIMIT ?"
        return [r[0] for r in self._db.execute(sql, (prefix, prefix + "g", max(limit, 0)))]

    # --- tags --------------------------------------------------------------------------------------
    def _require(self, md5: str) -> None:
        if not self.has_sample(md5):
            raise UnknownMD5(f"no sample with md5 {md5!r} is stored; store it before tagging it")

    def add_tags(self, md5: str, tags: Iterable[str]) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._require(md5)
            self._insert_tags(md5, tags)

    def _insert_tags(self, md5: str, tags: Iterable[str]) -> None:
        rows = [(md5, t) for t in dict.fromkeys(tags)]
        self._db.executemany("INSERT OR IGNORE INTO tags(md5, tag) VALUES (?, ?)", rows)
        self._db.executemany("INSERT OR IGNORE INTO sample_tags SELECT ?, rowid, md5 FROM samples WHERE md5=?",
                             [(t, m) for m, t in rows])

    def _drop_sample_tags(self, md5: str) -> None:
        """Drop a sample's sample_tags rows (found through its tags: primary key lookups, no scan)."""
        self._db.execute("DELETE FROM sample_tags WHERE (tag, sid) IN (SELECT t.tag, s.rowid FROM tags t "
                         "JOIN samples s ON s.md5 = t.md5 WHERE t.md5 = ?)", (md5,))

    def set_tags(self, md5: str, tags: Iterable[str]) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._require(md5)
            self._drop_sample_tags(md5)
            self._db.execute("DELETE FROM tags WHERE md5=?", (md5,))
            self._insert_tags(md5, tags)

    def get_tags(self, md5: str) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT tag FROM tags WHERE md5=? ORDER BY tag", (md5,))]

    def get_all_tags(self) -> dict[str, int]:
        return dict(self._read_off_loop("SELECT tag, COUNT(*) FROM sample_tags GROUP BY tag ORDER BY tag"))

    # --- sample sets (sample_sets_sqlite) ---------------------------------------------------------------
    def store_sample_set(self, set_id: str | None, md5s: Iterable[str], expires: float | None = None) -> str:
        return sample_sets.store(self._db, set_id, md5s, expires)

    def sample_set_size(self, set_id: str) -> int | None:
        return sample_sets.size(self._db, set_id)

    def iter_sample_set(self, set_id: str) -> Iterator[str]:
        return sample_sets.members(self._db, set_id)

    def remove_sample_set(self, set_id: str) -> bool:
        removed = sample_sets.remove(self._db, set_id)
        self.checkpoint()
        return removed

    def purge_expired_sample_sets(self) -> int:
        purged = sample_sets.purge(self._db)
        if purged:
            self.checkpoint()
        return purged

    # --- links -------------------------------------------------------------------------------------
    def add_link(self, parent: str, child: str) -> None:
        with self._db:
            self._db.execute("INSERT OR IGNORE INTO links VALUES (?, ?)", (parent, child))

    def get_children(self, md5: str) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT child FROM links WHERE parent=? ORDER BY child", (md5,))]

    def get_parents(self, md5: str) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT parent FROM links WHERE child=? ORDER BY parent", (md5,))]

    # --- outputs -----------------------------------------------------------------------------------
    def store_output(self, md5: str, worker: str, chain_version: str, versions: dict[str, str],
                     output: dict[str, Any], encoded: str | None = None) -> None:
        text = encoded if encoded is not None else json.dumps(output, allow_nan=False)
        row = (md5, worker, chain_version, json.dumps(versions), _now(), text)
        with self._db:
            if worker == fuzzy.INDEXED_WORKER:  # output and its index entries in one transaction
                self._db.execute("BEGIN IMMEDIATE")
                fuzzy.write(self._db, [(md5, output)])
            self._db.execute("INSERT OR REPLACE INTO outputs VALUES (?, ?, ?, ?, ?, ?)", row)

    def get_output(self, md5: str, worker: str) -> dict[str, Any] | None:
        row = self._one("SELECT chain_version, versions, time, output FROM outputs WHERE md5=? AND worker=?",
                        (md5, worker))
        if row is None:
            return None
        return {"md5": md5, "worker": worker, "chain_version": row[0], "versions": json.loads(row[1]),
                "time": row[2], "output": json.loads(row[3])}

    def get_output_stamps(self, md5: str, workers: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(workers), MAX_SQL_PARAMS - 1):
            chunk = workers[start:start + MAX_SQL_PARAMS - 1]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT worker, chain_version, versions, time FROM outputs WHERE md5=? AND worker IN ({marks})"
            for worker, chain_version, versions, stamp in self._db.execute(sql, (md5, *chunk)):
                found[worker] = {"chain_version": chain_version, "versions": json.loads(versions), "time": stamp}
        return found

    def get_outputs(self, md5s: list[str], worker: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(md5s), MAX_SQL_PARAMS):
            chunk = md5s[start:start + MAX_SQL_PARAMS]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT md5, chain_version, output FROM outputs WHERE worker=? AND md5 IN ({marks})"
            for md5, chain_version, text in self._db.execute(sql, (worker, *chunk)):
                found[md5] = {"chain_version": chain_version, "output": json.loads(text)}
        return found

    def get_output_texts(self, md5s: list[str], worker: str,
                         paths: list[str] | None = None) -> dict[str, tuple[str, str]]:
        if paths and not all(PLAIN_PATH.fullmatch(p) for p in paths):
            return super().get_output_texts(md5s, worker, paths)  # keys SQL cannot name safely: in Python
        column = _json_paths(paths) if paths else "output"
        found: dict[str, tuple[str, str]] = {}
        for start in range(0, len(md5s), MAX_SQL_PARAMS):
            chunk = md5s[start:start + MAX_SQL_PARAMS]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT md5, chain_version, {column} FROM outputs WHERE worker=? AND md5 IN ({marks})"
            found.update((md5, (version, text)) for md5, version, text in self._db.execute(sql, (worker, *chunk)))
        return found

    def iter_outputs(self, worker: str, fields: list[str] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        cursor = self._db.execute("SELECT md5, output FROM outputs WHERE worker=?", (worker,))
        while rows := cursor.fetchmany(1000):
            for md5, text in rows:
                output = json.loads(text)
                yield md5, ({f: output.get(f) for f in fields} if fields else output)

    def clear_worker_output(self, worker: str | None = None) -> int:
        """Deletes DELETE_PAGE outputs per transaction, other greenlets running between them, then checkpoints
        the WAL (one 1M-row transaction froze the server for 8 s and left a 557 MB WAL). Not atomic: a reader
        meanwhile sees some outputs gone. The fuzzy index goes last, as its readers check hits against outputs."""
        where, args = ("worker = ?", (worker,)) if worker is not None else ("1 = 1", ())
        sql = f"DELETE FROM outputs WHERE rowid IN (SELECT rowid FROM outputs WHERE {where} LIMIT ?)"  # noqa: S608
        dropped = 0
        while True:
            with self._db:
                count = self._db.execute(sql, (*args, DELETE_PAGE)).rowcount
            dropped += count
            if count < DELETE_PAGE:
                break
            let_loop_run()
        if worker in (None, fuzzy.INDEXED_WORKER):
            fuzzy.clear_in_pages(self._db, DELETE_PAGE * 10, let_loop_run)  # key rows are small: 10x a page
        self.checkpoint()
        return dropped

    def output_stamp(self, worker: str) -> str | None:
        row = self._one("SELECT (SELECT value FROM store_counts WHERE name='slab_epoch'), "
                        "(SELECT generation FROM output_generations WHERE worker=?)", (worker,))
        return f"{row[0]}-{row[1] or 0}"

    def slab_folder(self) -> Path | None:
        return self.path.with_name(self.path.name + ".slabs")

    def output_text_pages(self, worker: str, chain_version: str, paths: list[str] | None,
                          page: int) -> Iterator[tuple[str, list[tuple[str, str]]]]:
        """One read transaction on a connection of its own (a snapshot, never blocking a writer: WAL), walking
        the worker's outputs by rowid, so it may run in a native thread while the event loop serves others."""
        plain = not paths or all(PLAIN_PATH.fullmatch(p) for p in paths)
        column = _json_paths(paths) if paths and plain else "output"
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        try:
            db.execute("BEGIN")
            stamp = db.execute("SELECT (SELECT value FROM store_counts WHERE name='slab_epoch'), (SELECT generation "
                               "FROM output_generations WHERE worker=?)", (worker,)).fetchone()
            stamp_text = f"{stamp[0]}-{stamp[1] or 0}"
            sql = (f"SELECT rowid, md5, {column} FROM outputs WHERE worker=? AND chain_version=? "  # noqa: S608
                   "AND rowid > ? ORDER BY rowid LIMIT ?")
            last = 0
            while True:
                rows = db.execute(sql, (worker, chain_version, last, page)).fetchall() if plain else []
                yield stamp_text, [(md5, text) for _, md5, text in rows]
                if len(rows) < page:
                    return
                last = rows[-1][0]
        finally:
            db.close()

    # --- bulk loading ------------------------------------------------------------------------------
    def store_samples(self, samples: Iterable[tuple[bytes, str, str, str]]) -> int:
        now = _now()  # one import time per call: rowid keeps their order
        rows: dict[str, tuple] = {}
        for raw_bytes, md5, filename, type_tag in samples:
            rows.setdefault(md5, (md5, filename, type_tag, len(raw_bytes), now, raw_bytes))  # first one wins
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            stored = self._stored(list(rows))
            new = [row for md5, row in rows.items() if md5 not in stored]
            for row in new:
                self.files.write(row[0], row[5])
            before = self._last_rowid()
            self._db.executemany("INSERT INTO samples VALUES (?, ?, ?, ?, ?)", [r[:5] for r in new])
            self._index_filenames(before)
            self._count(len(new), sum(row[3] for row in new))
        return len(new)

    def _stored(self, md5s: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(md5s), MAX_SQL_PARAMS):
            chunk = md5s[start:start + MAX_SQL_PARAMS]
            sql = f"SELECT md5 FROM samples WHERE md5 IN ({','.join('?' * len(chunk))})"
            found.update(r[0] for r in self._db.execute(sql, chunk))
        return found

    def store_outputs(self, outputs: Iterable[tuple[str, str, str, dict[str, str], dict[str, Any]]]) -> None:
        now = _now()
        outputs = list(outputs)
        rows = [(md5, worker, chain_version, json.dumps(versions), now, json.dumps(output, allow_nan=False))
                for md5, worker, chain_version, versions, output in outputs]
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR REPLACE INTO outputs VALUES (?, ?, ?, ?, ?, ?)", rows)
            fuzzy.write(self._db, [(md5, output) for md5, worker, _, _, output in outputs
                                   if worker == fuzzy.INDEXED_WORKER])

    # --- fuzzy-hash similarity index (fuzzy_index_sqlite) --------------------------------------------
    def ssdeep_candidates(self, keys: list[int]) -> list[tuple[str, str]]:
        return fuzzy.candidates(self._db, keys)

    def tlsh_digests_since(self, cursor: Any = None) -> tuple[list[tuple[str, str | None]], Any]:
        return fuzzy.tlsh_since(self._db, cursor)

    # --- browsing (the web view) --------------------------------------------------------------------
    def find_samples(self, md5_prefix: str | None = None, filename: str | None = None, type_tag: str | None = None,
                     tag: str | None = None, offset: int = 0, limit: int = 50) -> list[dict[str, Any]]:
        where, args, source, order = ["1=1"], [], "samples s", "s.rowid"
        if filename and len(filename) >= 3:  # the trigram index, walked newest first; no sort of all matches
            source, order = "samples_filename f CROSS JOIN samples s ON s.rowid = f.rowid", "f.rowid"
            where.append("samples_filename MATCH ?")
            args.append('"' + filename.replace('"', '""') + '"')
        elif filename:
            where.append("s.filename LIKE ? ESCAPE '\\'")
            args.append("%" + filename.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        if md5_prefix:  # hex digits sort below 'g': a primary key range
            where.append("s.md5 >= ? AND s.md5 < ?")
            args += [md5_prefix, md5_prefix + "g"]
        if type_tag:
            where.append("s.type_tag = ?")
            args.append(type_tag)
        if tag:
            where.append("s.md5 IN (SELECT md5 FROM tags WHERE tag = ?)")
            args.append(tag)
        sql = (f"SELECT {INFO_COLUMNS} FROM {source} WHERE {' AND '.join(where)} "  # noqa: S608 - constants
               f"ORDER BY {order} DESC LIMIT ? OFFSET ?")
        rows = self._db.execute(sql, (*args, max(limit, 0), max(offset, 0)))
        return [dict(zip(SAMPLE_INFO_FIELDS, row, strict=True)) for row in rows]

    def count_by_type_tag(self) -> dict[str, int]:
        return dict(self._read_off_loop("SELECT type_tag, COUNT(*) FROM samples GROUP BY type_tag ORDER BY type_tag"))

    def count_outputs(self) -> dict[str, int]:
        return dict(self._read_off_loop("SELECT worker, COUNT(*) FROM outputs GROUP BY worker ORDER BY worker"))

    # --- full-text index over outputs ---------------------------------------------------------------
    def _drop_text_entries(self, where: str, args: tuple) -> int:
        """Delete the docs, fields and FTS rows matching ``where`` (inside the caller's transaction)."""
        self._db.execute(f"DELETE FROM text_fts WHERE rowid IN (SELECT id FROM text_fields WHERE {where})", args)
        self._db.execute(f"DELETE FROM text_fields WHERE {where}", args)  # noqa: S608 - where clauses are ours
        return self._db.execute(f"DELETE FROM text_docs WHERE {where}", args).rowcount  # noqa: S608 - as above

    def index_texts(self, index_name: str, docs: Iterable[tuple[str, str, str, list[tuple[str, str]]]]) -> int:
        rows = list(docs)
        written = 0
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            next_id = self._one("SELECT COALESCE(MAX(id), 0) + 1 FROM text_fields")[0]
            fields, bodies = [], []
            for md5, worker, version, pairs in rows:
                key = (index_name, worker, md5)
                if self._one("SELECT 1 FROM text_docs WHERE index_name=? AND worker=? AND md5=?", key):
                    self._drop_text_entries("index_name=? AND worker=? AND md5=?", key)
                self._db.execute("INSERT INTO text_docs VALUES (?, ?, ?, ?)", (index_name, worker, md5, version))
                for field, text in pairs:
                    fields.append((next_id, index_name, worker, md5, field))
                    bodies.append((next_id, text))
                    next_id += 1
                written += 1
            self._db.executemany("INSERT INTO text_fields VALUES (?, ?, ?, ?, ?)", fields)
            self._db.executemany("INSERT INTO text_fts(rowid, body) VALUES (?, ?)", bodies)
        return written

    def search_texts(self, index_name: str, query: str, limit: int) -> list[dict[str, str]]:
        terms = text_search.parse_query(query)
        rows = self._db.execute(TEXT_SEARCH_SQL, (text_search.fts5_query(terms), index_name, max(limit, 0))).fetchall()
        return [{"md5": md5, "worker": worker, "field": field, "snippet": text_search.snippet(body, terms)}
                for md5, worker, field, body in rows]

    def text_index_versions(self, index_name: str, worker: str, md5s: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(md5s), MAX_SQL_PARAMS):
            chunk = md5s[start:start + MAX_SQL_PARAMS]
            sql = (f"SELECT md5, version FROM text_docs WHERE index_name=? AND worker=? "  # noqa: S608 - marks only
                   f"AND md5 IN ({','.join('?' * len(chunk))})")
            found.update(self._db.execute(sql, (index_name, worker, *chunk)).fetchall())
        return found

    def text_indexes(self) -> dict[str, int]:
        sql = "SELECT index_name, COUNT(*) FROM text_docs GROUP BY index_name ORDER BY index_name"
        return dict(self._read_off_loop(sql))

    def drop_text_index(self, index_name: str) -> int:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            return self._drop_text_entries("index_name=?", (index_name,))

    # --- admin -------------------------------------------------------------------------------------
    # --- group: chain leases and server membership ----------------------------------------------------
    def take_lease(self, key: str, holder: str, seconds: float, release: Sequence[str] = ()) -> bool:
        now = time.time()
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._drop_leases(release, holder)
            row = self._one("SELECT holder, expires FROM leases WHERE key=?", (key,))
            if row is not None and row[0] != holder and row[1] > now:
                return False
            self._db.execute("INSERT OR REPLACE INTO leases VALUES (?, ?, ?)", (key, holder, now + seconds))
            return True

    def lease_holder(self, key: str) -> str | None:
        row = self._one("SELECT holder FROM leases WHERE key=? AND expires>?", (key, time.time()))
        return row[0] if row else None

    def renew_leases(self, holder: str, seconds: float) -> None:
        with self._db:
            self._db.execute("UPDATE leases SET expires=? WHERE holder=?", (time.time() + seconds, holder))

    def release_leases(self, keys: Sequence[str], holder: str) -> None:
        if keys:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._drop_leases(keys, holder)

    def _drop_leases(self, keys: Sequence[str], holder: str) -> None:
        for start in range(0, len(keys), MAX_SQL_PARAMS - 1):
            chunk = list(keys[start:start + MAX_SQL_PARAMS - 1])
            marks = ",".join("?" * len(chunk))
            self._db.execute(f"DELETE FROM leases WHERE holder=? AND key IN ({marks})", (holder, *chunk))  # noqa: S608

    def register_server(self, name: str, info: dict[str, Any]) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO group_servers VALUES (?, ?, ?)",
                             (name, time.time(), json.dumps(info)))

    def list_servers(self, seen_within: float) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT name, seen, info FROM group_servers WHERE seen>? ORDER BY name",
                                (time.time() - seen_within,))
        return [{**json.loads(info), "name": name, "seen": seen} for name, seen, info in rows]

    # --- property graph ----------------------------------------------------------------------------
    def add_node(self, node_id: str, name: str, labels: list[str]) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._one("SELECT labels FROM graph_nodes WHERE id=?", (node_id,))
            merged = sorted(set(json.loads(row[0]) if row else []) | set(labels))
            self._db.execute("INSERT OR REPLACE INTO graph_nodes VALUES (?, ?, ?)", (node_id, name, json.dumps(merged)))

    def has_node(self, node_id: str) -> bool:
        return self._one("SELECT 1 FROM graph_nodes WHERE id=?", (node_id,)) is not None

    def add_rel(self, source: str, target: str, rel: str) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR IGNORE INTO graph_nodes VALUES (?, ?, '[]')",
                                 [(source, source), (target, target)])
            self._db.execute("INSERT OR IGNORE INTO graph_rels VALUES (?, ?, ?)", (source, target, rel))

    def iter_graph(self) -> tuple[Iterator[dict[str, Any]], Iterator[dict[str, Any]]]:
        nodes = ({"id": i, "name": n, "labels": json.loads(lb)}
                 for i, n, lb in self._db.execute("SELECT id, name, labels FROM graph_nodes ORDER BY id"))
        rels = ({"source": s, "target": t, "rel": r}
                for s, t, r in self._db.execute("SELECT source, target, rel FROM graph_rels ORDER BY source, target"))
        return nodes, rels

    def clear_graph(self) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM graph_nodes")
            self._db.execute("DELETE FROM graph_rels")

    def clear(self) -> None:
        """Everything goes, DELETE_PAGE rows per transaction with the event loop running between (at 1M samples
        one transaction held every client for seconds). Not atomic: a reader meanwhile sees a store half
        cleared. Samples go last, so nothing is left pointing at a sample that is gone."""
        for table, key in CLEAR_ORDER:
            self._delete_in_pages(table, key)
        fuzzy.clear_in_pages(self._db, DELETE_PAGE * 10, let_loop_run)
        self.files.clear(between=let_loop_run)
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("UPDATE store_counts SET value = (SELECT COUNT(*) FROM samples) WHERE name = 'samples'")
            self._db.execute("UPDATE store_counts SET value = (SELECT COALESCE(SUM(length), 0) FROM samples) "
                             "WHERE name = 'bytes'")
        self.checkpoint()

    def _delete_in_pages(self, table: str, key: tuple[str, ...]) -> None:
        page = SAMPLES_DELETE_PAGE if table == "samples" else DELETE_PAGE
        columns = ", ".join(key)
        where = columns if len(key) == 1 else f"({columns})"
        sql = f"DELETE FROM {table} WHERE {where} IN (SELECT {columns} FROM {table} LIMIT ?)"  # noqa: S608 - constants
        while True:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                if self._db.execute(sql, (page,)).rowcount < page:
                    return
            let_loop_run()

    def checkpoint(self) -> None:
        """Copy the WAL into the database and truncate it, after a bulk delete (a WAL left at its peak size
        costs disk until the server stops). A busy reader or writer elsewhere leaves part of it for later: the
        wait is cut to 50 ms, as sqlite's busy wait sleeps without letting other greenlets run."""
        self._db.execute("PRAGMA busy_timeout=50")
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")

    def close(self) -> None:
        self._db.close()
