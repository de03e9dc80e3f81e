"""Cached results at wire speed: work_request calls/s and warm batch-stream results/s against bare zerorpc.

Targets (issue 5): cached ``work_request`` from one client >= 0.7 x a bare zerorpc no-op call; a warm
``batch_work_request`` stream, counted as the client's generator yields results, >= 3 x a bare zerorpc
stream sending one small dict per message. The baseline server (bare_server.py) runs in the same script and
each round measures both sides back to back.

    python3 bench/bench_cached.py [--samples 20000] [--reps 3] [--seconds 2] [--procs 2]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import time

from harness import (
    CpuMeter,
    machine_line,
    median,
    print_rows,
    rate,
    start_bare,
    start_workbench,
    temp_dir,
)

from workbench.clients.client_helper import batch_results, flatten
from workbench.server.data_store import open_store


def store_synthetic(uri: str, count: int) -> list[str]:
    """``count`` distinct 256-byte samples through the store's bulk path; their md5s."""
    store = open_store(uri)
    rng = random.Random(5)
    md5s: list[str] = []
    try:
        for start in range(0, count, 10_000):
            rows = []
            for i in range(start, min(count, start + 10_000)):
                data = rng.randbytes(256)
                md5 = hashlib.md5(data).hexdigest()
                rows.append((data, md5, f"synthetic{i}.bin", "data"))
                md5s.append(md5)
            store.store_samples(rows)
    finally:
        store.close()
    return md5s


def paired_calls(seconds: float, first, second, burst: int = 100) -> tuple[float, float, int]:  # noqa: ANN001
    """Calls/s of two zero-argument callables alternated in bursts (both see the same load), and calls per side."""
    spent, count = [0.0, 0.0], 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for side, call in enumerate((first, second)):
            started = time.perf_counter()
            for _ in range(burst):
                call()
            spent[side] += time.perf_counter() - started
        count += burst
    return count / spent[0], count / spent[1], count


def consume(stream) -> tuple[int, float]:  # noqa: ANN001 - any iterator
    """(items, items per second) as the iterator yields them."""
    count, started = 0, time.perf_counter()
    for _ in stream:
        count += 1
    return count, rate(count, time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20_000, help="synthetic samples streamed (default 20000)")
    parser.add_argument("--reps", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds per call-rate measurement")
    parser.add_argument("--procs", type=int, default=2, help="workbench-server --procs (default 2)")
    args = parser.parse_args()
    print(machine_line())

    folder = temp_dir()
    uri = f"sqlite:///{folder}/workbench.db"
    started = time.perf_counter()
    md5s = store_synthetic(uri, args.samples)
    print(f"stored {len(md5s)} synthetic samples (bulk path) in {time.perf_counter() - started:.1f} s")

    workbench, bare = start_workbench(folder, args.procs, uri), start_bare(folder)
    wb, raw = workbench.client(), bare.client()
    with CpuMeter({"server": workbench.pids()}) as cpu:
        count, cold_rate = consume(batch_results(wb, "meta"))
    print(f"cold meta over {count} samples (fills the cache): {cold_rate:,.0f} chains/s, "
          f"server CPU {cpu.used['server']:.1f} s")
    counters_before = wb.info()["counters"]
    item = wb.work_request("meta", md5s[0])
    rng = random.Random(1)

    figures: dict[str, list[float]] = {k: [] for k in ("noop", "cached", "bare1", "stream", "bare100", "stream1")}
    server_cpu: dict[str, list[float]] = {"bare": [], "workbench": []}
    for rep in range(args.reps):
        with CpuMeter({"bare": [bare.proc.pid], "workbench": [workbench.proc.pid]}) as cpu:
            noop, cached, calls = paired_calls(args.seconds, lambda: raw.noop("meta", rng.choice(md5s)),
                                        lambda: wb.work_request("meta", rng.choice(md5s)))
        figures["noop"].append(noop)
        figures["cached"].append(cached)
        server_cpu["bare"].append(cpu.used["bare"] / calls * 1e6)
        server_cpu["workbench"].append(cpu.used["workbench"] / calls * 1e6)
        figures["bare1"].append(consume(raw.items(args.samples, item))[1])
        n, stream_rate = consume(batch_results(wb, "meta"))
        assert n == args.samples, f"stream gave {n} results, expected {args.samples}"
        figures["stream"].append(stream_rate)
        figures["bare100"].append(consume(flatten(raw.item_lists(args.samples, 100, item)))[1])
        figures["stream1"].append(consume(batch_results(wb, "meta", batch_size=1))[1])
        print(f"round {rep + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in figures.items()))

    info = wb.info()
    assert info["counters"].get("chains_run") == counters_before.get("chains_run"), "a cached bench ran a chain"
    med = {k: median(v) for k, v in figures.items()}
    call_ratio, stream_ratio = med["cached"] / med["noop"], med["stream"] / med["bare1"]
    print_rows(f"medians of {args.reps} interleaved rounds ({os.cpu_count()} cores, server --procs {args.procs}, "
               f"{args.samples} samples, result {len(str(item))} chars)", [
        ("measure", "rate", "vs baseline", "target"),
        ("bare zerorpc noop('meta', md5) calls/s", f"{med['noop']:,.0f}", "baseline", ""),
        ("cached work_request('meta', md5) calls/s", f"{med['cached']:,.0f}", f"{call_ratio:.2f}x", ">= 0.70x"),
        ("bare zerorpc stream, 1 dict per message, items/s", f"{med['bare1']:,.0f}", "baseline", ""),
        ("warm batch_work_request('meta') results/s (batch_results)", f"{med['stream']:,.0f}",
         f"{stream_ratio:.2f}x", ">= 3.00x"),
        ("  for reference: bare zerorpc stream in lists of 100, items/s", f"{med['bare100']:,.0f}",
         f"{med['stream'] / med['bare100']:.2f}x of it", ""),
        ("  for reference: warm stream with batch_size=1, results/s", f"{med['stream1']:,.0f}",
         f"{med['stream1'] / med['bare1']:.2f}x", ""),
    ])
    print(f"\nserver process CPU per call (median, load-independent): bare noop {median(server_cpu['bare']):.0f} us, "
          f"workbench cached work_request {median(server_cpu['workbench']):.0f} us")
    print(f"server counters: {info['counters']}  (chains_run unchanged by the cached rounds; "
          "sample_reads counts chain runs only)")
    print(f"RESULT cached_call_ratio={call_ratio:.2f} (target 0.70) {'PASS' if call_ratio >= 0.7 else 'SHORT'}; "
          f"warm_stream_ratio={stream_ratio:.2f} (target 3.00) {'PASS' if stream_ratio >= 3 else 'SHORT'}")
    workbench.stop()
    bare.stop()


if __name__ == "__main__":
    main()
