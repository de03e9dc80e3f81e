"""The ssdeep index at size: 100k synthetic hashes in families plus real meta_deep outputs of ../shared/data,
every answer equal to a brute-force ssdeep.compare scan; and index/output consistency after kill -9."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
import ssdeep

from tests.test_store_contract import MONGODB_REAL, REAL_MONGO_URI, SQLITE, _real_mongo_uri, index_query
from workbench.analysis.ssdeep_index import index_keys
from workbench.analysis.synthetic_hashes import ssdeep_families
from workbench.server.data_store import open_store
from workbench.testing import DATA_DIR, REPO_ROOT, make_workbench

SYNTHETIC = 100_000
QUERIES = 200


def brute_force(query: str, by_size: dict[int, dict[str, str]], threshold: int, exclude: str) -> list[tuple]:
    """ssdeep.compare against every stored hash whose block size is equal, double or half (compare gives the
    others 0 without looking), best first then by md5."""
    size = int(query.split(":", 1)[0])
    scored = [(ssdeep.compare(query, other), md5) for near in (size // 2, size, size * 2)
              for md5, other in by_size.get(near, {}).items() if md5 != exclude]
    return sorted(((s, m) for s, m in scored if s > 0 and s >= threshold), key=lambda p: (-p[0], p[1]))


@pytest.mark.parametrize("backend", [SQLITE, MONGODB_REAL])
def test_index_equals_brute_force_on_100k_synthetic_and_real_hashes(backend: str, tmp_path: Path) -> None:
    if not (DATA_DIR / "pe").is_dir():
        pytest.skip(f"test data not found at {DATA_DIR}; set WORKBENCH_TEST_DATA")
    options = {"pe_deep_sim": {"top_n": 10**6, "threshold": 0}}
    workbench = make_workbench(tmp_path, options)
    if backend == "mongodb-real":
        workbench.close()
        from workbench.server.workbench import Workbench
        from workbench.testing import make_config

        config = make_config(_real_mongo_uri(f"wb_test_{os.getpid()}_{int(time.time())}"), options)
        workbench = Workbench(config, procs=0)
    try:
        real = {}
        for path in sorted(p for p in DATA_DIR.rglob("*") if p.is_file())[::4]:  # ~40 files of every type
            md5 = workbench.store_sample(path.read_bytes(), path.name)
            real[md5] = workbench.work_request("meta_deep", md5)["meta_deep"]["ssdeep"]  # the real worker path
        synthetic = {hashlib.md5(b"s%d" % i).hexdigest(): h for i, h in enumerate(ssdeep_families(SYNTHETIC))}
        rows = [(md5, "meta_deep", "synthetic", {}, {"ssdeep": h, "tlsh": None}) for md5, h in synthetic.items()]
        for start in range(0, len(rows), 20_000):
            workbench.store.store_outputs(rows[start:start + 20_000])
        stored = {**synthetic, **real}
        by_size: dict[int, dict[str, str]] = defaultdict(dict)
        for md5, h in stored.items():
            by_size[int(h.split(":", 1)[0])][md5] = h

        rng = random.Random(10)
        non_empty = 0
        for md5 in rng.sample(sorted(synthetic), QUERIES):
            answer = index_query(workbench.store, synthetic[md5], 0, md5)
            assert answer == brute_force(synthetic[md5], by_size, 0, md5), synthetic[md5]
            non_empty += bool(answer)
        assert non_empty > QUERIES // 2  # families: most queries do have neighbours
        for md5, h in real.items():  # the real query path: pe_deep_sim over the index
            result = workbench.work_request("pe_deep_sim", md5)["pe_deep_sim"]
            assert [(hit["score"], hit["md5"]) for hit in result["sim_list"]] == brute_force(h, by_size, 0, md5)
            assert result["compared"] <= result["candidates"] < 1000  # a handful, not 100k
    finally:
        if backend == "mongodb-real":
            import pymongo

            with pymongo.MongoClient(REAL_MONGO_URI) as client:
                client.drop_database(workbench.store.db_name)
        workbench.close()


WRITER = """
import hashlib, random, sys
from workbench.analysis.synthetic_hashes import ssdeep_families
from workbench.server.data_store import open_store
store = open_store(sys.argv[1])
rng = random.Random(int(sys.argv[2]))
hashes = list(ssdeep_families(2000, seed=int(sys.argv[2])))
md5s = [hashlib.md5(b"k%d" % i).hexdigest() for i in range(300)]
store.store_samples([(m.encode(), m, "x", "data") for m in md5s])
print("writing", flush=True)
while True:
    batch = [(rng.choice(md5s), "meta_deep", str(rng.random()), {}, {"ssdeep": rng.choice(hashes), "tlsh": None})
             for _ in range(rng.randint(1, 300))]
    store.store_outputs(batch)
    md5 = rng.choice(md5s)
    store.store_output(md5, "meta_deep", "single", {}, {"ssdeep": rng.choice(hashes), "tlsh": None})
    if rng.random() < 0.2:
        gone = rng.choice(md5s)
        store.remove_sample(gone)
        store.store_samples([(gone.encode(), gone, "x", "data")])
"""


def check_consistent(path: Path) -> int:
    """Every meta_deep output has exactly its hash's keys in the index, and the index holds nothing else."""
    db = sqlite3.connect(path)
    try:
        outputs = dict(db.execute("SELECT md5, json_extract(output, '$.ssdeep') FROM outputs "
                                  "WHERE worker='meta_deep'"))
        hashes = {md5: (sample, h) for sample, md5, h in db.execute("SELECT id, md5, ssdeep FROM fuzzy_hashes")}
        assert {md5: h for md5, (_, h) in hashes.items()} == outputs
        keys: dict[int, set[int]] = defaultdict(set)
        for key, sample in db.execute("SELECT key, sample FROM ssdeep_keys"):
            keys[sample].add(key)
        assert dict(keys) == {sample: set(index_keys(h)) for sample, h in hashes.values() if index_keys(h)}
        return len(outputs)
    finally:
        db.close()


def test_index_and_outputs_stay_consistent_through_kill_9_mid_write(tmp_path: Path) -> None:
    path = tmp_path / "killed.db"
    rng = random.Random(4)
    for round_ in range(4):
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        proc = subprocess.Popen([sys.executable, "-c", WRITER, f"sqlite:///{path}", str(round_)],
                                stdout=subprocess.PIPE, env=env, cwd=REPO_ROOT)
        assert proc.stdout.readline().strip() == b"writing"
        time.sleep(rng.uniform(0.3, 1.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        assert check_consistent(path) > 0
    store = open_store(f"sqlite:///{path}")  # and the store opens and answers afterwards
    try:
        some = next(iter(store.iter_outputs("meta_deep", ["ssdeep"])))
        assert some[0] in {m for _, m in index_query(store, some[1]["ssdeep"], 0)}
    finally:
        store.close()


def test_clearing_the_index_in_pages_empties_it_even_where_one_key_is_shared_by_more_than_a_page() -> None:
    """clear_worker_output('meta_deep') drops the index a page at a time (the loop runs between pages): a key
    shared by many identical hashes must not stop the walk, and nothing may be left."""
    from workbench.server.data_store import fuzzy_index_sqlite as fuzzy

    db = sqlite3.connect(":memory:", isolation_level=None)
    db.executescript(fuzzy.SCHEMA)
    hashes = list(ssdeep_families(100, 5, seed=7))
    same = hashes[0]
    rows = [(f"{n:032x}", {"ssdeep": h}) for n, h in enumerate(hashes + [same] * 30)]
    with db:
        db.execute("BEGIN")
        fuzzy.write(db, rows)
    assert db.execute("SELECT COUNT(*) FROM ssdeep_keys").fetchone()[0] > 100
    turns = []
    fuzzy.clear_in_pages(db, 7, lambda: turns.append(1))
    assert db.execute("SELECT COUNT(*) FROM ssdeep_keys").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM fuzzy_hashes").fetchone()[0] == 0
    assert len(turns) > 10
