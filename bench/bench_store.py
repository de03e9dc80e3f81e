"""The store at scale: has_sample / cached work_request latency at 1k, 100k and 1M samples.

Three sqlite files are filled with small synthetic samples and a ``meta`` output for each (through the store's
bulk path, with the chain version the server computes, so every work_request is a cache hit). One
workbench-server per file; the same random lookups are then made against all three, alternating in bursts,
so load on the machine hits every size alike. Latencies are measured at the client (RPC) and, for the store
alone, with the store API in this process.

Target (issue 5): cached lookup p99 at 1,000,000 samples within 2 x its value at 1,000.

    python3 bench/bench_store.py [--samples 1000000] [--lookups 3000]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import time
from functools import partial
from pathlib import Path

from harness import machine_line, median, percentile, print_rows, start_workbench, temp_dir

from workbench.server.data_store import open_store
from workbench.server.planning.plugin_manager import PluginManager

CHUNK = 20_000


def fill(uri: str, count: int, seed: int) -> tuple[list[str], float]:
    """``count`` synthetic 64-byte samples with meta outputs; (a sample of 10,000 md5s, seconds taken)."""
    chain_version, versions = PluginManager().chain_version("meta")
    rng = random.Random(seed)
    store = open_store(uri)
    picked: list[str] = []
    started = time.perf_counter()
    now = "2026-01-01T00:00:00+00:00"
    try:
        for start in range(0, count, CHUNK):
            samples, outputs = [], []
            for i in range(start, min(count, start + CHUNK)):
                data = rng.randbytes(64)
                md5 = hashlib.md5(data).hexdigest()
                samples.append((data, md5, f"s{i}.bin", "data"))
                outputs.append((md5, "meta", chain_version, versions, {
                    "md5": md5, "sha1": hashlib.sha1(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest(),
                    "length": 64, "file_type": "data", "mime_type": "application/octet-stream",
                    "filename": f"s{i}.bin", "type_tag": "data", "import_time": now}))
            store.store_samples(samples)
            store.store_outputs(outputs)
            picked.extend(s[1] for s in samples[:: max(1, count // 10_000)])
    finally:
        store.close()
    return picked, time.perf_counter() - started


def _get_output(store, md5: str) -> dict | None:  # noqa: ANN001 - a DataStore
    return store.get_output(md5, "meta")


def timed_calls(call, md5s: list[str]) -> list[float]:  # noqa: ANN001 - a one-argument callable
    """Per-call latency in microseconds."""
    out = []
    for md5 in md5s:
        started = time.perf_counter()
        call(md5)
        out.append((time.perf_counter() - started) * 1e6)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000, help="largest store (default 1000000)")
    parser.add_argument("--lookups", type=int, default=3000, help="lookups per size and kind (default 3000)")
    parser.add_argument("--burst", type=int, default=100, help="lookups per size before switching (default 100)")
    args = parser.parse_args()
    print(machine_line())
    sizes = sorted({min(1_000, args.samples), min(100_000, args.samples), args.samples})
    folder = temp_dir()
    stores: dict[int, dict] = {}
    for size in sizes:
        sub = folder / f"n{size}"
        sub.mkdir()
        uri = f"sqlite:///{sub}/workbench.db"
        picked, seconds = fill(uri, size, seed=size)
        db = Path(sub / "workbench.db")
        mb = sum(p.stat().st_size for p in sub.glob("workbench.db*")) / 2**20
        print(f"{size:>9,} samples + meta outputs stored in {seconds:6.1f} s ({size / seconds:,.0f} samples/s, "
              f"{mb:,.0f} MB on disk in {db.name}*)")
        stores[size] = {"uri": uri, "md5s": picked, "folder": sub}

    for entry in stores.values():
        entry["server"] = start_workbench(entry["folder"], 1, entry["uri"])
        entry["client"] = entry["server"].client()
        entry["store"] = open_store(entry["uri"])
        entry["lat"] = {"rpc work_request": [], "rpc has_sample": [], "store get_output": [], "store has_sample": []}
        assert entry["client"].work_request("meta", entry["md5s"][0])["meta"]["md5"] == entry["md5s"][0]

    rng = random.Random(7)
    done = 0
    while done < args.lookups:
        for entry in stores.values():
            batch = [rng.choice(entry["md5s"]) for _ in range(args.burst)]
            client, store, lat = entry["client"], entry["store"], entry["lat"]
            lat["rpc work_request"] += timed_calls(partial(client.work_request, "meta"), batch)
            lat["rpc has_sample"] += timed_calls(client.has_sample, batch)
            lat["store get_output"] += timed_calls(partial(_get_output, store), batch)
            lat["store has_sample"] += timed_calls(store.has_sample, batch)
        done += args.burst

    rows = [("lookup", *(f"{size:,} p50 / p99 us" for size in sizes), f"p99 {sizes[-1]:,} / {sizes[0]:,}")]
    ratios = {}
    for kind in stores[sizes[0]]["lat"]:
        cells = []
        for size in sizes:
            values = stores[size]["lat"][kind]
            cells.append(f"{median(values):,.0f} / {percentile(values, 99):,.0f}")
        ratios[kind] = percentile(stores[sizes[-1]]["lat"][kind], 99) / percentile(stores[sizes[0]]["lat"][kind], 99)
        rows.append((kind, *cells, f"{ratios[kind]:.2f}x"))
    counters = {size: entry["client"].info()["counters"] for size, entry in stores.items()}
    print_rows(f"{done} lookups of each kind per size, random stored md5s, bursts of {args.burst} alternating "
               f"between sizes ({os.cpu_count()} cores)", rows)
    print("\nserver counters (chains_run must be 0: every work_request was a cache hit): "
          + "; ".join(f"{size:,}: {c}" for size, c in counters.items()))
    worst = ratios["rpc work_request"]
    print(f"RESULT cached work_request p99 {sizes[-1]:,} vs {sizes[0]:,} = {worst:.2f}x (target <= 2.00) "
          f"{'PASS' if worst <= 2 else 'SHORT'}; store get_output p99 ratio {ratios['store get_output']:.2f}x")
    for entry in stores.values():
        entry["store"].close()
        entry["server"].stop()


if __name__ == "__main__":
    main()
