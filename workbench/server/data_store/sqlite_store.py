"""The embedded default store: one sqlite file (WAL), outputs as JSON text anyone can read with sqlite3.

One connection per process, autocommit, each write transaction done in one go with no yield inside: under
gevent this is the pattern that stays atomic and never stalls the hub (../shared/notes/spikes.md section 5).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workbench.exceptions import StoreError, UnknownMD5
from workbench.server.data_store.base import SAMPLE_INFO_FIELDS, DataStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    md5 TEXT PRIMARY KEY, filename TEXT NOT NULL, type_tag TEXT NOT NULL,
    length INTEGER NOT NULL, import_time TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS samples_type_tag ON samples(type_tag);
CREATE TABLE IF NOT EXISTS sample_bytes (md5 TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tags (md5 TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (md5, tag)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tags_tag ON tags(tag, md5);
CREATE TABLE IF NOT EXISTS sample_sets (id TEXT PRIMARY KEY, md5_list TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS links (parent TEXT NOT NULL, child TEXT NOT NULL, PRIMARY KEY (parent, child))
    WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS links_child ON links(child, parent);
CREATE TABLE IF NOT EXISTS outputs (
    md5 TEXT NOT NULL, worker TEXT NOT NULL, chain_version TEXT NOT NULL, versions TEXT NOT NULL,
    time TEXT NOT NULL, output TEXT NOT NULL, PRIMARY KEY (md5, worker));
CREATE INDEX IF NOT EXISTS outputs_worker ON outputs(worker);
"""


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


def path_from_uri(uri: str) -> Path:
    """``sqlite:///relative.db`` or ``sqlite:////abs/path.db`` (``~`` expanded) to a file path."""
    if not uri.startswith("sqlite:///"):
        raise StoreError(f"bad sqlite URI {uri!r}; use sqlite:///relative/path.db or sqlite:////absolute/path.db")
    return Path(os.path.expanduser(uri.removeprefix("sqlite:///")))


class SqliteStore(DataStore):
    """DataStore on one sqlite file. Safe for several processes (WAL, busy timeout)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.path = path_from_uri(uri)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=OFF")
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open sqlite store {self.path}: {exc}; check the path and permissions") from exc

    def _one(self, sql: str, args: tuple = ()) -> tuple | None:
        return self._db.execute(sql, args).fetchone()

    # --- samples -----------------------------------------------------------------------------------
    def store_sample(self, raw_bytes: bytes, md5: str, filename: str, type_tag: str) -> bool:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            if self._one("SELECT 1 FROM samples WHERE md5=?", (md5,)):
                return False
            self._db.execute("INSERT INTO sample_bytes(md5, data) VALUES (?, ?)", (md5, sqlite3.Binary(raw_bytes)))
            self._db.execute("INSERT INTO samples VALUES (?, ?, ?, ?, ?)",
                             (md5, filename, type_tag, len(raw_bytes), _now()))
        return True

    def has_sample(self, md5: str) -> bool:
        return self._one("SELECT 1 FROM samples WHERE md5=?", (md5,)) is not None

    def get_sample_info(self, md5: str) -> dict[str, Any] | None:
        row = self._one("SELECT md5, filename, type_tag, length, import_time FROM samples WHERE md5=?", (md5,))
        return dict(zip(SAMPLE_INFO_FIELDS, row, strict=True)) if row else None

    def get_sample_bytes(self, md5: str) -> bytes | None:
        row = self._one("SELECT data FROM sample_bytes WHERE md5=?", (md5,))
        return bytes(row[0]) if row else None

    def remove_sample(self, md5: str) -> bool:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            removed = self._db.execute("DELETE FROM samples WHERE md5=?", (md5,)).rowcount > 0
            for sql in ("DELETE FROM sample_bytes WHERE md5=?", "DELETE FROM tags WHERE md5=?",
                        "DELETE FROM outputs WHERE md5=?", "DELETE FROM links WHERE parent=? OR child=?"):
                self._db.execute(sql, (md5,) * sql.count("?"))
        return removed

    def iter_md5s(self, type_tag: str | None = None, tags: list[str] | None = None) -> Iterator[str]:
        sql, args = "SELECT md5 FROM samples s WHERE 1=1", []
        if type_tag:
            sql += " AND type_tag=?"
            args.append(type_tag)
        for tag in tags or []:
            sql += " AND EXISTS (SELECT 1 FROM tags t WHERE t.md5=s.md5 AND t.tag=?)"
            args.append(tag)
        rows = self._db.execute(sql + " ORDER BY rowid", args).fetchall()
        return (row[0] for row in rows)

    def count_samples(self) -> int:
        return self._one("SELECT COUNT(*) FROM samples")[0]

    def total_sample_bytes(self) -> int:
        return self._one("SELECT COALESCE(SUM(length), 0) FROM samples")[0]

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
            self._db.executemany("INSERT OR IGNORE INTO tags(md5, tag) VALUES (?, ?)", [(md5, t) for t in tags])

    def set_tags(self, md5: str, tags: Iterable[str]) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._require(md5)
            self._db.execute("DELETE FROM tags WHERE md5=?", (md5,))
            self._db.executemany("INSERT OR IGNORE INTO tags(md5, tag) VALUES (?, ?)", [(md5, t) for t in tags])

    def get_tags(self, md5: str) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT tag FROM tags WHERE md5=? ORDER BY tag", (md5,))]

    def get_all_tags(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT tag, COUNT(*) FROM tags GROUP BY tag ORDER BY tag").fetchall())

    # --- sample sets -------------------------------------------------------------------------------
    def store_sample_set(self, set_id: str, md5_list: list[str]) -> None:
        with self._db:
            self._db.execute("INSERT OR IGNORE INTO sample_sets VALUES (?, ?)", (set_id, json.dumps(md5_list)))

    def get_sample_set(self, set_id: str) -> list[str] | None:
        row = self._one("SELECT md5_list FROM sample_sets WHERE id=?", (set_id,))
        return json.loads(row[0]) if row else None

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
                     output: dict[str, Any]) -> None:
        row = (md5, worker, chain_version, json.dumps(versions), _now(), json.dumps(output, allow_nan=False))
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO outputs VALUES (?, ?, ?, ?, ?, ?)", row)

    def get_output(self, md5: str, worker: str) -> dict[str, Any] | None:
        row = self._one("SELECT chain_version, versions, time, output FROM outputs WHERE md5=? AND worker=?",
                        (md5, worker))
        if row is None:
            return None
        return {"md5": md5, "worker": worker, "chain_version": row[0], "versions": json.loads(row[1]),
                "time": row[2], "output": json.loads(row[3])}

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
        with self._db:
            if worker is None:
                return self._db.execute("DELETE FROM outputs").rowcount
            return self._db.execute("DELETE FROM outputs WHERE worker=?", (worker,)).rowcount

    # --- bulk loading ------------------------------------------------------------------------------
    def store_samples(self, samples: Iterable[tuple[bytes, str, str, str]]) -> int:
        now = _now()  # one import time per call: rowid keeps their order
        rows = [(md5, filename, type_tag, len(raw_bytes), now, raw_bytes)
                for raw_bytes, md5, filename, type_tag in samples]
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            before = self._db.total_changes
            self._db.executemany("INSERT OR IGNORE INTO samples VALUES (?, ?, ?, ?, ?)", [r[:5] for r in rows])
            new = self._db.total_changes - before
            self._db.executemany("INSERT OR IGNORE INTO sample_bytes(md5, data) VALUES (?, ?)",
                                 [(r[0], sqlite3.Binary(r[5])) for r in rows])
        return new

    def store_outputs(self, outputs: Iterable[tuple[str, str, str, dict[str, str], dict[str, Any]]]) -> None:
        now = _now()
        rows = [(md5, worker, chain_version, json.dumps(versions), now, json.dumps(output, allow_nan=False))
                for md5, worker, chain_version, versions, output in outputs]
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR REPLACE INTO outputs VALUES (?, ?, ?, ?, ?, ?)", rows)

    # --- admin -------------------------------------------------------------------------------------
    def clear(self) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            for table in ("samples", "sample_bytes", "tags", "sample_sets", "links", "outputs"):
                self._db.execute(f"DELETE FROM {table}")  # noqa: S608 - table names are constants above

    def close(self) -> None:
        self._db.close()
