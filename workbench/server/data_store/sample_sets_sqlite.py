"""Sample sets in sqlite (issue 17): a header row per set and one membership row per md5, never one big value.

A set is written and deleted a page at a time (each page its own short transaction, other greenlets running
between pages), so neither the server's memory nor its event loop carries a whole 1M-member set. Members are
keyed by an integer the header maps the id to: a set being built is invisible (its header's id is
``building:<key>``) until one small transaction names it, and a removed or expired one is renamed out of the
way at once and its rows dropped afterwards. A build or removal cut short (a kill) is finished by the next
purge: its header carries an expiry in the past or near future. Stores from before keep their JSON rows in
``sample_sets``; those are read as they are and removed on request.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from itertools import islice

from workbench.server.data_store.base import SetIdHasher, let_loop_run

SCHEMA = """
CREATE TABLE IF NOT EXISTS set_headers (
    id TEXT PRIMARY KEY, key INTEGER NOT NULL UNIQUE, size INTEGER NOT NULL, created REAL NOT NULL, expires REAL);
CREATE INDEX IF NOT EXISTS set_headers_expires ON set_headers(expires) WHERE expires IS NOT NULL;
CREATE TABLE IF NOT EXISTS set_members (key INTEGER NOT NULL, pos INTEGER NOT NULL, md5 TEXT NOT NULL,
    PRIMARY KEY (key, pos)) WITHOUT ROWID;
"""
PAGE = 1000  # members written, read or deleted per transaction
BUILD_GRACE_S = 86400.0  # a build cut short is purged after this long
LIVE = "(expires IS NULL OR expires > ?)"


def ensure(db: sqlite3.Connection) -> None:
    """Create the tables (idempotent)."""
    db.executescript(SCHEMA)


def _live_key(db: sqlite3.Connection, set_id: str) -> tuple[int, int] | None:
    return db.execute(f"SELECT key, size FROM set_headers WHERE id = ? AND {LIVE}", (set_id, time.time())).fetchone()


def _legacy(db: sqlite3.Connection, set_id: str) -> list[str] | None:
    row = db.execute("SELECT md5_list FROM sample_sets WHERE id = ?", (set_id,)).fetchone()
    return json.loads(row[0]) if row else None


def store(db: sqlite3.Connection, set_id: str | None, md5s: Iterable[str], expires: float | None) -> str:
    """DataStore.store_sample_set: members written under a fresh key, then named in one transaction."""
    now = time.time()
    with db:
        db.execute("BEGIN IMMEDIATE")  # keys never repeat: a purge still dropping an old set's rows cannot meet ours
        db.execute("INSERT OR IGNORE INTO store_counts VALUES ('set_key', 0)")
        key = db.execute("UPDATE store_counts SET value = value + 1 WHERE name = 'set_key' "
                         "RETURNING value").fetchone()[0]
        db.execute("INSERT INTO set_headers VALUES (?, ?, 0, ?, ?)", (f"building:{key}", key, now, now + BUILD_GRACE_S))
    hasher, items = SetIdHasher(), iter(md5s)
    while page := list(islice(items, PAGE)):
        with db:
            db.execute("BEGIN IMMEDIATE")  # one transaction per page (autocommit would make one per row)
            db.executemany("INSERT INTO set_members VALUES (?, ?, ?)",
                           [(key, hasher.count + pos, md5) for pos, md5 in enumerate(page)])
        hasher.update(page)
        let_loop_run()
    final = set_id if set_id is not None else hasher.hexdigest()
    with db:
        db.execute("BEGIN IMMEDIATE")
        existing = _live_key(db, final)
        keep_existing = existing is not None or _legacy(db, final) is not None
        if keep_existing:  # kept as it is; a later expiry wins
            if existing is not None:
                db.execute("UPDATE set_headers SET expires = CASE WHEN expires IS NULL OR ? IS NULL THEN NULL "
                           "ELSE MAX(expires, ?) END WHERE id = ?", (expires, expires, final))
            db.execute("UPDATE set_headers SET id = ?, expires = 0 WHERE key = ?", (f"dropped:{key}", key))
        else:
            db.execute("UPDATE set_headers SET id = 'expired:' || key WHERE id = ?", (final,))  # purged below
            db.execute("UPDATE set_headers SET id = ?, size = ?, created = ?, expires = ? WHERE key = ?",
                       (final, hasher.count, time.time(), expires, key))
    if keep_existing:
        purge(db)
    return final


def size(db: sqlite3.Connection, set_id: str) -> int | None:
    """Members of a live set; None when absent or expired."""
    row = _live_key(db, set_id)
    if row is not None:
        return row[1]
    legacy = _legacy(db, set_id)
    return None if legacy is None else len(legacy)


def members(db: sqlite3.Connection, set_id: str) -> Iterator[str]:
    """A live set's md5s in order, a page per query (no cursor held between pages)."""
    row = _live_key(db, set_id)
    if row is None:
        yield from _legacy(db, set_id) or []
        return
    pos = 0
    while page := db.execute("SELECT md5 FROM set_members WHERE key = ? AND pos >= ? ORDER BY pos LIMIT ?",
                             (row[0], pos, PAGE)).fetchall():
        yield from (md5 for (md5,) in page)
        pos += PAGE
        let_loop_run()


def remove(db: sqlite3.Connection, set_id: str) -> bool:
    """Unname a set at once (one small transaction), then drop its rows a page at a time."""
    with db:
        db.execute("BEGIN IMMEDIATE")
        renamed = db.execute(f"UPDATE set_headers SET id = 'removed:' || key, expires = 0 WHERE id = ? AND {LIVE}",
                             (set_id, time.time())).rowcount
        legacy = db.execute("DELETE FROM sample_sets WHERE id = ?", (set_id,)).rowcount
    purge(db)
    return bool(renamed or legacy)


def purge(db: sqlite3.Connection) -> int:
    """Drop every expired set (and removed or abandoned ones), rows a page per transaction; how many sets."""
    dropped = 0
    while row := db.execute("SELECT key, size FROM set_headers WHERE expires <= ? LIMIT 1",
                            (time.time(),)).fetchone():
        key = row[0]
        high = db.execute("SELECT COALESCE(MAX(pos), -1) FROM set_members WHERE key = ?", (key,)).fetchone()[0]
        for start in range(0, high + 1, PAGE):
            with db:
                db.execute("DELETE FROM set_members WHERE key = ? AND pos >= ? AND pos < ?", (key, start, start + PAGE))
            let_loop_run()
        with db:
            db.execute("DELETE FROM set_headers WHERE key = ?", (key,))
        dropped += 1
    return dropped
