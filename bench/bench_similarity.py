"""Corpus similarity at scale: ssdeep through the index vs the full scan, TLSH scan, similarity_graph, index size.

For each size a sqlite store is filled with synthetic samples and meta_deep outputs carrying synthetic ssdeep
and TLSH digests in families (workbench.analysis.synthetic_hashes), through the store's bulk path (which
writes the index in the same transaction), with the chain version the server computes, so every request
below is the real query path: ``work_request('pe_deep_sim')`` / ``work_request('tlsh_sim')`` on a
workbench-server --procs 2. Side by side, the scan pe_deep_sim did before the index (every stored hash read
and block-size-compatible ones compared) is timed in this process on a few of the same queries.

Targets (issue 10): ssdeep p95 <= 10 ms at 1M on sqlite; TLSH p95 <= 150 ms at 1M; similarity_graph over
100k samples <= 3 minutes.

    python3 bench/bench_similarity.py [--sizes 10000,100000,1000000] [--queries 200] [--graph 100000]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sqlite3
import time
from pathlib import Path

from harness import machine_line, median, percentile, print_rows, start_workbench, temp_dir

from workbench.analysis import fuzzy_similarity
from workbench.analysis.synthetic_hashes import ssdeep_families, tlsh_families
from workbench.server.data_store import open_store
from workbench.server.execution.chain_runner import StoreCorpus
from workbench.server.planning.plugin_manager import PluginManager

CHUNK = 50_000
INDEX_OBJECTS = ("ssdeep_keys", "fuzzy_hashes", "sqlite_autoindex_fuzzy_hashes_1", "sqlite_sequence")


def fill(uri: str, count: int) -> tuple[list[str], float]:
    """``count`` samples with meta_deep outputs through the bulk path; (md5s, seconds)."""
    chain_version, versions = PluginManager().chain_version("meta_deep")
    store = open_store(uri)
    md5s: list[str] = []
    started = time.perf_counter()
    try:
        pairs = zip(ssdeep_families(count, seed=count), tlsh_families(count, seed=count), strict=True)
        for start in range(0, count, CHUNK):
            samples, outputs = [], []
            for i, (ssdeep_hash, tlsh_digest) in zip(range(start, min(count, start + CHUNK)), pairs, strict=False):
                data = b"synthetic %d" % i
                md5 = hashlib.md5(data).hexdigest()
                samples.append((data, md5, f"s{i}.bin", "data"))
                outputs.append((md5, "meta_deep", chain_version, versions,
                                {"entropy": 4.0, "ssdeep": ssdeep_hash, "tlsh": tlsh_digest}))
                md5s.append(md5)
            store.store_samples(samples)
            store.store_outputs(outputs)
    finally:
        store.close()
    return md5s, time.perf_counter() - started


def index_bytes(path: Path) -> int:
    """Bytes the index tables take in the sqlite file (dbstat)."""
    db = sqlite3.connect(path)
    try:
        marks = ",".join("?" * len(INDEX_OBJECTS))
        return db.execute(f"SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name IN ({marks})",
                          INDEX_OBJECTS).fetchone()[0]
    finally:
        db.close()


def upgrade_seconds(path: Path) -> float:
    """Drop the index (a store from before it), then time the build that opening the store does."""
    db = sqlite3.connect(path)
    db.execute("DROP TABLE ssdeep_keys")
    db.execute("DROP TABLE fuzzy_hashes")
    db.close()
    started = time.perf_counter()
    open_store(f"sqlite:///{path}").close()
    return time.perf_counter() - started


def scan_ms(uri: str, md5s: list[str], threshold: int = 25) -> list[float]:
    """The pre-index pe_deep_sim: read every stored ssdeep, compare the block-size-compatible ones."""
    store = open_store(uri)
    out = []
    try:
        for md5 in md5s:
            started = time.perf_counter()
            target = store.get_output(md5, "meta_deep")["output"]["ssdeep"]
            stored = ((m, o.get("ssdeep", "")) for m, o in store.iter_outputs("meta_deep", fields=["ssdeep"]))
            fuzzy_similarity.most_similar(target, stored, 10, threshold, exclude=md5)
            out.append((time.perf_counter() - started) * 1000)
    finally:
        store.close()
    return out


def store_query_ms(uri: str, md5s: list[str]) -> list[float]:
    """The index query alone, in this process: what pe_deep_sim's corpus.similar_ssdeep costs without the RPC."""
    store = open_store(uri)
    out = []
    try:
        for md5 in md5s:
            target = store.get_output(md5, "meta_deep")["output"]["ssdeep"]
            started = time.perf_counter()
            StoreCorpus(store, md5, 0).similar_ssdeep(target, 25, 10)
            out.append((time.perf_counter() - started) * 1000)
    finally:
        store.close()
    return out


def rpc_ms(client, worker: str, md5s: list[str]) -> tuple[list[float], list[dict]]:  # noqa: ANN001 - zerorpc
    out, results = [], []
    for md5 in md5s:
        started = time.perf_counter()
        results.append(client.work_request(worker, md5)[worker])
        out.append((time.perf_counter() - started) * 1000)
    return out, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="stored hashes per store, comma-separated")
    parser.add_argument("--queries", type=int, default=200, help="index queries per size (default 200)")
    parser.add_argument("--scan-queries", type=int, default=20, help="full-scan queries at the smallest size; "
                        "fewer at larger ones (at least 3)")
    parser.add_argument("--graph", type=int, default=100_000, help="similarity_graph over the store of this size "
                        "(0: skip)")
    parser.add_argument("--upgrade", action="store_true", help="also time building the index at open (upgrade)")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    print(machine_line())
    folder = temp_dir()
    rows = [("stored", "fill s", "index B/sample", "ssdeep rpc p50/p95 ms", "index only p50/p95 ms",
             "scan p50/p95 ms (n)", "scan/index p50", "candidates p50", "tlsh first ms", "tlsh p50/p95 ms")]
    rng = random.Random(5)
    for size in sizes:
        sub = folder / f"n{size}"
        sub.mkdir()
        uri = f"sqlite:///{sub}/workbench.db"
        md5s, fill_s = fill(uri, size)
        per_sample = index_bytes(sub / "workbench.db") / size
        print(f"{size:>9,} samples + meta_deep outputs + index written in {fill_s:.1f} s; index {per_sample:.0f} "
              "bytes/sample", flush=True)
        if args.upgrade:
            print(f"          index built at open (upgrade path) in {upgrade_seconds(sub / 'workbench.db'):.1f} s",
                  flush=True)
        server = start_workbench(sub, 2, uri)
        client = server.client(timeout=600)
        picked = rng.sample(md5s, min(args.queries, size))
        for md5 in picked[:10]:  # warm both worker processes (plugins loaded, pages cached)
            client.work_request("pe_deep_sim", md5)
        index_lat, results = rpc_ms(client, "pe_deep_sim", picked)
        store_lat = store_query_ms(uri, picked)
        n_scan = max(3, args.scan_queries * sizes[0] // size)
        scan_lat = scan_ms(uri, picked[:n_scan])
        tlsh_first, _ = rpc_ms(client, "tlsh_sim", picked[:2])  # each worker process fills its cache once
        tlsh_lat, _ = rpc_ms(client, "tlsh_sim", picked)
        candidates = median([r["candidates"] for r in results])
        rows.append((f"{size:,}", f"{fill_s:.0f}", f"{per_sample:.0f}",
                     f"{median(index_lat):.2f} / {percentile(index_lat, 95):.2f}",
                     f"{median(store_lat):.2f} / {percentile(store_lat, 95):.2f}",
                     f"{median(scan_lat):,.0f} / {percentile(scan_lat, 95):,.0f} ({n_scan})",
                     f"{median(scan_lat) / median(index_lat):,.0f}x", f"{candidates:.0f}",
                     f"{max(tlsh_first):,.0f}", f"{median(tlsh_lat):.1f} / {percentile(tlsh_lat, 95):.1f}"))
        print("  " + " | ".join(rows[-1]), flush=True)
        if size == args.graph:
            started = time.perf_counter()
            edges = sum(len(batch) for batch in client.similarity_graph({"threshold": 25, "batch_size": 1000}))
            seconds = time.perf_counter() - started
            print(f"  similarity_graph over {size:,} samples: {edges:,} edges in {seconds:.1f} s "
                  f"(target <= 180 s) {'PASS' if seconds <= 180 else 'SHORT'}", flush=True)
        server.stop()
    print_rows("pe_deep_sim (ssdeep via the index) through work_request vs the pre-index full scan; tlsh_sim", rows)
    last = rows[-1]
    print(f"RESULT at {sizes[-1]:,}: ssdeep p95 {last[3].split(' / ')[1]} ms (target <= 10), "
          f"(index query alone {last[4].split(' / ')[1]} ms), tlsh p95 {last[9].split(' / ')[1]} ms (target <= 150)")


if __name__ == "__main__":
    main()
