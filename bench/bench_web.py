"""The web view's latency: p50/p95 of ``/sample/<md5>`` (every panel's output cached) and ``/search`` at 1k and
100k stored samples, beside the same data fetched through the RPC API (``work_request`` per panel and the
sample/link calls; ``complete_md5`` + ``get_sample_info`` for a search). Target (issue 13): p95 <= 50 ms at 100k.

The store is filled through its bulk path (``store_samples`` / ``store_outputs``): synthetic samples with mixed
filenames, types and tags, and a stored output per sample so the outputs table has a realistic size. One real PE
is uploaded and every worker that applies to it is run once, so its page shows real, cached outputs. Web and
RPC requests alternate in bursts against one real ``workbench-server --web-port`` process.

    python3 bench/bench_web.py [--sizes 1000 100000] [--requests 300]
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import random
import time
from pathlib import Path

from harness import DATA_DIR, free_port, machine_line, percentile, print_rows, start_workbench, temp_dir

from workbench.server.data_store import open_store

NAMES = ("invoice_{i}.exe", "report-{i}.pdf", "setup{i}.exe", "synthetic{i}.bin", "photo_{i}.jpg.exe")
TYPES = ("exe", "pdf", "exe", "data", "exe")


def fill(uri: str, count: int) -> list[str]:
    """``count`` synthetic samples, 1% tagged, each with a stored ``meta``-shaped output; their md5s."""
    store = open_store(uri)
    rng = random.Random(13)
    md5s: list[str] = []
    try:
        for start in range(0, count, 10_000):
            rows, outputs = [], []
            for i in range(start, min(count, start + 10_000)):
                data = rng.randbytes(256)
                md5 = hashlib.md5(data).hexdigest()
                rows.append((data, md5, NAMES[i % 5].format(i=i), TYPES[i % 5]))
                meta = {"md5": md5, "length": 256, "file_type": "data", "sha256": hashlib.sha256(data).hexdigest()}
                outputs.append((md5, "meta", "bench", {"meta": "bench"}, meta))
                md5s.append(md5)
            store.store_samples(rows)
            store.store_outputs(outputs)
        for md5 in md5s[::100]:
            store.add_tags(md5, ["campaign-x"])
    finally:
        store.close()
    return md5s


class Http:
    """One keep-alive HTTP/1.1 connection; ``get`` returns the body and checks the status."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def get(self, path: str) -> bytes:
        self.conn.request("GET", path)
        answer = self.conn.getresponse()
        body = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"GET {path}: {answer.status} {body[:300]!r}")
        return body


def timings(calls: dict[str, callable], requests: int, burst: int = 10) -> dict[str, list[float]]:  # noqa: F821
    """Milliseconds per call of each named callable, the callables alternated in bursts (same load for all)."""
    for call in calls.values():  # warm-up
        for _ in range(5):
            call()
    spent: dict[str, list[float]] = {name: [] for name in calls}
    while len(next(iter(spent.values()))) < requests:
        for name, call in calls.items():
            for _ in range(burst):
                started = time.perf_counter()
                call()
                spent[name].append((time.perf_counter() - started) * 1000)
    return spent


def run_size(count: int, requests: int, pe: Path) -> list[tuple[str, ...]]:
    folder = temp_dir()
    uri = f"sqlite:///{folder}/workbench.db"
    started = time.perf_counter()
    md5s = fill(uri, count)
    filled = time.perf_counter() - started
    web_port = free_port()
    server = start_workbench(folder, procs=1, env={"WORKBENCH_SERVER_WEB_PORT": str(web_port)})
    rpc = server.client()
    target = rpc.store_sample(pe.read_bytes(), pe.name, "")
    workers = [w["name"] for w in rpc.list_all_workers() if w["status"] == "ok" and w["name"] != "help_formatter"
               and (not w["applies_to"] or "exe" in w["applies_to"]) and w["name"] != "pe_deep_sim"]
    for name in workers:
        rpc.work_request(name, target)  # computed once: from here on every panel is a cached output
    web = Http(web_port)
    assert target.encode() in web.get(f"/sample/{target}")
    prefix = md5s[len(md5s) // 2][:3]

    def rpc_sample_page() -> None:
        rpc.get_sample_info(target)
        rpc.get_children(target)
        rpc.get_parents(target)
        for name in workers:
            rpc.work_request(name, target)

    def rpc_prefix_search() -> None:
        for md5 in rpc.complete_md5(prefix, 50):
            rpc.get_sample_info(md5)

    spent = timings({
        "web /sample/<md5>": lambda: web.get(f"/sample/{target}"),
        "rpc same data": rpc_sample_page,
        "web /search?q=<3 hex>": lambda: web.get(f"/search?q={prefix}"),
        "rpc complete_md5+infos": rpc_prefix_search,
        "web /search?q=invoice_4": lambda: web.get("/search?q=invoice_4"),
        "web /search?q=tag:campaign-x": lambda: web.get("/search?q=tag:campaign-x"),
        "web /search?q=type:pdf&page=20": lambda: web.get("/search?q=type:pdf&page=20"),
        "web / (recent, counts)": lambda: web.get("/"),
    }, requests)
    server.stop()
    rows = []
    pairs = {"web /sample/<md5>": "rpc same data", "web /search?q=<3 hex>": "rpc complete_md5+infos"}
    for name, values in spent.items():
        ratio = ""
        if name in pairs:
            ratio = f"{percentile(values, 50) / percentile(spent[pairs[name]], 50):.2f}x rpc"
        rows.append((f"{count:,}", name, f"{percentile(values, 50):.1f}", f"{percentile(values, 95):.1f}", ratio))
    print(f"  {count:,} samples filled in {filled:.1f} s; {len(workers)} cached panels on the PE's page")
    return rows


def index_cost(count: int, rounds: int = 3) -> None:
    """What the filename index costs the bulk path: store_samples into a fresh store with and without it (its
    table emptied of function by dropping it), interleaved round by round (256-byte samples: the per-sample
    overhead at its most visible)."""
    rng = random.Random(7)
    rows = []
    for i in range(count):
        data = rng.randbytes(256)
        rows.append((data, hashlib.md5(data).hexdigest(), NAMES[i % 5].format(i=i), TYPES[i % 5]))
    spent: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(rounds):
        for indexed in (False, True):
            store = open_store(f"sqlite:///{temp_dir()}/ingest.db")
            if not indexed:
                store._index_filenames = lambda after_rowid: None  # the same store code, no index writes
            started = time.perf_counter()
            for start in range(0, count, 10_000):
                store.store_samples(rows[start:start + 10_000])
            spent[indexed].append(time.perf_counter() - started)
            store.close()
    plain, indexed = min(spent[False]), min(spent[True])
    print(f"  filename index cost: store_samples of {count:,} samples {plain:.2f} s without, {indexed:.2f} s with "
          f"({(indexed - plain) / count * 1e6:.0f} us a sample, {indexed / plain:.2f}x; best of {rounds})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000], help="stored samples")
    parser.add_argument("--requests", type=int, default=300, help="requests per measured call (default 300)")
    parser.add_argument("--index-samples", type=int, default=40_000, help="samples for the index-cost line")
    args = parser.parse_args()
    print(machine_line())
    index_cost(args.index_samples)
    pe = sorted((DATA_DIR / "pe" / "good").iterdir())[0]
    rows = [("samples", "request", "p50 ms", "p95 ms", "p50 ratio")]
    for count in args.sizes:
        rows += run_size(count, args.requests, pe)
    print_rows("web view latency (one client, keep-alive; RPC: the same data through the API)", rows)
    print("\ntarget: p95 <= 50 ms at 100k samples for /sample/<md5> and /search")


if __name__ == "__main__":
    main()
