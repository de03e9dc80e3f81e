"""Issue 17: store-wide calls at medium-data scale, 100k beside 1M samples, on a real server.

For each size a sqlite store is built through the bulk path (``workbench.testing.build_scale_store``: small
samples, 10% tagged t1, 1% t2, a cached ``meta`` output each) and one workbench-server (``--procs 1``) serves
it. Printed side by side:

* the longest wait of a client looping on ``version()`` (its own process) during each store-wide call
  (target <= 100 ms at 1M);
* server peak RSS over idle during a full selection and a full cached batch (target <= 50 MB, flat in size);
* the first result of a 1% tag selection (target <= 50 ms at 1M);
* two full selections at once (both must succeed);
* a second user's cached ``work_request`` p99 while a full cached batch streams, against idle (target <= 3x).

The machine is shared (2 cores): figures are noisy, the load average is printed first.

    python3 bench/bench_scale.py [--sizes 100000,1000000]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path
from typing import Any

import gevent
from harness import machine_line, percentile, print_rows, start_workbench, temp_dir, timed

from workbench.testing import CallLooper, build_scale_store


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_over_idle(pid: int, call: Any) -> tuple[Any, float]:
    """``call()``'s result and the server's peak RSS during it over its RSS just before (MB)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    idle = rss_mb(pid)
    result = call()
    return result, rss_mb(pid, "VmHWM") - idle


def spent(looper: CallLooper, name: str) -> float:
    """Seconds the call measured under ``name`` took."""
    begin, end = looper.spans[name]
    return end - begin


def drain(stream: Any) -> int:
    return sum(len(batch) if isinstance(batch, list) else 1 for batch in stream)


def first_result(call: Any) -> float:
    """Seconds from making a streaming call to its first result (the rest is read and dropped)."""
    started = time.perf_counter()
    stream = iter(call())
    next(stream)
    took = time.perf_counter() - started
    drain(stream)
    return took


def measure(size: int) -> dict[str, str]:
    """Every figure at one store size, as printable strings."""
    folder = temp_dir("workbench-scale-")
    datastore = f"sqlite:///{folder}/scale.db"
    built, md5s = timed(lambda: build_scale_store(datastore, size))
    server = start_workbench(folder, procs=1, datastore=datastore)
    pid, client = server.proc.pid, server.client(timeout=600)
    figures: dict[str, str] = {"build through store_samples": f"{built:.0f} s",
                               "server RSS idle": f"{rss_mb(pid):.0f} MB"}
    looper = CallLooper(server.endpoint, folder)
    try:
        everything, grown = looper.during(
            "generate_sample_set(all)", lambda: peak_over_idle(pid, lambda: client.generate_sample_set(None, None)))
        took = spent(looper, "generate_sample_set(all)")
        figures["generate_sample_set(all): time"] = f"{took:.2f} s"
        figures["peak RSS over idle: full selection"] = f"{grown:.1f} MB"
        rare = looper.during("generate_sample_set(['t2'])", lambda: client.generate_sample_set(["t2"], None))
        took = spent(looper, "generate_sample_set(['t2'])")
        figures["generate_sample_set(['t2']) (1%): time"] = f"{took * 1000:.0f} ms"
        first = looper.during("batch_work_request(tags t2)", lambda: first_result(
            lambda: client.batch_work_request("meta", {"tags": ["t2"], "batch_size": 100})))
        figures["1% tag batch: first result"] = f"{first * 1000:.1f} ms"
        for name in ("get_all_tags", "get_type_tags", "info"):
            looper.during(name, getattr(client, name))
            took = spent(looper, name)
            figures[f"{name}: time"] = f"{took * 1000:.0f} ms"
        count, grown = looper.during("batch_work_request(all, cached)", lambda: peak_over_idle(
            pid, lambda: drain(client.batch_work_request("meta", {"batch_size": 100}))))
        took = spent(looper, "batch_work_request(all, cached)")
        assert count == size, f"{count} results for {size} samples"
        figures["cached batch over all (batch_size 100): time"] = f"{took:.1f} s ({size / took:,.0f}/s)"
        figures["peak RSS over idle: full cached batch"] = f"{grown:.1f} MB"
        looper.during("set_work_request(1% set)", lambda: drain(
            client.set_work_request("meta", rare, {"batch_size": 100})))
        others = [server.client(timeout=600) for _ in range(2)]
        calls = looper.during("two generate_sample_set(all) at once", lambda: gevent.joinall(
            [gevent.spawn(other.generate_sample_set, None, "data") for other in others]))
        took = spent(looper, "two generate_sample_set(all) at once")
        figures["two full selections at once"] = (
            f"{sum(c.successful() for c in calls)}/2 ok in {took:.1f} s" + (", same id" if calls[0].value ==
                                                                            calls[1].value else ", ids differ"))
        looper.during("remove_sample_set(all)", lambda: client.remove_sample_set(everything))
        took = spent(looper, "remove_sample_set(all)")
        figures["remove_sample_set(all): time"] = f"{took:.2f} s"
        waits = looper.calls()
    finally:
        looper.kill()

    cycle = [["meta", md5] for md5 in random.Random(size).sample(md5s, 500)]
    user = CallLooper(server.endpoint, folder, "work_request", cycle)
    try:
        user.during("idle", lambda: time.sleep(3))
        user.during("full batch", lambda: drain(client.batch_work_request("meta", {"batch_size": 100})))
        second = user.calls()
    finally:
        user.kill()
    idle, busy = percentile(second["idle"], 99), percentile(second["full batch"], 99)
    figures["second user cached work_request p99: idle"] = f"{idle * 1000:.2f} ms"
    figures["second user p99 during a full batch"] = f"{busy * 1000:.2f} ms ({busy / idle:.1f}x idle)"

    looper = CallLooper(server.endpoint, folder)
    try:
        cleared = looper.during("clear_worker_output('meta')", lambda: client.clear_worker_output("meta"))
        took = spent(looper, "clear_worker_output('meta')")
        waits.update(looper.calls())
    finally:
        looper.kill()
    figures["clear_worker_output('meta'): time"] = f"{took:.1f} s ({cleared:,} outputs)"
    wal = Path(f"{folder}/scale.db-wal")
    figures["WAL after clear_worker_output"] = f"{wal.stat().st_size / 2**20:.1f} MB" if wal.exists() else "none"
    for name, took in waits.items():
        figures[f"longest version() wait: {name}"] = f"{max(took, default=0) * 1000:.1f} ms ({len(took)} calls)"
    server.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="store sizes, comma-separated")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(machine_line())
    results = {}
    for size in sizes:
        print(f"measuring {size:,} samples...", flush=True)
        results[size] = measure(size)
    names = list(dict.fromkeys(name for figures in results.values() for name in figures))
    rows = [("", *(f"{size:,} samples" for size in sizes))]
    rows += [(name, *(results[size].get(name, "-") for size in sizes)) for name in names]
    print_rows("issue 17: store-wide calls at scale (one run; the machine is shared, figures are noisy)", rows)


if __name__ == "__main__":
    main()
