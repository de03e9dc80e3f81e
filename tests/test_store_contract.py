"""One contract suite run against every data store backend, so they cannot drift apart.

Backends: ``sqlite`` (a real file in tmp_path), ``mongodb-real`` (only when WORKBENCH_TEST_MONGO_URI names a
server; each test gets its own database, dropped afterwards) and ``mongomock`` (in-memory stand-in for the
MongoDB code path; no real mongod can run on the build machines, see ../shared/notes/packages_and_floors.md).
"""

from __future__ import annotations

import hashlib
import os
import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pymongo
import pytest

from workbench.exceptions import BadArgument, StoreError, UnknownMD5
from workbench.server.data_store import DataStore, open_store, sqlite_store
from workbench.server.data_store import mongo_store as mongo_backend
from workbench.server.data_store import sample_sets_mongo as sets_mongo
from workbench.server.data_store import sample_sets_sqlite as sets_sqlite
from workbench.server.data_store.sqlite_store import TEXT_SEARCH_SQL

REAL_MONGO_URI = os.environ.get("WORKBENCH_TEST_MONGO_URI", "")
NO_REAL_MONGO = pytest.mark.skipif(not REAL_MONGO_URI,
                                   reason="WORKBENCH_TEST_MONGO_URI not set: no real MongoDB server")
SQLITE = pytest.param("sqlite", id="sqlite")
MONGODB_REAL = pytest.param("mongodb-real", id="mongodb-real", marks=NO_REAL_MONGO)
MONGOMOCK = pytest.param("mongomock", id="mongomock")


def _real_mongo_uri(db_name: str) -> str:
    """WORKBENCH_TEST_MONGO_URI with its database path replaced (options kept)."""
    parts = urlsplit(REAL_MONGO_URI)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db_name}", parts.query, ""))


def _open_backend(backend: str, tmp_path: Path) -> Iterator[DataStore]:
    """Open a fresh, empty store of one backend; close it (and drop a real test database) afterwards."""
    db_name = f"wb_test_{uuid.uuid4().hex[:12]}"
    uri = {"sqlite": f"sqlite:///{tmp_path}/wb.db", "mongomock": f"mongomock://test/{db_name}"}.get(backend)
    store = open_store(uri or _real_mongo_uri(db_name))
    try:
        yield store
    finally:
        store.close()
        if backend == "mongodb-real":
            with pymongo.MongoClient(REAL_MONGO_URI) as client:
                client.drop_database(db_name)


@pytest.fixture(params=[SQLITE, MONGODB_REAL, MONGOMOCK])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DataStore]:
    yield from _open_backend(request.param, tmp_path)


@pytest.fixture(params=[MONGODB_REAL, MONGOMOCK])
def mongo_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    yield from _open_backend(request.param, tmp_path)


def _member_rows(store: DataStore) -> int:
    """Membership rows the store holds, all sets together (removed and expired sets must leave none)."""
    if isinstance(store, sqlite_store.SqliteStore):
        return store._db.execute("SELECT COUNT(*) FROM set_members").fetchone()[0]
    return store._db.sample_set_members.count_documents({})


def put(store: DataStore, data: bytes, filename: str = "sample.bin", type_tag: str = "data") -> str:
    """Store bytes under their md5 (computed here with hashlib, independently of the store)."""
    md5 = hashlib.md5(data).hexdigest()
    assert store.store_sample(data, md5, filename, type_tag) is True
    return md5


class TestStoreContract:
    """Every DataStore method, as base.py documents it, on every backend."""

    def test_stored_sample_has_its_info_and_bytes(self, store: DataStore) -> None:
        before = datetime.now(UTC)
        md5 = put(store, b"MZ\x90\x00hello", "hello.exe", "exe")
        after = datetime.now(UTC)
        assert store.has_sample(md5)
        info = store.get_sample_info(md5)
        assert info is not None
        imported = datetime.fromisoformat(info.pop("import_time"))
        assert imported.utcoffset() == timedelta(0)
        assert before - timedelta(seconds=1) <= imported <= after + timedelta(seconds=1)
        assert info == {"md5": md5, "filename": "hello.exe", "type_tag": "exe", "length": 9}
        assert store.get_sample_bytes(md5) == b"MZ\x90\x00hello"

    def test_unknown_md5_reads_as_absent_everywhere(self, store: DataStore) -> None:
        missing = hashlib.md5(b"never stored").hexdigest()
        assert not store.has_sample(missing)
        assert store.get_sample_info(missing) is None
        assert store.get_sample_bytes(missing) is None
        assert store.remove_sample(missing) is False
        assert store.get_tags(missing) == []
        assert store.get_output(missing, "meta") is None
        assert store.get_children(missing) == [] and store.get_parents(missing) == []

    def test_storing_the_same_bytes_twice_keeps_one_copy(self, store: DataStore) -> None:
        md5 = put(store, b"same bytes", "first.txt", "txt")
        assert store.store_sample(b"same bytes", md5, "second.txt", "txt") is False
        assert store.count_samples() == 1
        assert store.total_sample_bytes() == len(b"same bytes")
        assert list(store.iter_md5s()) == [md5]
        assert store.get_sample_info(md5)["filename"] == "first.txt"

    def test_remove_sample_drops_its_bytes_tags_links_and_outputs(self, store: DataStore) -> None:
        a, b, c = (put(store, name.encode(), name) for name in ("a", "b", "c"))
        store.add_tags(a, ["evil", "packed"])
        store.add_tags(b, ["evil"])
        store.add_link(a, b)
        store.add_link(c, a)
        store.store_output(a, "meta", "v1", {"meta": "1"}, {"x": 1})
        store.store_output(b, "meta", "v1", {"meta": "1"}, {"x": 2})

        assert store.remove_sample(a) is True
        assert not store.has_sample(a)
        assert store.get_sample_bytes(a) is None and store.get_sample_info(a) is None
        assert store.get_tags(a) == []
        assert store.get_all_tags() == {"evil": 1}
        assert store.get_parents(b) == [] and store.get_children(c) == []
        assert store.get_output(a, "meta") is None
        assert dict(store.iter_outputs("meta")) == {b: {"x": 2}}
        assert store.count_samples() == 2 and store.total_sample_bytes() == 2
        assert store.remove_sample(a) is False
        assert store.store_sample(b"a", a, "a again", "data") is True

    def test_iter_md5s_filters_by_type_tag_and_all_tags_oldest_first(self, store: DataStore) -> None:
        exe1 = put(store, b"exe one", type_tag="exe")
        pdf = put(store, b"a pdf", type_tag="pdf")
        exe2 = put(store, b"exe two", type_tag="exe")
        exe3 = put(store, b"exe three", type_tag="exe")
        store.add_tags(exe1, ["evil", "upx"])
        store.add_tags(pdf, ["evil"])
        store.add_tags(exe3, ["evil", "upx", "signed"])
        assert list(store.iter_md5s()) == [exe1, pdf, exe2, exe3]
        assert list(store.iter_md5s(type_tag="exe")) == [exe1, exe2, exe3]
        assert list(store.iter_md5s(tags=["evil"])) == [exe1, pdf, exe3]
        assert list(store.iter_md5s(tags=["evil", "upx"])) == [exe1, exe3]
        assert list(store.iter_md5s(type_tag="pdf", tags=["upx"])) == []
        assert list(store.iter_md5s(type_tag="zip")) == []

    def test_selections_walk_in_pages_and_keep_age_order_and_filters(self, store: DataStore,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
        """Issue 17: iter_md5s reads keyset pages (a page of 7 here, so every walk crosses many pages)."""
        monkeypatch.setattr(sqlite_store, "SELECTION_PAGE", 7)
        monkeypatch.setattr(mongo_backend, "SELECTION_PAGE", 7)
        rows = [(b"paged %d" % i, hashlib.md5(b"paged %d" % i).hexdigest(), f"p{i}", "exe" if i % 3 else "pdf")
                for i in range(60)]
        md5s = [row[1] for row in rows]
        for start in range(0, 60, 20):  # three bulk calls: three import times, ties broken within each
            assert store.store_samples(rows[start:start + 20]) == 20
        for i, md5 in enumerate(md5s):
            store.add_tags(md5, ["t1"] * (i % 2 == 0) + ["t2"] * (i % 5 == 0) or ["none"])
        store.remove_sample(md5s[10])
        kept = [(i, m) for i, m in enumerate(md5s) if i != 10]
        assert list(store.iter_md5s()) == [m for _, m in kept]
        assert list(store.iter_md5s(type_tag="pdf")) == [m for i, m in kept if i % 3 == 0]
        assert list(store.iter_md5s(tags=["t1"])) == [m for i, m in kept if i % 2 == 0]
        assert list(store.iter_md5s(tags=["t1", "t2"])) == [m for i, m in kept if i % 10 == 0]
        assert list(store.iter_md5s(type_tag="exe", tags=["t2", "t1"])) == [m for i, m in kept if i % 30 in (10, 20)]
        store.set_tags(md5s[0], ["t2"])
        assert md5s[0] not in store.iter_md5s(tags=["t1"]) and md5s[0] in store.iter_md5s(tags=["t2"])

    def test_count_total_bytes_and_oldest_md5s(self, store: DataStore) -> None:
        assert (store.count_samples(), store.total_sample_bytes(), store.oldest_md5s(5)) == (0, 0, [])
        md5s = [put(store, bytes([i]) * (i * 100 + 1)) for i in range(1, 5)]
        assert store.count_samples() == 4
        assert store.total_sample_bytes() == sum(i * 100 + 1 for i in range(1, 5))
        assert store.oldest_md5s(2) == md5s[:2]
        assert store.oldest_md5s(100) == md5s
        assert store.oldest_md5s(0) == []

    def test_tags_add_set_get_and_count(self, store: DataStore) -> None:
        a, b = put(store, b"tag a"), put(store, b"tag b")
        store.add_tags(a, ["zeta", "alpha", "zeta"])
        store.add_tags(a, ["alpha", "beta"])
        assert store.get_tags(a) == ["alpha", "beta", "zeta"]
        store.add_tags(b, ["alpha"])
        assert store.get_all_tags() == {"alpha": 2, "beta": 1, "zeta": 1}
        store.set_tags(a, ["gamma", "gamma"])
        assert store.get_tags(a) == ["gamma"]
        assert store.get_all_tags() == {"alpha": 1, "gamma": 1}
        store.set_tags(b, [])
        assert store.get_tags(b) == [] and store.get_all_tags() == {"gamma": 1}

    def test_tagging_an_unknown_md5_raises_and_leaves_no_tags(self, store: DataStore) -> None:
        missing = hashlib.md5(b"never stored").hexdigest()
        with pytest.raises(UnknownMD5, match=f"no sample with md5 '{missing}'"):
            store.add_tags(missing, ["orphan"])
        with pytest.raises(UnknownMD5, match=f"no sample with md5 '{missing}'"):
            store.set_tags(missing, ["orphan"])
        assert store.get_all_tags() == {}

    def test_sample_set_round_trips_and_unknown_id_is_none(self, store: DataStore) -> None:
        md5s = [put(store, b"set %d" % i) for i in range(3)]
        assert store.store_sample_set("set-1", md5s) == "set-1"
        assert store.store_sample_set("set-1", md5s[:1]) == "set-1"  # idempotent: the first one stays
        assert store.get_sample_set("set-1") == md5s and store.sample_set_size("set-1") == 3
        assert store.get_sample_set("no-such-set") is None and store.sample_set_size("no-such-set") is None
        assert list(store.iter_sample_set("no-such-set")) == []

    def test_sample_set_is_written_and_read_in_pages_under_the_hash_of_its_list(
            self, store: DataStore, monkeypatch: pytest.MonkeyPatch) -> None:
        """Issue 17: membership rows a page at a time (3 here); the id is the md5 of the comma-joined list."""
        monkeypatch.setattr(sets_sqlite, "PAGE", 3)
        monkeypatch.setattr(sets_mongo, "PAGE", 3)
        md5s = [hashlib.md5(b"member %d" % i).hexdigest() for i in range(10)] + [hashlib.md5(b"member 0").hexdigest()]
        set_id = store.store_sample_set(None, iter(md5s))
        assert set_id == hashlib.md5(",".join(md5s).encode()).hexdigest()
        assert store.get_sample_set(set_id) == md5s and store.sample_set_size(set_id) == 11
        assert store.store_sample_set(None, iter(md5s)) == set_id  # the copy is dropped, one set kept
        assert list(store.iter_sample_set(set_id)) == md5s
        empty = store.store_sample_set(None, iter([]))
        assert store.get_sample_set(empty) == [] and empty == hashlib.md5(b"").hexdigest()

    def test_removed_sample_set_is_gone_with_its_rows(self, store: DataStore) -> None:
        md5s = [hashlib.md5(b"gone %d" % i).hexdigest() for i in range(5)]
        set_id = store.store_sample_set(None, md5s)
        kept = store.store_sample_set("kept", md5s[:2])
        assert store.remove_sample_set(set_id) is True
        assert store.get_sample_set(set_id) is None and store.remove_sample_set(set_id) is False
        assert store.get_sample_set(kept) == md5s[:2]
        assert _member_rows(store) == 2, "only the kept set's membership rows are left"
        assert store.store_sample_set(None, md5s) == set_id and store.get_sample_set(set_id) == md5s

    def test_expired_sample_set_reads_as_absent_and_is_purged(self, store: DataStore) -> None:
        md5s = [hashlib.md5(b"old %d" % i).hexdigest() for i in range(4)]
        old = store.store_sample_set(None, md5s, expires=time.time() - 1)
        assert store.get_sample_set(old) is None and store.sample_set_size(old) is None
        assert _member_rows(store) == 4
        assert store.purge_expired_sample_sets() == 1 and store.purge_expired_sample_sets() == 0
        assert _member_rows(store) == 0
        soon = store.store_sample_set(None, md5s[:2], expires=time.time() + 3600)
        forever = store.store_sample_set(None, md5s[:3])
        assert store.store_sample_set(None, md5s[:3], expires=time.time() - 1) == forever  # never expires
        store.purge_expired_sample_sets()
        assert _member_rows(store) == 5
        assert store.get_sample_set(soon) == md5s[:2] and store.get_sample_set(forever) == md5s[:3]
        assert store.store_sample_set(None, md5s, expires=time.time() + 60) == old  # made again after expiry
        assert store.get_sample_set(old) == md5s

    def test_links_are_seen_from_both_ends_and_recorded_once(self, store: DataStore) -> None:
        zip_md5, child1, child2 = put(store, b"zip"), put(store, b"child 1"), put(store, b"child 2")
        for child in (child2, child1, child1):
            store.add_link(zip_md5, child)
        assert store.get_children(zip_md5) == sorted([child1, child2])
        assert store.get_parents(child1) == [zip_md5]
        assert store.get_parents(zip_md5) == [] and store.get_children(child1) == []

    def test_output_is_stored_with_its_versions_and_replaced(self, store: DataStore) -> None:
        md5 = put(store, b"output me")
        output = {"str": "é日", "int": -(2**63), "big": 2**63 - 1, "float": 0.1, "bool": True, "none": None,
                  "list": [1, "two", [3.5], {"four": 4}], "nested": {"empty": {}, "deep": {"a": [[]]}}}
        store.store_output(md5, "strings", "chain-1", {"meta": "m1", "strings": "s1"}, output)
        doc = store.get_output(md5, "strings")
        assert doc is not None
        stored_at = datetime.fromisoformat(doc.pop("time"))
        assert abs(datetime.now(UTC) - stored_at) < timedelta(seconds=60)
        assert doc == {"md5": md5, "worker": "strings", "chain_version": "chain-1",
                       "versions": {"meta": "m1", "strings": "s1"}, "output": output}

        store.store_output(md5, "strings", "chain-2", {"meta": "m2", "strings": "s1"}, {"replaced": True})
        doc = store.get_output(md5, "strings")
        assert (doc["chain_version"], doc["versions"], doc["output"]) == (
            "chain-2", {"meta": "m2", "strings": "s1"}, {"replaced": True})
        assert list(store.iter_outputs("strings")) == [(md5, {"replaced": True})]
        assert store.get_output(md5, "meta") is None

    def test_store_samples_in_bulk_keeps_one_copy_and_counts_only_new_ones(self, store: DataStore) -> None:
        already = put(store, b"bulk already stored", "old.bin", "data")
        rows = [(data, hashlib.md5(data).hexdigest(), f"bulk{i}.exe", "exe")
                for i, data in enumerate([b"MZ bulk one", b"MZ bulk two", b"MZ bulk one"])]
        assert store.store_samples([(b"bulk already stored", already, "again.bin", "txt"), *rows]) == 2
        one, two = rows[0][1], rows[1][1]
        assert list(store.iter_md5s()) == [already, one, two]
        assert store.get_sample_info(already)["filename"] == "old.bin"
        info = store.get_sample_info(two)
        assert (info["filename"], info["type_tag"], info["length"]) == ("bulk1.exe", "exe", len(b"MZ bulk two"))
        assert store.get_sample_bytes(one) == b"MZ bulk one"
        assert list(store.iter_md5s(type_tag="exe")) == [one, two]
        assert store.store_samples([]) == 0 and store.count_samples() == 3

    def test_bulk_outputs_read_back_many_at_once_like_get_output(self, store: DataStore,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
        from workbench.server.data_store import mongo_store, sqlite_store

        monkeypatch.setattr(sqlite_store, "MAX_SQL_PARAMS", 2)  # small chunks: cross the query boundaries
        monkeypatch.setattr(mongo_store, "BULK_CHUNK", 2)
        md5s = [put(store, f"bulk output {i}".encode()) for i in range(5)]
        store.store_outputs([(m, "meta", "c1", {"meta": "v1"}, {"i": i, "a.b": [i]}) for i, m in enumerate(md5s)])
        store.store_outputs([(md5s[0], "meta", "c2", {"meta": "v2"}, {"replaced": True}),
                             (md5s[1], "strings", "c1", {"strings": "v1"}, {"other": 1})])
        unknown = hashlib.md5(b"never stored").hexdigest()
        found = store.get_outputs([*md5s, unknown], "meta")
        assert sorted(found) == sorted(md5s)
        singles = {m: store.get_output(m, "meta") for m in md5s}
        assert found == {m: {"chain_version": d["chain_version"], "output": d["output"]} for m, d in singles.items()}
        assert found[md5s[0]] == {"chain_version": "c2", "output": {"replaced": True}}
        assert found[md5s[3]] == {"chain_version": "c1", "output": {"i": 3, "a.b": [3]}}
        assert store.get_outputs([md5s[1]], "strings") == {md5s[1]: {"chain_version": "c1", "output": {"other": 1}}}
        assert store.get_outputs([], "meta") == {} and store.get_outputs(md5s, "nobody") == {}

    def test_outputs_whose_keys_mongodb_forbids_round_trip_unchanged(self, store: DataStore) -> None:
        md5 = put(store, b"odd keys")
        output = {"a.b": 1, "$where": "x", "": 0, "nested": {"x.y": [{"$z": None}]}, "huge": 2**70, "ok": 2}
        store.store_output(md5, "odd", "c1", {"odd": "1"}, output)
        assert store.get_output(md5, "odd")["output"] == output
        assert dict(store.iter_outputs("odd")) == {md5: output}
        assert dict(store.iter_outputs("odd", ["a.b", "ok"])) == {md5: {"a.b": 1, "ok": 2}}

    def test_output_with_nan_is_refused_and_not_stored(self, store: DataStore) -> None:
        md5 = put(store, b"nan output")
        with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
            store.store_output(md5, "bad", "c", {}, {"entropy": float("nan")})
        assert store.get_output(md5, "bad") is None

    def test_iter_outputs_yields_all_of_a_workers_outputs_or_given_fields(self, store: DataStore) -> None:
        a, b = put(store, b"iter a"), put(store, b"iter b")
        store.store_output(a, "pe", "c", {}, {"size": 1, "name": "a", "extra": [1]})
        store.store_output(b, "pe", "c", {}, {"size": 2, "name": "b"})
        store.store_output(a, "meta", "c", {}, {"size": 99})
        assert dict(store.iter_outputs("pe")) == {a: {"size": 1, "name": "a", "extra": [1]},
                                                  b: {"size": 2, "name": "b"}}
        assert dict(store.iter_outputs("pe", ["size"])) == {a: {"size": 1}, b: {"size": 2}}
        assert dict(store.iter_outputs("pe", ["extra"])) == {a: {"extra": [1]}, b: {"extra": None}}
        assert list(store.iter_outputs("no_such_worker")) == []

    def test_clear_worker_output_for_one_worker_then_all_keeps_samples(self, store: DataStore) -> None:
        a, b = put(store, b"clear a"), put(store, b"clear b")
        for md5 in (a, b):
            store.store_output(md5, "meta", "c", {}, {"m": md5})
            store.store_output(md5, "strings", "c", {}, {"s": md5})
        store.store_output(a, "pe", "c", {}, {})
        assert store.clear_worker_output("meta") == 2
        assert store.get_output(a, "meta") is None and store.get_output(a, "strings") is not None
        assert store.clear_worker_output("meta") == 0
        assert store.clear_worker_output() == 3
        assert list(store.iter_outputs("strings")) == [] and list(store.iter_outputs("pe")) == []
        assert store.count_samples() == 2 and store.get_sample_bytes(a) == b"clear a"

    def test_clear_worker_output_deletes_in_batches_and_counts_every_one(self, store: DataStore,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
        """Issue 17: a bulk delete is many short transactions (3 rows each here), the count still exact."""
        monkeypatch.setattr(sqlite_store, "DELETE_PAGE", 3)
        monkeypatch.setattr(mongo_backend, "BULK_CHUNK", 3)
        md5s = [put(store, b"batch clear %d" % i) for i in range(10)]
        store.store_outputs([(md5, worker, "c", {}, {"n": i}) for i, md5 in enumerate(md5s)
                             for worker in ("meta", "strings")])
        assert store.clear_worker_output("meta") == 10
        assert dict(store.iter_outputs("meta")) == {} and len(dict(store.iter_outputs("strings"))) == 10
        assert store.clear_worker_output() == 10 and store.count_outputs() == {}

    def test_output_stamp_changes_with_every_write_or_delete_of_that_workers_outputs(self, store: DataStore
                                                                                     ) -> None:
        """Slab files (planning/slab_cache.py) are valid while the stamp is; a store that keeps none says None."""
        if store.output_stamp("meta") is None:
            assert store.slab_folder() is None
            return
        a, b = put(store, b"stamp a"), put(store, b"stamp b")
        seen = [store.output_stamp("meta")]

        def changed() -> bool:
            seen.append(store.output_stamp("meta"))
            return seen[-1] not in seen[:-1]

        store.store_output(a, "strings", "c", {}, {"s": 1})
        assert not changed(), "another worker's output leaves it alone"
        store.store_output(a, "meta", "c", {}, {"m": 1})
        assert changed()
        store.store_output(a, "meta", "c", {}, {"m": 2})
        assert changed()
        store.store_outputs([(b, "meta", "c", {}, {"m": 3})])
        assert changed()
        assert [(page_stamp, rows) for page_stamp, rows in store.output_text_pages("meta", "c", None, 1)] == [
            (seen[-1], [(a, '{"m": 2}')]), (seen[-1], [(b, '{"m": 3}')]), (seen[-1], [])]
        assert list(store.output_text_pages("meta", "c", ["m"], 5)) == [(seen[-1], [(a, '{"m":2}'), (b, '{"m":3}')])]
        assert store.remove_sample(a)
        assert changed()
        assert store.clear_worker_output("meta") == 1
        assert changed()
        store.store_output(b, "meta", "c", {}, {"m": 4})
        assert changed()
        store.clear()
        assert changed()

    def test_clear_drops_everything(self, store: DataStore) -> None:
        a, b = put(store, b"clear all a"), put(store, b"clear all b")
        store.add_tags(a, ["t"])
        store.add_link(a, b)
        store.store_sample_set("s", [a, b])
        store.store_output(a, "meta", "c", {}, {"x": 1})
        store.clear()
        assert (store.count_samples(), store.total_sample_bytes(), list(store.iter_md5s())) == (0, 0, [])
        assert not store.has_sample(a) and store.get_sample_bytes(a) is None
        assert store.get_all_tags() == {} and store.get_children(a) == [] and store.get_parents(b) == []
        assert store.get_sample_set("s") is None and store.get_output(a, "meta") is None
        assert put(store, b"clear all a") == a

    def test_every_byte_value_round_trips(self, store: DataStore) -> None:
        data = bytes(range(256)) + bytes(range(255, -1, -1)) + b"\x00" * 10
        md5 = put(store, data)
        assert store.get_sample_bytes(md5) == data
        assert store.get_sample_info(md5)["length"] == 522

    def test_five_megabyte_sample_round_trips(self, store: DataStore) -> None:
        data = random.Random(5).randbytes(5 * 1024 * 1024)
        md5 = put(store, data, "big.bin")
        start = time.perf_counter()
        back = store.get_sample_bytes(md5)
        assert time.perf_counter() - start < 5
        assert len(back) == 5 * 1024 * 1024 and hashlib.md5(back).hexdigest() == md5
        assert store.total_sample_bytes() == 5 * 1024 * 1024

    def test_unicode_filename_round_trips(self, store: DataStore) -> None:
        name = "résumé_Жук_日本語_😈 .exe"
        md5 = put(store, b"unicode name", name, "exe")
        assert store.get_sample_info(md5)["filename"] == name

    def test_md5s_with_prefix_returns_sorted_matches_up_to_the_limit(self, store: DataStore) -> None:
        md5s = sorted(put(store, b"prefix %d" % i) for i in range(300))
        for prefix in ("", md5s[0][:1], md5s[7][:2], md5s[42][:5], md5s[99]):
            expected = [m for m in md5s if m.startswith(prefix)]  # the hand count, by plain string matching
            assert store.md5s_with_prefix(prefix, 1000) == expected
            assert store.md5s_with_prefix(prefix, 3) == expected[:3]
        assert store.md5s_with_prefix("f" * 32, 10) == ([md5s[-1]] if md5s[-1] == "f" * 32 else [])
        assert store.md5s_with_prefix(md5s[0][:1], 0) == []
        missing = next(p for p in (f"{i:03x}" for i in range(4096)) if not any(m.startswith(p) for m in md5s))
        assert store.md5s_with_prefix(missing, 10) == []


def test_sqlite_md5_prefix_lookup_is_an_index_range_not_a_scan(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/wb.db")
    try:
        statements: list[str] = []
        store._db.set_trace_callback(statements.append)  # the SQL the store really runs, values bound
        store.md5s_with_prefix("ab", 10)
        store._db.set_trace_callback(None)
        plan = store._db.execute(f"EXPLAIN QUERY PLAN {statements[-1]}").fetchall()
        detail = " ".join(row[-1] for row in plan)
        assert "SEARCH samples USING COVERING INDEX" in detail and "(md5>? AND md5<?)" in detail, detail
        assert "SCAN" not in detail
    finally:
        store.close()


def test_sqlite_selections_are_index_ranges_never_a_scan_of_samples(tmp_path: Path) -> None:
    """Issue 17: every page query of iter_md5s (all, type_tag, tags, both) searches an index; none scans."""
    store = open_store(f"sqlite:///{tmp_path}/wb.db")
    try:
        md5 = put(store, b"one", type_tag="exe")
        store.add_tags(md5, ["t1", "t2"])
        statements: list[str] = []
        store._db.set_trace_callback(statements.append)  # the SQL the store really runs, values bound
        for type_tag, tags in ((None, None), ("exe", None), (None, ["t1"]), ("exe", ["t1", "t2"])):
            assert list(store.iter_md5s(type_tag=type_tag, tags=tags)) == [md5]
        store._db.set_trace_callback(None)
        assert len(statements) == 4
        for sql in statements:  # a page is read by a subquery and joined into one string by an outer one
            steps = [row[-1] for row in store._db.execute(f"EXPLAIN QUERY PLAN {sql}")]
            detail = " ".join(steps)
            tables = [step for step in steps if step.startswith("SCAN") and not step.startswith("SCAN (subquery")]
            assert not tables and "TEMP B-TREE" not in detail, (sql, detail)
            assert "SEARCH" in detail, detail
    finally:
        store.close()


def test_sqlite_selection_pages_with_an_odd_length_md5_are_read_row_by_row(tmp_path: Path) -> None:
    """A page is one joined string cut every 32 characters; a row written by hand with another length must not
    shift the cuts (that page is read row by row)."""
    store = open_store(f"sqlite:///{tmp_path}/wb.db")
    try:
        first = put(store, b"one", type_tag="exe")
        with store._db:
            store._db.execute("INSERT INTO samples VALUES ('short', 'by hand', 'exe', 1, '2026-01-01T00:00:00')")
        last = put(store, b"two", type_tag="exe")
        assert list(store.iter_md5s()) == list(store.iter_md5s(type_tag="exe")) == [first, "short", last]
    finally:
        store.close()


def test_sqlite_store_made_before_sample_tags_and_counts_gets_them_on_open(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/wb.db"
    store = open_store(uri)
    a, b = put(store, b"old a"), put(store, b"old bb")
    store.add_tags(a, ["t1"])
    store._db.executescript("DROP TABLE sample_tags; DROP TABLE store_counts;")  # as a store from before
    store.close()
    store = open_store(uri)
    try:
        assert list(store.iter_md5s(tags=["t1"])) == [a]
        assert (store.count_samples(), store.total_sample_bytes()) == (2, 11)
        assert b in store.iter_md5s()
    finally:
        store.close()


def test_sqlite_sample_set_from_before_membership_rows_is_read_and_removed(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/wb.db")
    try:
        with store._db:
            store._db.execute("INSERT INTO sample_sets VALUES ('old', '[\"a\", \"b\"]')")
        assert store.get_sample_set("old") == ["a", "b"] and store.sample_set_size("old") == 2
        assert store.store_sample_set("old", ["c"]) == "old" and store.get_sample_set("old") == ["a", "b"]
        assert store.remove_sample_set("old") is True and store.get_sample_set("old") is None
    finally:
        store.close()


def test_sqlite_store_keeps_everything_after_close_and_reopen(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/wb.db"
    store = open_store(uri)
    a, b = put(store, b"persist a", "a.exe", "exe"), put(store, b"persist b", "b.txt", "txt")
    store.add_tags(a, ["keep"])
    store.add_link(a, b)
    store.store_sample_set("s", [a, b])
    store.store_output(a, "meta", "c1", {"meta": "v"}, {"x": [1, 2]})
    info = store.get_sample_info(a)
    store.close()

    reopened = open_store(uri)
    try:
        assert reopened.get_sample_info(a) == info and reopened.get_sample_bytes(b) == b"persist b"
        assert list(reopened.iter_md5s()) == [a, b] and reopened.get_tags(a) == ["keep"]
        assert reopened.get_children(a) == [b] and reopened.get_sample_set("s") == [a, b]
        doc = reopened.get_output(a, "meta")
        assert (doc["chain_version"], doc["versions"], doc["output"]) == ("c1", {"meta": "v"}, {"x": [1, 2]})
    finally:
        reopened.close()


def test_unknown_datastore_scheme_names_the_accepted_forms() -> None:
    with pytest.raises(BadArgument, match=r"unknown datastore URI 'redis://x'; use sqlite:///"):
        open_store("redis://x")


class TestMongoDocuments:
    """What a MongoDB client sees: plain documents, GridFS bytes, the indexes, and the store_sample race."""

    def test_sample_metadata_is_a_plain_document_and_bytes_are_in_gridfs(self, mongo_store: Any) -> None:
        md5 = put(mongo_store, b"doc bytes", "d.exe", "exe")
        mongo_store.add_tags(md5, ["t"])
        assert mongo_store.store_sample(b"doc bytes", md5, "again.exe", "exe") is False
        doc = mongo_store._db.samples.find_one({"_id": md5})
        assert {k: doc[k] for k in ("filename", "type_tag", "length", "tags")} == {
            "filename": "d.exe", "type_tag": "exe", "length": 9, "tags": ["t"]}
        assert isinstance(doc["import_time"], str)
        files = list(mongo_store._db["fs.files"].find())
        assert len(files) == 1 and files[0]["length"] == 9 and files[0]["filename"] == md5
        mongo_store.remove_sample(md5)
        assert mongo_store._db["fs.files"].count_documents({}) == 0
        assert mongo_store._db["fs.chunks"].count_documents({}) == 0

    def test_losing_a_store_sample_race_keeps_one_gridfs_copy(self, mongo_store: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
        md5 = put(mongo_store, b"raced", "winner.bin")
        # The loser checked has_sample before the winner's metadata landed, then hits the unique _id.
        monkeypatch.setattr(mongo_store, "has_sample", lambda _md5: False)
        assert mongo_store.store_sample(b"raced", md5, "loser.bin", "data") is False
        assert mongo_store._db["fs.files"].count_documents({}) == 1
        assert mongo_store.get_sample_info(md5)["filename"] == "winner.bin"
        assert mongo_store.get_sample_bytes(md5) == b"raced"

    def test_outputs_are_subdocuments_unless_keys_are_forbidden(self, mongo_store: Any) -> None:
        md5 = put(mongo_store, b"out docs")
        mongo_store.store_output(md5, "plain", "c", {"plain": "1"}, {"n": 1, "l": [{"k": "v"}]})
        mongo_store.store_output(md5, "dotted", "c", {"dotted": "1"}, {"a.b": 1})
        plain = mongo_store._db.outputs.find_one({"md5": md5, "worker": "plain"})
        assert plain["output"] == {"n": 1, "l": [{"k": "v"}]} and "output_json" not in plain
        dotted = mongo_store._db.outputs.find_one({"md5": md5, "worker": "dotted"})
        assert dotted["output_json"] == '{"a.b": 1}' and "output" not in dotted

    def test_indexes_exist_and_md5_worker_is_unique(self, mongo_store: Any) -> None:
        def keys(collection: str) -> list[list[tuple[str, int]]]:
            indexes = mongo_store._db[collection].index_information().values()
            return [[tuple(k) for k in ix["key"]] for ix in indexes]

        assert [("type_tag", 1)] in keys("samples") and [("tags", 1)] in keys("samples")
        assert [("import_time", 1), ("file_id", 1)] in keys("samples")
        for field in ("tags", "type_tag"):  # issue 17: a selection is an index range in age order, no sort
            assert [(field, 1), ("import_time", 1), ("file_id", 1)] in keys("samples")
        assert [("child", 1), ("parent", 1)] in keys("links")
        mongo_store._db.outputs.insert_one({"md5": "m", "worker": "w"})
        with pytest.raises(pymongo.errors.DuplicateKeyError, match="(?i)duplicate key"):
            mongo_store._db.outputs.insert_one({"md5": "m", "worker": "w"})


def test_mongomock_database_name_comes_from_the_uri_path() -> None:
    assert open_store("mongomock://x/mydb").db_name == "mydb"
    assert open_store("mongomock://x").db_name == "workbench"


def test_unreachable_mongodb_raises_store_error_without_the_password() -> None:
    uri = "mongodb://user:s3cret@127.0.0.1:1/db?serverSelectionTimeoutMS=200"
    with pytest.raises(StoreError, match=r"cannot open MongoDB store mongodb://\*\*\*@127\.0\.0\.1:1/") as e:
        open_store(uri)
    assert "s3cret" not in str(e.value)


def test_malformed_mongodb_uri_raises_store_error() -> None:
    with pytest.raises(StoreError, match="bad MongoDB URI 'mongodb://': .*; use mongodb://host:port/dbname"):
        open_store("mongodb://")


class TestPropertyGraphContract:
    """The original's Neo4j calls, kept in the store: the same on every backend."""

    def test_nodes_merge_labels_and_rels_are_recorded_once(self, store: DataStore) -> None:
        store.add_node("a" * 32, "aaaaaa", ["exe", "bad"])
        store.add_node("a" * 32, "renamed", ["exe", "packed"])
        store.add_rel("a" * 32, "b" * 32, "ssdeep")
        store.add_rel("a" * 32, "b" * 32, "ssdeep")
        store.add_rel("a" * 32, "b" * 32, "imports")
        assert store.has_node("a" * 32) and store.has_node("b" * 32) and not store.has_node("c" * 32)
        nodes, rels = (list(part) for part in store.iter_graph())
        assert nodes == [{"id": "a" * 32, "name": "renamed", "labels": ["bad", "exe", "packed"]},
                         {"id": "b" * 32, "name": "b" * 32, "labels": []}]
        assert sorted(r["rel"] for r in rels) == ["imports", "ssdeep"]
        store.clear_graph()
        assert [list(part) for part in store.iter_graph()] == [[], []]


class TestGroupContract:
    """Chain leases and server membership: what keeps several servers over one store from doubling work."""

    def test_a_lease_is_taken_once_until_released_or_expired(self, store: DataStore) -> None:
        assert store.take_lease("md5:view:v1", "server-a", 30)
        assert not store.take_lease("md5:view:v1", "server-b", 30)
        assert store.take_lease("md5:view:v1", "server-a", 30)  # the holder renews
        assert store.lease_holder("md5:view:v1") == "server-a"
        store.release_leases(["md5:view:v1"], "server-b")  # not b's to give up
        assert store.lease_holder("md5:view:v1") == "server-a"
        store.release_leases(["md5:view:v1"], "server-a")
        assert store.lease_holder("md5:view:v1") is None
        assert store.take_lease("md5:view:v1", "server-b", 0.2)
        time.sleep(0.3)  # b died without releasing: its lease runs out
        assert store.lease_holder("md5:view:v1") is None
        assert store.take_lease("md5:view:v1", "server-a", 30)
        assert store.take_lease("other-key", "server-b", 30)  # leases are per key

    def test_a_holder_gives_up_ended_leases_in_the_write_that_takes_the_next(self, store: DataStore) -> None:
        keys = [f"md5-{i}:view:v1" for i in range(1200)]  # more than one SQL statement's parameters
        for key in keys:
            assert store.take_lease(key, "server-a", 30)
        assert store.take_lease("md5-b:view:v1", "server-b", 30)
        assert store.take_lease("next:view:v1", "server-a", 30, release=[*keys, "md5-b:view:v1"])
        assert [store.lease_holder(k) for k in (keys[0], keys[-1])] == [None, None]
        assert store.lease_holder("md5-b:view:v1") == "server-b"  # only the holder's own are given up
        assert store.lease_holder("next:view:v1") == "server-a"
        assert not store.take_lease("md5-b:view:v1", "server-a", 30, release=["next:view:v1"])
        assert store.lease_holder("next:view:v1") is None  # given up even when the take is refused
        store.release_leases([], "server-a")

    def test_one_write_renews_every_lease_of_a_holder(self, store: DataStore) -> None:
        for key in ("k1", "k2"):
            assert store.take_lease(key, "server-a", 0.3)
        assert store.take_lease("k3", "server-b", 0.3)
        store.renew_leases("server-a", 30)
        time.sleep(0.4)
        assert [store.lease_holder(k) for k in ("k1", "k2", "k3")] == ["server-a", "server-a", None]

    def test_servers_register_and_are_listed_while_seen(self, store: DataStore) -> None:
        store.register_server("wb1", {"address": "tcp://10.0.0.1:4242", "procs": 2})
        store.register_server("wb2", {"address": "tcp://10.0.0.2:4242", "procs": 4})
        store.register_server("wb1", {"address": "tcp://10.0.0.1:4242", "procs": 3})
        servers = store.list_servers(seen_within=60)
        assert [(s["name"], s["procs"]) for s in servers] == [("wb1", 3), ("wb2", 4)]
        assert all(time.time() - s["seen"] < 60 for s in servers)
        time.sleep(0.25)
        assert store.list_servers(seen_within=0.2) == []
class TestBrowsingContract:
    """find_samples / count_by_type_tag / count_outputs (the web view's queries), checked against hand counts."""

    @pytest.fixture
    def corpus(self, store: DataStore) -> list[dict[str, Any]]:
        """40 samples, stored one by one (so their import order is known): names, types and tags vary."""
        rows = []
        for i in range(40):
            name = ["Invoice_%d.EXE", "report%d.pdf", "x%d", "100%%_off_%d.zip"][i % 4] % i
            type_tag = ["exe", "pdf", "data", "zip"][i % 4]
            md5 = put(store, b"browse %d" % i, name, type_tag)
            if i % 5 == 0:
                store.add_tags(md5, ["five"])
            rows.append({"md5": md5, "filename": name, "type_tag": type_tag, "tags": ["five"] if i % 5 == 0 else []})
            time.sleep(0.001)  # distinct import times on every backend
        return rows[::-1]  # newest first, as find_samples returns them

    def test_no_filter_is_the_most_recent_samples_paged(self, store: DataStore, corpus: list[dict]) -> None:
        assert [s["md5"] for s in store.find_samples(limit=7)] == [r["md5"] for r in corpus[:7]]
        assert [s["md5"] for s in store.find_samples(offset=7, limit=7)] == [r["md5"] for r in corpus[7:14]]
        assert store.find_samples(offset=40, limit=7) == [] and store.find_samples(limit=0) == []
        first = store.find_samples(limit=1)[0]
        assert first == store.get_sample_info(corpus[0]["md5"])

    @pytest.mark.parametrize("needle", ["invoice", "INVOICE_1", "rep", ".e", "x3", "%_", "_off_1", "zzz", "1"])
    def test_filename_is_a_case_insensitive_substring(self, store: DataStore, corpus: list[dict],
                                                      needle: str) -> None:
        expected = [r["md5"] for r in corpus if needle.lower() in r["filename"].lower()]
        assert [s["md5"] for s in store.find_samples(filename=needle, limit=100)] == expected
        assert [s["md5"] for s in store.find_samples(filename=needle, offset=2, limit=3)] == expected[2:5]

    def test_filters_combine(self, store: DataStore, corpus: list[dict]) -> None:
        for kwargs, keep in [
            ({"type_tag": "pdf"}, lambda r: r["type_tag"] == "pdf"),
            ({"tag": "five"}, lambda r: "five" in r["tags"]),
            ({"tag": "five", "type_tag": "exe"}, lambda r: "five" in r["tags"] and r["type_tag"] == "exe"),
            ({"filename": "invoice", "tag": "five"}, lambda r: "invoice" in r["filename"].lower() and r["tags"]),
            ({"md5_prefix": corpus[3]["md5"][:1]}, lambda r: r["md5"].startswith(corpus[3]["md5"][:1])),
            ({"md5_prefix": corpus[3]["md5"]}, lambda r: r["md5"] == corpus[3]["md5"]),
            ({"type_tag": "nope"}, lambda r: False), ({"tag": "nope"}, lambda r: False),
        ]:
            expected = [r["md5"] for r in corpus if keep(r)]
            assert [s["md5"] for s in store.find_samples(**kwargs, limit=100)] == expected, kwargs

    def test_filename_search_sees_removed_samples_go(self, store: DataStore, corpus: list[dict]) -> None:
        gone = corpus[0]["md5"]
        store.remove_sample(gone)
        assert gone not in [s["md5"] for s in store.find_samples(filename="report", limit=100)]
        store.clear()
        assert store.find_samples(filename="report") == [] and store.find_samples() == []

    def test_counts_by_type_tag_and_outputs(self, store: DataStore, corpus: list[dict]) -> None:
        expected: dict[str, int] = {}
        for r in corpus:
            expected[r["type_tag"]] = expected.get(r["type_tag"], 0) + 1
        assert store.count_by_type_tag() == expected
        assert store.count_outputs() == {}
        store.store_outputs([(r["md5"], "meta", "c", {}, {"n": 1}) for r in corpus[:9]])
        store.store_output(corpus[0]["md5"], "strings", "c", {}, {"strings": []})
        store.store_output(corpus[0]["md5"], "meta", "c2", {}, {"n": 2})  # replaced, not counted twice
        assert store.count_outputs() == {"meta": 9, "strings": 1}


def test_sqlite_filename_search_is_an_index_lookup_and_survives_reopen(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/wb.db"
    store = open_store(uri)
    md5 = put(store, b"indexed", "Quarterly_Report.pdf", "pdf")
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    store.find_samples(filename="report", limit=5)
    store._db.set_trace_callback(None)
    query = next(sql for sql in statements if sql.startswith("SELECT"))
    plan = " ".join(row[-1] for row in store._db.execute(f"EXPLAIN QUERY PLAN {query}").fetchall())
    assert "VIRTUAL TABLE INDEX" in plan and "SCAN s" not in plan, plan
    store._db.execute("DROP TABLE samples_filename")  # a store made before the index existed
    store.close()
    reopened = open_store(uri)
    try:
        assert [s["md5"] for s in reopened.find_samples(filename="quarterly")] == [md5]
    finally:
        reopened.close()
# --- fuzzy-hash similarity index (issue 10) ------------------------------------------------------------
def brute_force_ssdeep(query: str, stored: dict[str, str], threshold: int, exclude: str = "") -> list[tuple]:
    """Every stored hash scoring >= threshold (and > 0) with ssdeep.compare, best first then by md5."""
    import ssdeep

    scored = [(ssdeep.compare(query, other), md5) for md5, other in stored.items() if md5 != exclude]
    return sorted(((s, m) for s, m in scored if s > 0 and s >= threshold), key=lambda p: (-p[0], p[1]))


def index_query(store: DataStore, query: str, threshold: int, exclude: str = "") -> list[tuple]:
    """The same answer through the store's index: candidates sharing a key, scored by the same compare."""
    from workbench.analysis import ssdeep_index

    hits, _, _ = ssdeep_index.score(query, store.ssdeep_candidates(ssdeep_index.index_keys(query)), threshold,
                                    10**9, exclude)
    return [(hit["score"], hit["md5"]) for hit in hits]


SSDEEP_EDGE_CASES = [  # (name, hash): runs, block size double/half, short chunks, identical hashes
    ("runs_long", "3:AAAAAAAAAAAAbcdefghijk:xyzxyzx"),
    ("runs_cut", "3:AAAbcdefghijk:xyzxyzx"),
    ("runs_in_second", "3:Zq9d+/aa:qqqqqqqqqqqqq1234567"),
    ("runs_in_second_cut", "3:Zq9d+/ab:qqq1234567"),
    ("base", "96:Jb6kYf0mZbqs1Qh7TkWs3GgqP9rL2vXc8NnPu4YtBd5oHe:Hk0Zq1hTW3g9L2v8nP4td5e"),
    ("double", "192:Hk0Zq1hTW3g9L2v8nP4td5e:aBcDeFgH"),
    ("half", "48:QwErTyUiOpAsDfGhJkLzXcVbNm1234567890abcdefghijklmn:Jb6kYf0mZbqs1Qh7TkWs3G"),
    ("quadruple", "384:Hk0Zq1hTW3g9L2v8nP4td5e:aBcDeFgH"),
    ("short_a", "3:abc:de"),
    ("short_a_again", "3:abc:de"),
    ("short_b", "3:abc:df"),
    ("short_a_runs", "3:abcccccc:de"),
    ("short_runs", "3:abbbbbbc:de"),
    ("short_runs_cut", "3:abbbc:de"),
    ("empty", "3::"),
    ("empty_again", "3::"),
    ("short_other_size", "6:abc:de"),
    ("identical_long", "1536:Xy7+Pq0aBcDeFgHiJkLmNoPqRsTuVwXyZ:AbCdEfGhIjKlMnOp"),
    ("identical_long_again", "1536:Xy7+Pq0aBcDeFgHiJkLmNoPqRsTuVwXyZ:AbCdEfGhIjKlMnOp"),
    ("six_chars", "12:abcdef:ghijkl"),
    ("six_chars_shifted", "12:abcdefg:ghijkl"),
]


def _md5_of(name: str) -> str:
    return hashlib.md5(name.encode()).hexdigest()


def _meta_deep_rows(hashes: dict[str, str], tlsh: dict[str, str] | None = None) -> list[tuple]:
    return [(md5, "meta_deep", "c1", {"meta_deep": "v1"}, {"ssdeep": h, "tlsh": (tlsh or {}).get(md5), "entropy": 1.0})
            for md5, h in hashes.items()]


class TestFuzzyIndexContract:
    """The ssdeep index and TLSH change feed, as base.py documents them, on every backend."""

    def test_edge_cases_and_families_match_a_brute_force_scan(self, store: DataStore) -> None:
        from workbench.analysis.synthetic_hashes import ssdeep_families

        stored = {_md5_of(name): h for name, h in SSDEEP_EDGE_CASES}
        stored.update({_md5_of(f"family{i}"): h for i, h in enumerate(ssdeep_families(600, seed=3))})
        store.store_outputs(_meta_deep_rows(stored))
        for md5, query in list(stored.items())[:len(SSDEEP_EDGE_CASES) + 60]:
            answer = brute_force_ssdeep(query, stored, 0, md5)
            assert index_query(store, query, 0, md5) == answer
            assert [(s, m) for s, m in answer if s >= 60] == brute_force_ssdeep(query, stored, 60, md5)
        found = dict((m, s) for s, m in index_query(store, "3:abc:de", 0))
        assert found == {_md5_of("short_a"): 100, _md5_of("short_a_again"): 100}  # 'abcccccc' cuts to 'abccc'
        assert {m for _, m in index_query(store, "3:abbbc:de", 0)} == {_md5_of("short_runs"), _md5_of("short_runs_cut")}
        assert sorted(index_query(store, "3::", 0)) == sorted([(100, _md5_of("empty")), (100, _md5_of("empty_again"))])
        assert {m for _, m in index_query(store, SSDEEP_EDGE_CASES[4][1], 1)} >= {_md5_of("double"), _md5_of("half")}
        assert _md5_of("quadruple") not in {m for _, m in index_query(store, SSDEEP_EDGE_CASES[4][1], 0)}

    def test_index_follows_store_output_recompute_remove_and_clear(self, store: DataStore) -> None:
        old, new = SSDEEP_EDGE_CASES[4][1], SSDEEP_EDGE_CASES[15][1]
        md5 = put(store, b"indexed sample")
        store.store_output(md5, "meta_deep", "c1", {}, {"ssdeep": old, "tlsh": None})
        assert index_query(store, old, 0) == [(100, md5)]
        store.store_output(md5, "meta_deep", "c2", {}, {"ssdeep": new, "tlsh": None})  # recomputed: replaced
        assert index_query(store, old, 0) == [] and index_query(store, new, 0) == [(100, md5)]
        store.store_outputs([(md5, "meta_deep", "c3", {}, {"ssdeep": old, "tlsh": None})])
        assert index_query(store, new, 0) == [] and index_query(store, old, 0) == [(100, md5)]
        store.store_output(md5, "strings", "c1", {}, {"ssdeep": new})  # another worker's field: not indexed
        assert index_query(store, new, 0) == []
        assert store.remove_sample(md5)
        assert index_query(store, old, 0) == [] and store.ssdeep_candidates(list(range(10))) == []
        other = put(store, b"other sample")
        store.store_output(other, "meta_deep", "c1", {}, {"ssdeep": old, "tlsh": None})
        assert store.clear_worker_output("meta_deep") == 1 and index_query(store, old, 0) == []
        store.store_output(other, "meta_deep", "c1", {}, {"ssdeep": old, "tlsh": None})
        store.clear()
        assert index_query(store, old, 0) == []

    def test_tlsh_digests_since_reports_new_and_recomputed_outputs(self, store: DataStore) -> None:
        digests = {_md5_of(f"t{i}"): f"T1{i:02X}" + "A" * 68 for i in range(4)}
        rows, cursor = store.tlsh_digests_since(None)
        assert rows == []
        store.store_outputs(_meta_deep_rows({m: "3:abc:de" for m in digests}, digests))
        rows, cursor = store.tlsh_digests_since(cursor)
        assert sorted(rows) == sorted(digests.items())
        first = next(iter(digests))
        store.store_output(first, "meta_deep", "c2", {}, {"ssdeep": "", "tlsh": "T1" + "B" * 70})
        rows, _ = store.tlsh_digests_since(cursor)
        assert (first, "T1" + "B" * 70) in rows  # others may be re-read (MongoDB's overlap window), never missed
        assert all(md5 in digests for md5, _ in rows)


def test_sqlite_index_is_built_for_a_store_from_before_the_index(tmp_path: Path) -> None:
    from workbench.analysis.synthetic_hashes import ssdeep_families

    store = open_store(f"sqlite:///{tmp_path}/old.db")
    stored = {_md5_of(f"h{i}"): h for i, h in enumerate(ssdeep_families(500, seed=5))}
    store.store_outputs(_meta_deep_rows(stored))
    expected = {md5: index_query(store, h, 0, md5) for md5, h in list(stored.items())[:50]}
    with store._db:  # what a store written before the index looks like
        store._db.execute("DROP TABLE ssdeep_keys")
        store._db.execute("DROP TABLE fuzzy_hashes")
    store.close()
    store = open_store(f"sqlite:///{tmp_path}/old.db")
    try:
        assert {md5: index_query(store, stored[md5], 0, md5) for md5 in expected} == expected
        assert sum(1 for v in expected.values() if v) > 10
    finally:
        store.close()


def test_mongo_index_keys_are_added_to_documents_from_before_the_index() -> None:
    from workbench.analysis.synthetic_hashes import ssdeep_families
    from workbench.server.data_store import fuzzy_index_mongo
    from workbench.server.data_store.mongo_store import _decode_output

    store = open_store(f"mongomock://test/wb_test_{uuid.uuid4().hex[:12]}")
    try:
        stored = {_md5_of(f"h{i}"): h for i, h in enumerate(ssdeep_families(300, seed=6))}
        store.store_outputs(_meta_deep_rows(stored))
        expected = {md5: index_query(store, h, 0, md5) for md5, h in list(stored.items())[:30]}
        store._db.outputs.update_many({}, {"$unset": {"ssdeep_keys": ""}})
        store._db.store_meta.delete_many({})  # a database from before the index
        assert index_query(store, next(iter(stored.values())), 0) == []
        assert fuzzy_index_mongo.ensure(store._db, _decode_output) == len(stored)
        assert {md5: index_query(store, stored[md5], 0, md5) for md5 in expected} == expected
    finally:
        store.close()


# --- full-text index over outputs (issue 10 part 4) ---------------------------------------------------
MONGOMOCK_NO_TEXT = ("mongomock 4.3 does not implement the $text operator (NotImplementedError: 'The $text "
                     "operator is not implemented in mongomock yet'); this runs on a real MongoDB server when "
                     "WORKBENCH_TEST_MONGO_URI is set")


def _needs_text_search(store: DataStore) -> None:
    if store.uri.startswith("mongomock://"):
        pytest.skip(MONGOMOCK_NO_TEXT)


def _url_fields(*domains: str) -> list[tuple[str, str]]:
    return [("domains.value", "\n".join(domains)), ("urls.value", "\n".join(f"http://{d}/x.php" for d in domains))]


class TestTextIndexContract:
    """index_texts / search_texts / text_index_versions / text_indexes / drop_text_index on every backend."""

    def test_search_finds_a_domain_in_its_field_with_a_snippet_and_not_lookalikes(self, store: DataStore) -> None:
        _needs_text_search(store)
        a, b, c = (put(store, name.encode(), name) for name in ("a", "b", "c"))
        store.index_texts("iocs", [(a, "url", "v1", _url_fields("www.evil.com", "good.org")),
                                   (b, "url", "v1", _url_fields("evil.company.net")),
                                   (c, "url", "v1", [("domains.value", "cdn.EVIL.com")])])
        hits = store.search_texts("iocs", "evil.com", 100)
        assert sorted((h["md5"], h["field"], h["snippet"]) for h in hits) == sorted([
            (a, "domains.value", "www.evil.com"), (a, "urls.value", "http://www.evil.com/x.php"),
            (c, "domains.value", "cdn.EVIL.com")])
        assert all(h["worker"] == "url" for h in hits)
        assert store.search_texts("other_index", "evil.com", 100) == []
        assert store.search_texts("iocs", "evil.com", 1)[0]["md5"] in (a, c)

    def test_every_term_must_be_in_the_same_field_and_quotes_make_a_phrase(self, store: DataStore) -> None:
        _needs_text_search(store)
        a, b = put(store, b"a"), put(store, b"b")
        store.index_texts("pe", [(a, "pe_features", "v1", [("imports", "kernel32.dll CreateRemoteThread\n"
                                                                       "user32.dll MessageBoxA")]),
                                 (b, "pe_features", "v1", [("imports", "kernel32.dll ExitProcess"),
                                                           ("exports", "CreateRemoteThread")])])
        assert [h["md5"] for h in store.search_texts("pe", "kernel32 createremotethread", 10)] == [a]
        assert {h["md5"] for h in store.search_texts("pe", "CreateRemoteThread", 10)} == {a, b}
        assert [h["md5"] for h in store.search_texts("pe", '"kernel32.dll ExitProcess"', 10)] == [b]
        assert store.search_texts("pe", '"ExitProcess kernel32"', 10) == []
        with pytest.raises(BadArgument, match="no letters or digits"):
            store.search_texts("pe", " .. ", 10)

    def test_reindexing_replaces_and_remove_drop_and_clear_forget(self, store: DataStore) -> None:
        _needs_text_search(store)
        a, b = put(store, b"a"), put(store, b"b")
        store.index_texts("iocs", [(a, "url", "v1", _url_fields("old.example")),
                                   (b, "url", "v1", _url_fields("kept.example"))])
        store.index_texts("iocs", [(a, "url", "v2", _url_fields("new.example"))])
        assert store.search_texts("iocs", "old.example", 10) == []
        assert {h["md5"] for h in store.search_texts("iocs", "new.example", 10)} == {a}
        store.remove_sample(b)
        assert store.search_texts("iocs", "kept.example", 10) == []
        store.clear()
        assert store.search_texts("iocs", "new.example", 10) == []

    def test_versions_counts_drop_and_removal_keep_the_bookkeeping(self, store: DataStore) -> None:
        a, b, c = (put(store, name.encode(), name) for name in ("a", "b", "c"))
        assert store.index_texts("iocs", [(a, "url", "v1", _url_fields("a.example")),
                                          (b, "url", "v1", []), (a, "strings", "s1", [])]) == 3
        store.index_texts("iocs", [(a, "url", "v2", _url_fields("a2.example"))])
        store.index_texts("other", [(c, "url", "v1", [])])
        assert store.text_index_versions("iocs", "url", [a, b, c]) == {a: "v2", b: "v1"}
        assert store.text_index_versions("iocs", "strings", [a, b]) == {a: "s1"}
        assert store.text_indexes() == {"iocs": 3, "other": 1}
        store.remove_sample(a)
        assert store.text_index_versions("iocs", "url", [a, b]) == {b: "v1"}
        assert store.drop_text_index("iocs") == 1
        assert store.text_indexes() == {"other": 1}
        assert store.count_samples() == 2 and store.text_index_versions("other", "url", [c]) == {c: "v1"}


def test_sqlite_text_search_is_an_fts5_match_not_a_scan(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/wb.db")
    try:
        plan = store._db.execute(  # noqa: SLF001 - the query plan is the point of this test
            f"EXPLAIN QUERY PLAN {TEXT_SEARCH_SQL}", ('"evil com"', "iocs", 10)).fetchall()
        details = " | ".join(row[-1] for row in plan)
        assert "VIRTUAL TABLE INDEX" in details and "SEARCH f USING INTEGER PRIMARY KEY" in details, details
    finally:
        store.close()
