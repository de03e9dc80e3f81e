"""MongoDB backend: sample bytes in GridFS; metadata and worker outputs as documents any MongoDB client reads.

``mongomock://anything/db`` runs the same code on mongomock, an in-memory stand-in for tests that persists
nothing. pymongo yields to gevent only under a full ``gevent.monkey.patch_all()`` done before any import;
without it every round trip to the server blocks the hub (../shared/notes/spikes.md section 5).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gridfs
import pymongo
from pymongo import ReplaceOne
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from workbench.exceptions import StoreError, UnknownMD5
from workbench.server.data_store import fuzzy_index_mongo as fuzzy
from workbench.server.data_store import sample_sets_mongo as sample_sets
from workbench.server.data_store import text_search
from workbench.server.data_store.base import SAMPLE_INFO_FIELDS, DataStore, let_loop_run

DEFAULT_DB = "workbench"
INT64 = (-(2**63), 2**63 - 1)
BULK_CHUNK = 1000  # documents per insert_many / bulk_write / $in query
SELECTION_PAGE = 1000  # documents per keyset page of a selection
AGE_ORDER = [("import_time", 1), ("file_id", 1)]  # oldest first; file_id (a fresh ObjectId) breaks ties
_gridfs_on_mongomock = False


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _redact(uri: str) -> str:
    """The URI without its password, for error messages."""
    return re.sub(r"//[^/@]*@", "//***@", uri)


def _plain_key(key: Any) -> bool:
    """A key MongoDB stores and queries as-is: a non-empty str without '.', NUL or a leading '$'."""
    return isinstance(key, str) and key[:1] not in ("", "$") and "." not in key and "\0" not in key


def _document_safe(value: Any) -> bool:
    """Whether a JSON value survives as a BSON document unchanged: plain keys, 64-bit ints, finite floats."""
    if isinstance(value, dict):
        return all(_plain_key(k) and _document_safe(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_document_safe(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return INT64[0] <= value <= INT64[1]
    return not isinstance(value, float) or math.isfinite(value)


def _decode_output(doc: dict[str, Any]) -> dict[str, Any]:
    """An output document's output: the subdocument, or the JSON text kept for outputs BSON cannot hold."""
    if "output_json" in doc:
        return json.loads(doc["output_json"])
    return doc.get("output", {})


def _output_document(md5: str, worker: str, chain_version: str, versions: dict[str, str],
                     output: dict[str, Any], encoded: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"md5": md5, "worker": worker, "chain_version": chain_version,
                           "versions": dict(versions), "time": _now()}
    if _document_safe(output):
        doc["output"] = output
    else:  # keys with '.'/'$', ints beyond 64 bits: kept exactly as JSON text (NaN raises ValueError)
        doc["output_json"] = encoded if encoded is not None else json.dumps(output, allow_nan=False)
    fuzzy.annotate(doc, worker, output)  # index keys in the same document: one atomic write
    return doc


def _connect(uri: str) -> tuple[Any, str]:
    """(client, database name) for a ``mongodb://``, ``mongodb+srv://`` or ``mongomock://`` URI."""
    global _gridfs_on_mongomock
    if uri.startswith("mongomock://"):
        import mongomock
        import mongomock.gridfs

        if not _gridfs_on_mongomock:  # patches gridfs' isinstance checks once per process
            mongomock.gridfs.enable_gridfs_integration()
            _gridfs_on_mongomock = True
        return mongomock.MongoClient(), urlsplit(uri).path.strip("/") or DEFAULT_DB
    try:
        parsed = pymongo.uri_parser.parse_uri(uri)
    except (PyMongoError, ValueError) as exc:
        raise StoreError(f"bad MongoDB URI {_redact(uri)!r}: {exc}; use mongodb://host:port/dbname") from exc
    kwargs = {} if "serverSelectionTimeoutMS" in parsed["options"] else {"serverSelectionTimeoutMS": 5000}
    return pymongo.MongoClient(uri, **kwargs), parsed["database"] or DEFAULT_DB


class MongoStore(DataStore):
    """DataStore on MongoDB (mongomock in tests): samples, fs.files/fs.chunks, outputs, sample_sets, links."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._client, self.db_name = _connect(uri)
        self._db = self._client[self.db_name]
        self._fs = gridfs.GridFS(self._db)
        try:
            self._create_indexes()
        except PyMongoError as exc:
            self._client.close()
            raise StoreError(f"cannot open MongoDB store {_redact(uri)}: {exc}; start mongod or fix the "
                             "[server] datastore URI in config.ini") from exc

    def _create_indexes(self) -> None:
        samples = self._db.samples
        samples.create_index([("import_time", 1), ("file_id", 1)])  # oldest-first; file_id breaks ties
        samples.create_index("type_tag")
        samples.create_index("tags")
        samples.create_index([("type_tag", 1), *AGE_ORDER])  # selections: an index range in age order, no sort
        samples.create_index([("tags", 1), *AGE_ORDER])
        samples.create_index("filename")  # the web view's filename search walks this instead of the documents
        self._db.outputs.create_index([("md5", 1), ("worker", 1)], unique=True)
        self._db.outputs.create_index("worker")
        self._db.links.create_index([("parent", 1), ("child", 1)], unique=True)
        self._db.links.create_index([("child", 1), ("parent", 1)])
        self._db.graph_rels.create_index([("source", 1), ("target", 1), ("rel", 1)], unique=True)
        self._db.leases.create_index("expires_at", expireAfterSeconds=0)  # tidying only: expiry is checked in queries
        fuzzy.ensure(self._db, _decode_output)
        sample_sets.ensure(self._db)
        self._create_text_indexes()

    # --- samples -----------------------------------------------------------------------------------
    def store_sample(self, raw_bytes: bytes, md5: str, filename: str, type_tag: str) -> bool:
        if self.has_sample(md5):
            return False
        # Bytes first under a fresh GridFS id, then the metadata: a sample is visible only once its bytes are
        # complete, and of two racing writers the one whose metadata insert loses drops its own copy.
        file_id = self._fs.put(raw_bytes, filename=md5)  # a fresh ObjectId, increasing within a process
        doc = {"_id": md5, "filename": filename, "type_tag": type_tag, "length": len(raw_bytes),
               "import_time": _now(), "tags": [], "file_id": file_id}
        try:
            self._db.samples.insert_one(doc)
        except DuplicateKeyError:
            self._fs.delete(file_id)
            return False
        self._count_bytes(len(raw_bytes))
        return True

    def store_sample_file(self, path: Path, md5: str, filename: str, type_tag: str) -> bool:
        try:
            if self.has_sample(md5):
                return False
            with open(path, "rb") as handle:  # GridFS reads the file chunk by chunk: no whole copy in memory
                file_id = self._fs.put(handle, filename=md5)
            doc = {"_id": md5, "filename": filename, "type_tag": type_tag, "length": path.stat().st_size,
                   "import_time": _now(), "tags": [], "file_id": file_id}
            try:
                self._db.samples.insert_one(doc)
            except DuplicateKeyError:
                self._fs.delete(file_id)
                return False
            self._count_bytes(doc["length"])
            return True
        finally:
            path.unlink(missing_ok=True)

    def set_type_tag(self, md5: str, type_tag: str) -> bool:
        result = self._db.samples.update_one({"_id": md5}, {"$set": {"type_tag": type_tag}})
        if result.matched_count == 0:
            raise UnknownMD5(f"no sample with md5 {md5!r} is stored; store it before setting its type_tag")
        if result.modified_count:
            self._db.outputs.delete_many({"md5": md5})
        return bool(result.modified_count)

    def has_sample(self, md5: str) -> bool:
        return self._db.samples.count_documents({"_id": md5}, limit=1) > 0

    def get_sample_info(self, md5: str) -> dict[str, Any] | None:
        doc = self._db.samples.find_one({"_id": md5})
        if doc is None:
            return None
        return {field: doc["_id" if field == "md5" else field] for field in SAMPLE_INFO_FIELDS}

    def get_sample_bytes(self, md5: str) -> bytes | None:
        doc = self._db.samples.find_one({"_id": md5}, {"file_id": 1})
        return self._fs.get(doc["file_id"]).read() if doc else None

    def remove_sample(self, md5: str) -> bool:
        doc = self._db.samples.find_one_and_delete({"_id": md5}, projection={"file_id": 1, "length": 1})
        self._db.outputs.delete_many({"md5": md5})
        self._db.text_index.delete_many({"md5": md5})
        self._db.links.delete_many({"$or": [{"parent": md5}, {"child": md5}]})
        if doc is None:
            return False
        self._count_bytes(-doc["length"])
        self._fs.delete(doc["file_id"])
        return True

    def iter_md5s(self, type_tag: str | None = None, tags: list[str] | None = None) -> Iterator[str]:
        """Keyset pages in age order on (type_tag|tags, import_time, file_id): each page a short query (no
        cursor kept open for the whole walk), other greenlets running between pages."""
        query: dict[str, Any] = {}
        if type_tag:
            query["type_tag"] = type_tag
        if tags:
            query["tags"] = {"$all": list(tags)}
        projection = {"_id": 1, "import_time": 1, "file_id": 1}
        after: dict[str, Any] = {}
        while True:
            page = list(self._db.samples.find({**query, **after}, projection).sort(AGE_ORDER)
                        .limit(SELECTION_PAGE).batch_size(SELECTION_PAGE))
            yield from (doc["_id"] for doc in page)
            if len(page) < SELECTION_PAGE:
                return
            last = page[-1]
            after = {"$or": [{"import_time": {"$gt": last["import_time"]}},
                             {"import_time": last["import_time"], "file_id": {"$gt": last["file_id"]}}]}
            let_loop_run()

    def type_tag_counts(self) -> dict[str, int]:
        rows = self._db.samples.aggregate([{"$group": {"_id": "$type_tag", "n": {"$sum": 1}}}])
        return {row["_id"]: int(row["n"]) for row in sorted(rows, key=lambda r: r["_id"])}

    def count_samples(self) -> int:
        return self._db.samples.estimated_document_count()  # collection metadata: no walk at any size

    def total_sample_bytes(self) -> int:
        doc = self._db.store_counts.find_one({"_id": "bytes"})
        if doc is None:  # a store made before the kept total: counted once
            rows = list(self._db.samples.aggregate([{"$group": {"_id": None, "total": {"$sum": "$length"}}}]))
            total = int(rows[0]["total"]) if rows else 0
            self._db.store_counts.update_one({"_id": "bytes"}, {"$setOnInsert": {"value": total}}, upsert=True)
            return total
        return int(doc["value"])

    def _count_bytes(self, length: int) -> None:
        """Keep the byte total (``samples_cap_mb`` reads it after every store) beside the samples."""
        if self._db.store_counts.count_documents({"_id": "bytes"}, limit=1):
            self._db.store_counts.update_one({"_id": "bytes"}, {"$inc": {"value": length}})

    def oldest_md5s(self, limit: int) -> list[str]:
        if limit <= 0:  # pymongo reads limit(0) as "no limit"
            return []
        cursor = self._db.samples.find({}, {"_id": 1}).sort([("import_time", 1), ("file_id", 1)]).limit(limit)
        return [doc["_id"] for doc in cursor]

    def md5s_with_prefix(self, prefix: str, limit: int) -> list[str]:
        if limit <= 0:  # pymongo reads limit(0) as "no limit"
            return []
        query = {"_id": {"$regex": f"^{re.escape(prefix)}"}}  # an anchored regex is an _id index range
        return [doc["_id"] for doc in self._db.samples.find(query, {"_id": 1}).sort("_id", 1).limit(limit)]

    # --- tags --------------------------------------------------------------------------------------
    def _update_sample(self, md5: str, update: dict[str, Any]) -> None:
        if self._db.samples.update_one({"_id": md5}, update).matched_count == 0:
            raise UnknownMD5(f"no sample with md5 {md5!r} is stored; store it before tagging it")

    def add_tags(self, md5: str, tags: Iterable[str]) -> None:
        self._update_sample(md5, {"$addToSet": {"tags": {"$each": list(dict.fromkeys(tags))}}})

    def set_tags(self, md5: str, tags: Iterable[str]) -> None:
        self._update_sample(md5, {"$set": {"tags": sorted(set(tags))}})

    def get_tags(self, md5: str) -> list[str]:
        doc = self._db.samples.find_one({"_id": md5}, {"tags": 1})
        return sorted(doc.get("tags", [])) if doc else []

    def get_all_tags(self) -> dict[str, int]:
        pipeline = [{"$unwind": "$tags"}, {"$group": {"_id": "$tags", "n": {"$sum": 1}}}]
        return dict(sorted((row["_id"], row["n"]) for row in self._db.samples.aggregate(pipeline)))

    # --- sample sets (sample_sets_mongo) ----------------------------------------------------------------
    def store_sample_set(self, set_id: str | None, md5s: Iterable[str], expires: float | None = None) -> str:
        return sample_sets.store(self._db, set_id, md5s, expires)

    def sample_set_size(self, set_id: str) -> int | None:
        return sample_sets.size(self._db, set_id)

    def iter_sample_set(self, set_id: str) -> Iterator[str]:
        return sample_sets.members(self._db, set_id)

    def remove_sample_set(self, set_id: str) -> bool:
        return sample_sets.remove(self._db, set_id)

    def purge_expired_sample_sets(self) -> int:
        return sample_sets.purge(self._db)

    # --- links -------------------------------------------------------------------------------------
    def add_link(self, parent: str, child: str) -> None:
        try:
            self._db.links.insert_one({"parent": parent, "child": child})
        except DuplicateKeyError:  # already recorded
            pass

    def get_children(self, md5: str) -> list[str]:
        return sorted(doc["child"] for doc in self._db.links.find({"parent": md5}, {"child": 1}))

    def get_parents(self, md5: str) -> list[str]:
        return sorted(doc["parent"] for doc in self._db.links.find({"child": md5}, {"parent": 1}))

    # --- outputs -----------------------------------------------------------------------------------
    def store_output(self, md5: str, worker: str, chain_version: str, versions: dict[str, str],
                     output: dict[str, Any], encoded: str | None = None) -> None:
        doc = _output_document(md5, worker, chain_version, versions, output, encoded)
        self._db.outputs.replace_one({"md5": md5, "worker": worker}, doc, upsert=True)

    def get_output(self, md5: str, worker: str) -> dict[str, Any] | None:
        doc = self._db.outputs.find_one({"md5": md5, "worker": worker})
        if doc is None:
            return None
        return {"md5": md5, "worker": worker, "chain_version": doc["chain_version"],
                "versions": doc["versions"], "time": doc["time"], "output": _decode_output(doc)}

    def get_output_stamps(self, md5: str, workers: list[str]) -> dict[str, dict[str, Any]]:
        query = {"md5": md5, "worker": {"$in": list(workers)}}
        projection = {"_id": 0, "worker": 1, "chain_version": 1, "versions": 1, "time": 1}
        return {doc["worker"]: {"chain_version": doc["chain_version"], "versions": doc["versions"], "time": doc["time"]}
                for doc in self._db.outputs.find(query, projection)}

    def get_outputs(self, md5s: list[str], worker: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(md5s), BULK_CHUNK):
            query = {"worker": worker, "md5": {"$in": md5s[start:start + BULK_CHUNK]}}
            projection = {"_id": 0, "md5": 1, "chain_version": 1, "output": 1, "output_json": 1}
            for doc in self._db.outputs.find(query, projection):
                found[doc["md5"]] = {"chain_version": doc["chain_version"], "output": _decode_output(doc)}
        return found

    def iter_outputs(self, worker: str,
                     fields: list[str] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        projection: dict[str, int] = {"_id": 0, "md5": 1, "output_json": 1}
        if fields and all(_plain_key(f) for f in fields):
            projection.update({f"output.{f}": 1 for f in fields})
        else:
            projection["output"] = 1
        for doc in self._db.outputs.find({"worker": worker}, projection):
            output = _decode_output(doc)
            yield doc["md5"], ({f: output.get(f) for f in fields} if fields else output)

    def clear_worker_output(self, worker: str | None = None) -> int:
        """BULK_CHUNK outputs per delete, found through the worker index, other greenlets running between."""
        query = {} if worker is None else {"worker": worker}
        dropped = 0
        while ids := [doc["_id"] for doc in self._db.outputs.find(query, {"_id": 1}).limit(BULK_CHUNK)]:
            dropped += self._db.outputs.delete_many({"_id": {"$in": ids}}).deleted_count
            let_loop_run()
        return dropped

    # --- bulk loading ------------------------------------------------------------------------------
    def store_samples(self, samples: Iterable[tuple[bytes, str, str, str]]) -> int:
        new = 0
        rows = iter(samples)
        while chunk := list(islice(rows, BULK_CHUNK)):
            wanted = {md5: (raw, filename, type_tag) for raw, md5, filename, type_tag in chunk}
            for doc in self._db.samples.find({"_id": {"$in": list(wanted)}}, {"_id": 1}):
                del wanted[doc["_id"]]
            docs = [{"_id": md5, "filename": filename, "type_tag": type_tag, "length": len(raw),
                     "import_time": _now(), "tags": [], "file_id": self._fs.put(raw, filename=md5)}
                    for md5, (raw, filename, type_tag) in wanted.items()]
            if not docs:
                continue
            lost: set[int] = set()
            try:
                self._db.samples.insert_many(docs, ordered=False)
            except BulkWriteError as exc:  # another writer stored some first: drop our copies of those
                lost = {error["index"] for error in exc.details["writeErrors"]}
                for index in lost:
                    self._fs.delete(docs[index]["file_id"])
            new += len(docs) - len(lost)
            self._count_bytes(sum(doc["length"] for i, doc in enumerate(docs) if i not in lost))
        return new

    def store_outputs(self, outputs: Iterable[tuple[str, str, str, dict[str, str], dict[str, Any]]]) -> None:
        rows = iter(outputs)
        while chunk := list(islice(rows, BULK_CHUNK)):
            docs = [_output_document(*row) for row in chunk]
            if self.uri.startswith("mongomock://"):  # mongomock's bulk_write rejects pymongo >= 4.9 operations
                for doc in docs:
                    self._db.outputs.replace_one({"md5": doc["md5"], "worker": doc["worker"]}, doc, upsert=True)
            else:
                self._db.outputs.bulk_write([ReplaceOne({"md5": doc["md5"], "worker": doc["worker"]}, doc,
                                                        upsert=True) for doc in docs], ordered=True)

    # --- browsing (the web view) --------------------------------------------------------------------
    def find_samples(self, md5_prefix: str | None = None, filename: str | None = None, type_tag: str | None = None,
                     tag: str | None = None, offset: int = 0, limit: int = 50) -> list[dict[str, Any]]:
        if limit <= 0:  # pymongo reads limit(0) as "no limit"
            return []
        query: dict[str, Any] = {}
        if md5_prefix:
            query["_id"] = {"$regex": f"^{re.escape(md5_prefix)}"}  # anchored: an _id index range
        if filename:  # unanchored: MongoDB walks the filename index (or the documents), not a range
            query["filename"] = {"$regex": re.escape(filename), "$options": "i"}
        if type_tag:
            query["type_tag"] = type_tag
        if tag:
            query["tags"] = tag
        projection = {"_id": 1, "filename": 1, "type_tag": 1, "length": 1, "import_time": 1}
        cursor = (self._db.samples.find(query, projection).sort([("import_time", -1), ("file_id", -1)])
                  .skip(max(offset, 0)).limit(limit))
        return [{field: doc["_id" if field == "md5" else field] for field in SAMPLE_INFO_FIELDS} for doc in cursor]

    def count_by_type_tag(self) -> dict[str, int]:
        pipeline = [{"$group": {"_id": "$type_tag", "n": {"$sum": 1}}}]
        return dict(sorted((row["_id"], row["n"]) for row in self._db.samples.aggregate(pipeline)))

    def count_outputs(self) -> dict[str, int]:
        pipeline = [{"$group": {"_id": "$worker", "n": {"$sum": 1}}}]
        return dict(sorted((row["_id"], row["n"]) for row in self._db.outputs.aggregate(pipeline)))
    # --- fuzzy-hash similarity index (fuzzy_index_mongo) ---------------------------------------------
    def ssdeep_candidates(self, keys: list[int]) -> list[tuple[str, str]]:
        return fuzzy.candidates(self._db, keys, _decode_output)

    def tlsh_digests_since(self, cursor: Any = None) -> tuple[list[tuple[str, str | None]], Any]:
        return fuzzy.tlsh_since(self._db, cursor, _decode_output)
    # --- full-text index over outputs: one document per (index, md5, worker), a MongoDB text index ------
    def _create_text_indexes(self) -> None:
        docs = self._db.text_index
        docs.create_index([("index", 1), ("worker", 1), ("md5", 1)], unique=True)
        docs.create_index("md5")
        # the index name as an equality prefix scopes each search; "none": no stemming or stop words (domains)
        docs.create_index([("index", 1), ("fields.text", "text")], default_language="none",
                          name="text_search")

    def index_texts(self, index_name: str, docs: Iterable[tuple[str, str, str, list[tuple[str, str]]]]) -> int:
        written = 0
        rows = iter(docs)
        while chunk := list(islice(rows, BULK_CHUNK)):
            replaces = [({"index": index_name, "worker": worker, "md5": md5},
                         {"index": index_name, "worker": worker, "md5": md5, "version": version,
                          "fields": [{"field": field, "text": text} for field, text in pairs]})
                        for md5, worker, version, pairs in chunk]
            if self.uri.startswith("mongomock://"):  # mongomock's bulk_write rejects pymongo >= 4.9 operations
                for key, doc in replaces:
                    self._db.text_index.replace_one(key, doc, upsert=True)
            else:
                self._db.text_index.bulk_write([ReplaceOne(key, doc, upsert=True) for key, doc in replaces])
            written += len(chunk)
        return written

    def search_texts(self, index_name: str, query: str, limit: int) -> list[dict[str, str]]:
        """$text narrows to documents holding each term as written (phrases); the token rule of text_search
        then keeps exactly the fields the sqlite FTS5 query would (e.g. drops evil.company for evil.com)."""
        terms = text_search.parse_query(query)
        phrases = " ".join('"' + word.replace('"', " ") + '"' for word in text_search.query_words(query))
        hits: list[dict[str, str]] = []
        cursor = self._db.text_index.find({"index": index_name, "$text": {"$search": phrases}},
                                          {"_id": 0, "md5": 1, "worker": 1, "fields": 1})
        for doc in cursor:
            for item in doc["fields"]:
                if len(hits) < limit and text_search.text_matches(item["text"], terms):
                    hits.append({"md5": doc["md5"], "worker": doc["worker"], "field": item["field"],
                                 "snippet": text_search.snippet(item["text"], terms)})
            if len(hits) >= limit:
                break
        return hits

    def text_index_versions(self, index_name: str, worker: str, md5s: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(md5s), BULK_CHUNK):
            query = {"index": index_name, "worker": worker, "md5": {"$in": md5s[start:start + BULK_CHUNK]}}
            found.update((d["md5"], d["version"]) for d in self._db.text_index.find(query, {"md5": 1, "version": 1}))
        return found

    def text_indexes(self) -> dict[str, int]:
        rows = self._db.text_index.aggregate([{"$group": {"_id": "$index", "n": {"$sum": 1}}}])
        return dict(sorted((row["_id"], row["n"]) for row in rows))

    def drop_text_index(self, index_name: str) -> int:
        return self._db.text_index.delete_many({"index": index_name}).deleted_count

    # --- admin -------------------------------------------------------------------------------------
    # --- group: chain leases and server membership ----------------------------------------------------
    def take_lease(self, key: str, holder: str, seconds: float, release: Sequence[str] = ()) -> bool:
        self.release_leases(release, holder)  # no transaction needed: each key's document is its own lease
        now = time.time()
        doc = {"holder": holder, "expires": now + seconds,
               "expires_at": datetime.fromtimestamp(now + seconds, UTC)}
        try:  # one atomic upsert: matches only a free, expired or own lease; a running one makes _id collide
            self._db.leases.update_one({"_id": key, "$or": [{"expires": {"$lte": now}}, {"holder": holder}]},
                                       {"$set": doc}, upsert=True)
        except DuplicateKeyError:
            return False
        return True

    def lease_holder(self, key: str) -> str | None:
        doc = self._db.leases.find_one({"_id": key, "expires": {"$gt": time.time()}})
        return doc["holder"] if doc else None

    def renew_leases(self, holder: str, seconds: float) -> None:
        expires = time.time() + seconds
        self._db.leases.update_many({"holder": holder}, {"$set": {"expires": expires,
                                                                 "expires_at": datetime.fromtimestamp(expires, UTC)}})

    def release_leases(self, keys: Sequence[str], holder: str) -> None:
        if keys:
            self._db.leases.delete_many({"_id": {"$in": list(keys)}, "holder": holder})

    def register_server(self, name: str, info: dict[str, Any]) -> None:
        self._db.group_servers.replace_one({"_id": name}, {**info, "_id": name, "seen": time.time()}, upsert=True)

    def list_servers(self, seen_within: float) -> list[dict[str, Any]]:
        docs = self._db.group_servers.find({"seen": {"$gt": time.time() - seen_within}}).sort("_id", 1)
        return [{**{k: v for k, v in d.items() if k != "_id"}, "name": d["_id"]} for d in docs]

    # --- property graph ----------------------------------------------------------------------------
    def add_node(self, node_id: str, name: str, labels: list[str]) -> None:
        self._db.graph_nodes.update_one({"_id": node_id}, {"$set": {"name": name},
                                                          "$addToSet": {"labels": {"$each": list(labels)}}},
                                        upsert=True)

    def has_node(self, node_id: str) -> bool:
        return self._db.graph_nodes.count_documents({"_id": node_id}, limit=1) > 0

    def add_rel(self, source: str, target: str, rel: str) -> None:
        for node in (source, target):
            self._db.graph_nodes.update_one({"_id": node}, {"$setOnInsert": {"name": node, "labels": []}},
                                            upsert=True)
        self._db.graph_rels.update_one({"source": source, "target": target, "rel": rel},
                                       {"$setOnInsert": {"source": source}}, upsert=True)

    def iter_graph(self) -> tuple[Iterator[dict[str, Any]], Iterator[dict[str, Any]]]:
        nodes = ({"id": d["_id"], "name": d["name"], "labels": sorted(d.get("labels", []))}
                 for d in self._db.graph_nodes.find().sort("_id", 1))
        rels = ({"source": d["source"], "target": d["target"], "rel": d["rel"]}
                for d in self._db.graph_rels.find().sort([("source", 1), ("target", 1)]))
        return nodes, rels

    def clear_graph(self) -> None:
        self._db.graph_nodes.delete_many({})
        self._db.graph_rels.delete_many({})

    def clear(self) -> None:
        for name in ("samples", "fs.files", "fs.chunks", "outputs", "sample_sets", "sample_set_members", "links",
                     "graph_nodes", "graph_rels", "leases", "store_counts"):
            self._db[name].delete_many({})
        self._db.text_index.delete_many({})

    def close(self) -> None:
        self._client.close()
