"""Sample sets in MongoDB (issue 17): the same rules as sample_sets_sqlite.py, as documents.

A header per set in ``sample_sets`` (``_id`` the set id, ``key`` an ObjectId) and one small document per member
in ``sample_set_members`` (``{k: key, p: position, m: md5}``, unique on (k, p)), written, read and deleted a
page at a time. A header is named only once its members are written; a removed or expired set is renamed out of
the way at once and its members dropped afterwards. Older stores' headers hold the whole ``md5_list``: read as
they are.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from workbench.server.data_store.base import SetIdHasher, let_loop_run

PAGE = 1000
BUILD_GRACE_S = 86400.0  # a build cut short is purged after this long


def ensure(db: Any) -> None:
    """Create the indexes (idempotent)."""
    db.sample_set_members.create_index([("k", 1), ("p", 1)], unique=True)
    db.sample_sets.create_index("expires")


def _live(db: Any, set_id: str) -> dict[str, Any] | None:
    doc = db.sample_sets.find_one({"_id": set_id}, {"md5_list": 0})
    if doc is None or (doc.get("expires") is not None and doc["expires"] <= time.time()):
        return None
    return doc


def store(db: Any, set_id: str | None, md5s: Iterable[str], expires: float | None) -> str:
    """DataStore.store_sample_set: members under a fresh key, then a header naming them."""
    key, now = ObjectId(), time.time()
    db.sample_sets.insert_one({"_id": f"building:{key}", "key": key, "size": 0, "created": now,
                               "expires": now + BUILD_GRACE_S})
    hasher, items = SetIdHasher(), iter(md5s)
    while page := list(islice(items, PAGE)):
        db.sample_set_members.insert_many([{"k": key, "p": hasher.count + pos, "m": md5}
                                           for pos, md5 in enumerate(page)], ordered=False)
        hasher.update(page)
        let_loop_run()
    final = set_id if set_id is not None else hasher.hexdigest()
    header = {"_id": final, "key": key, "size": hasher.count, "created": time.time(), "expires": expires}
    while True:
        try:
            db.sample_sets.insert_one(header)
            break
        except DuplicateKeyError:
            existing = db.sample_sets.find_one({"_id": final}, {"md5_list": 0})
            if existing is None:  # removed meanwhile: try again
                continue
            if existing.get("expires") is not None and existing["expires"] <= time.time():
                _unname(db, existing, "expired")
                continue
            later = None if expires is None or existing.get("expires") is None else max(expires, existing["expires"])
            db.sample_sets.update_one({"_id": final}, {"$set": {"expires": later}})
            db.sample_sets.update_one({"_id": f"building:{key}"}, {"$set": {"expires": 0}})
            purge(db)
            return final
    db.sample_sets.delete_one({"_id": f"building:{key}"})
    return final


def _unname(db: Any, doc: dict[str, Any], why: str) -> None:
    """Move a header out of its id (kept, expired, so ``purge`` drops its members)."""
    key = doc.get("key") or ObjectId()  # an old whole-list header has no members to drop
    try:
        db.sample_sets.insert_one({"_id": f"{why}:{key}", "key": key, "size": doc.get("size", 0),
                                   "created": doc.get("created", 0), "expires": 0})
    except DuplicateKeyError:
        pass
    db.sample_sets.delete_one({"_id": doc["_id"], "key": doc.get("key")})


def size(db: Any, set_id: str) -> int | None:
    """Members of a live set; None when absent or expired."""
    doc = _live(db, set_id)
    if doc is None:
        return None
    if "key" not in doc:  # a whole-list header from before
        return len(db.sample_sets.find_one({"_id": set_id})["md5_list"])
    return doc["size"]


def members(db: Any, set_id: str) -> Iterator[str]:
    """A live set's md5s in order, a page per query (no cursor held between pages)."""
    doc = _live(db, set_id)
    if doc is None:
        return
    if "key" not in doc:
        yield from db.sample_sets.find_one({"_id": set_id})["md5_list"]
        return
    pos = 0
    while page := list(db.sample_set_members.find({"k": doc["key"], "p": {"$gte": pos, "$lt": pos + PAGE}},
                                                  {"_id": 0, "m": 1}).sort("p", 1)):
        yield from (item["m"] for item in page)
        pos += PAGE
        let_loop_run()


def remove(db: Any, set_id: str) -> bool:
    """Unname a set at once, then drop its members a page at a time."""
    doc = _live(db, set_id)
    if doc is None:
        return False
    _unname(db, doc, "removed")
    purge(db)
    return True


def purge(db: Any) -> int:
    """Drop every expired set (and removed or abandoned ones), members a page at a time; how many sets."""
    dropped = 0
    while doc := db.sample_sets.find_one({"expires": {"$ne": None, "$lte": time.time()}}):
        if "key" in doc:
            pos = 0
            while db.sample_set_members.delete_many({"k": doc["key"], "p": {"$gte": pos, "$lt": pos + PAGE}}
                                                    ).deleted_count:
                pos += PAGE
                let_loop_run()
        db.sample_sets.delete_one({"_id": doc["_id"]})
        dropped += 1
    return dropped
