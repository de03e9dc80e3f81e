"""The MongoDB store's fuzzy-hash index: an indexed multikey array of int64 keys in the meta_deep output document.

The keys (``workbench.analysis.ssdeep_index.index_keys`` of the output's ssdeep hash) live in the very document
that holds the hash, field ``ssdeep_keys``, so writing, replacing (a recomputed output) and removing the output
updates the index in the same single-document write: MongoDB makes that atomic, nothing can drift. A query is
one ``{ssdeep_keys: {$in: keys}}`` over the multikey index. Cost: ~10 bytes per key in the document plus
~15-20 bytes per key in the index (WiredTiger prefix-compresses it): ~1.5-2.5 kB per sample.

The TLSH scan refreshes from ``time`` (index ``worker, time``). Writers stamp ``time`` before their write
lands, so a reader re-reads the last ``OVERLAP_S`` seconds each time (rows are replaced by md5, so re-reading
is harmless); a writer stalled longer than that between stamping and writing would be seen only on a full reload.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from workbench.analysis.ssdeep_index import INDEXED_WORKER, index_keys

KEYS_FIELD = "ssdeep_keys"
OVERLAP_S = 10.0
MARKER = "ssdeep_index"  # in collection store_meta once every meta_deep document has its keys
BULK = 1000


def annotate(doc: dict[str, Any], worker: str, output: dict[str, Any]) -> None:
    """Add the index keys to a meta_deep output document about to be written."""
    if worker == INDEXED_WORKER:
        doc[KEYS_FIELD] = index_keys(output.get("ssdeep") or "")


def ensure(db: Any, output_of: Any) -> int:
    """Create the indexes and add keys to meta_deep documents stored before the index existed (the upgrade
    path; each document updated on its own, so an interrupted upgrade resumes at the next open). Returns how
    many documents were upgraded."""
    db.outputs.create_index(KEYS_FIELD, sparse=True)
    db.outputs.create_index([("worker", 1), ("time", 1)])
    if db.store_meta.find_one({"_id": MARKER}):  # upgraded before: every document since carries its keys
        return 0
    upgraded = 0
    missing = {"worker": INDEXED_WORKER, KEYS_FIELD: {"$exists": False}}
    for doc in db.outputs.find(missing, {"_id": 1, "output.ssdeep": 1, "output_json": 1}):
        keys = index_keys(output_of(doc).get("ssdeep") or "")
        db.outputs.update_one({"_id": doc["_id"]}, {"$set": {KEYS_FIELD: keys}})
        upgraded += 1
    db.store_meta.update_one({"_id": MARKER}, {"$set": {"version": 1}}, upsert=True)
    return upgraded


def candidates(db: Any, keys: list[int], output_of: Any) -> list[tuple[str, str]]:
    """(md5, ssdeep) of every meta_deep output sharing at least one key."""
    if not keys:
        return []
    found: dict[str, str] = {}
    for start in range(0, len(keys), BULK):
        query = {KEYS_FIELD: {"$in": keys[start:start + BULK]}, "worker": INDEXED_WORKER}
        for doc in db.outputs.find(query, {"_id": 0, "md5": 1, "output.ssdeep": 1, "output_json": 1}):
            found[doc["md5"]] = output_of(doc).get("ssdeep") or ""
    return list(found.items())


def tlsh_since(db: Any, cursor: str | None, output_of: Any) -> tuple[list[tuple[str, str | None]], str | None]:
    """(md5, tlsh) of meta_deep outputs stamped since ``cursor`` minus the overlap, and the next cursor."""
    query: dict[str, Any] = {"worker": INDEXED_WORKER}
    if cursor:
        query["time"] = {"$gte": (datetime.fromisoformat(cursor) - timedelta(seconds=OVERLAP_S)).isoformat()}
    rows, latest = [], cursor
    for doc in db.outputs.find(query, {"_id": 0, "md5": 1, "time": 1, "output.tlsh": 1, "output_json": 1}):
        rows.append((doc["md5"], output_of(doc).get("tlsh")))
        latest = max(latest or doc["time"], doc["time"])
    return rows, latest
