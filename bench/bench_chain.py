"""Cold pe_features chains: the server with --procs 1 and 2 against the same worker called directly (the floor).

All PE samples of the shared data, each in as many variants (a few overlay bytes appended, so each is a new
sample with a cold cache) as it takes to reach --chains. The floor runs the same worker code in a plain
long-lived process on the same bytes held in memory: no RPC, no store. It freezes its start-up objects out of
the garbage collector as the pool's processes do (``pool_worker.freeze_startup_objects``), so the ratio measures
the framework alone; a reference setup shows the floor with Python's defaults, what a plain script gets.

The samples are cut into slices; each slice runs through every setup in rotating order (the two servers have
their own store each, so both start cold), so the machine's ups and downs hit all setups alike. Each server
run is one ``batch_work_request`` over the slice's md5s (the server keeps max(4, 2 x procs) chains in flight),
read as the client yields the results. The slices are dealt into rounds, each with freshly started floor
processes and servers, because a process's speed also depends on where its memory lands.

Targets: --procs 1 >= 0.85 x the floor (issue 5), >= 0.95 x (issue 16), with the front's CPU <= 0.6 ms a cold
chain (issue 16); --procs 2 >= 1.7 x --procs 1 on a 2-core machine (issue 5). The machine check, two floor
processes at once, shows how much a second process can add on this machine right now.

    python3 bench/bench_chain.py [--chains 3000] [--slices 30] [--rounds 6]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import struct
import subprocess
import sys
import time

from harness import CpuMeter, Server, machine_line, median, pe_files, print_rows, start_workbench, temp_dir

from workbench.clients.client_helper import batch_results
from workbench.server.data_store import open_store

WORKER = "pe_features"


def variants(chains: int) -> list[bytes]:
    """At least ``chains`` distinct PE byte strings: every PE sample, each with a numbered overlay appended."""
    files = [p.read_bytes() for p in pe_files()]
    rounds = math.ceil(chains / len(files))
    return [data + b"WBBENCH" + struct.pack("<I", r) for r in range(rounds) for data in files]


def floor_child(chains: int, same_gc: int) -> None:
    """A floor process: the worker's execute() over variants held in memory, one slice per stdin line
    ("first count"), one JSON line of figures per slice.

    ``same_gc``: the pool processes' garbage-collector settings (the floor the targets use); 0: Python's
    defaults, what a plain script gets (shown for reference)."""
    from workbench.server.execution.pool_worker import freeze_startup_objects
    from workbench.server.planning.plugin_manager import PluginManager

    worker = PluginManager().get(WORKER).instance
    samples = variants(chains)
    worker.execute({"sample": {"raw_bytes": samples[-1]}})  # warm-up (imports, caches)
    if same_gc:
        freeze_startup_objects()  # the pool's processes' garbage-collector settings: the floor gets the same advantage
    print("ready", flush=True)
    for line in sys.stdin:
        first, count = map(int, line.split())
        started, cpu_started = time.perf_counter(), time.process_time()
        for data in samples[first:first + count]:
            worker.execute({"sample": {"raw_bytes": data}})
        print(json.dumps({"chains": count, "seconds": time.perf_counter() - started,
                          "cpu": {"pool": time.process_time() - cpu_started, "front": 0.0, "client": 0.0}}),
              flush=True)


class Floor:
    """A long-lived floor process (started once, so the slices can be short and many)."""

    def __init__(self, chains: int, same_gc: bool) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--floor-child", str(chains), str(int(same_gc))],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            sys.exit("a floor process did not start")

    def start(self, first: int, count: int) -> None:
        self.proc.stdin.write(f"{first} {count}\n")
        self.proc.stdin.flush()

    def result(self) -> dict:
        return json.loads(self.proc.stdout.readline())

    def stop(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def run_floor(floors: list[Floor], md5s: list[str], first: int) -> dict:
    """The floor over a slice; with 2 processes, each takes half of it at the same time (the machine's own
    scaling: what a second core really adds right now, with whatever else is running on it)."""
    cut = [first + round(i * len(md5s) / len(floors)) for i in range(len(floors) + 1)]
    for i, floor in enumerate(floors):
        floor.start(cut[i], cut[i + 1] - cut[i])
    outs = [floor.result() for floor in floors]
    rate = sum(o["chains"] / o["seconds"] for o in outs)  # both run at once: their rates add up
    chains = sum(o["chains"] for o in outs)
    return {"chains": chains, "seconds": chains / rate,
            "cpu": {part: sum(o["cpu"][part] for o in outs) for part in ("pool", "front", "client")}}


def run_server(server: Server, md5s: list[str], first: int) -> dict:
    """One cold batch over ``md5s`` through a running server: chains/s and CPU of front, pool and client."""
    client = server.client()
    run_before = client.info()["counters"].get("chains_run", 0)
    pool = [pid for pid in server.pids() if pid != server.proc.pid]
    groups = {"front": [server.proc.pid], "pool": pool, "client": [os.getpid()]}
    errors = count = 0
    with CpuMeter(groups) as cpu:
        started = time.perf_counter()
        for result in batch_results(client, WORKER, md5_list=md5s):
            count += 1
            errors += "error" in result
        seconds = time.perf_counter() - started
    ran = client.info()["counters"].get("chains_run", 0) - run_before
    if count != len(md5s) or errors or ran != len(md5s):
        sys.exit(f"{count} results, {errors} errors, {ran} chains run (expected {len(md5s)} clean cold chains)")
    return {"chains": count, "seconds": seconds, "cpu": cpu.used}


def _rate(runs: list[dict]) -> float:
    return sum(r["chains"] for r in runs) / sum(r["seconds"] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=3000, help="at least this many chains per setup (default 3000)")
    parser.add_argument("--slices", type=int, default=30, help="each runs every setup on one slice of the "
                                                               "samples, in rotating order (default 30)")
    parser.add_argument("--rounds", type=int, default=6, help="fresh floor and server processes for each round "
                                                              "of slices (default 6)")
    parser.add_argument("--floor-child", type=int, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_child:
        floor_child(*args.floor_child)
        return
    print(machine_line())
    samples = variants(args.chains)
    md5s = [hashlib.md5(data).hexdigest() for data in samples]
    stores = {}
    for procs in (1, 2):  # one store per server: both start cold
        folder = temp_dir()
        uri = f"sqlite:///{folder}/workbench.db"
        store = open_store(uri)
        store.store_samples((data, md5, f"variant{i}.exe", "exe")
                            for i, (data, md5) in enumerate(zip(samples, md5s, strict=True)))
        store.close()
        stores[procs] = (folder, uri)
    print(f"{len(samples)} PE samples ({len(pe_files())} files x {len(samples) // len(pe_files())} variants, "
          f"{sum(map(len, samples)) / 2**20:.0f} MB), worker {WORKER}, {args.slices} slices in {args.rounds} "
          "rounds")

    runs: dict[str, list[dict]] = {"floor": [], "procs1": [], "procs2": [], "floor2": [], "floor_plain_gc": []}
    bounds = [round(i * len(samples) / args.slices) for i in range(args.slices + 1)]
    for round_slices in (range(args.slices)[r::args.rounds] for r in range(args.rounds)):
        # New processes each round: a process's speed depends on where its memory lands (four identical floor
        # processes ran at 72.7, 81.1, 75.7 and 72.8 chains/s, each steady over time), so every setup gets
        # several draws of that lottery instead of one.
        servers = {f"procs{procs}": start_workbench(stores[procs][0], procs, stores[procs][1]) for procs in (1, 2)}
        floors = {"floor": [Floor(len(samples), True)], "floor2": [Floor(len(samples), True) for _ in range(2)],
                  "floor_plain_gc": [Floor(len(samples), False)]}
        for index in round_slices:
            first, part = bounds[index], md5s[bounds[index]:bounds[index + 1]]
            order = list(runs)[index % len(runs):] + list(runs)[:index % len(runs)]
            for name in order:
                if name.startswith("floor"):
                    runs[name].append(run_floor(floors[name], part, first))
                else:
                    runs[name].append(run_server(servers[name], part, first))
            print(f"slice {index + 1} ({len(part)} chains, order {'/'.join(order)}): " + ", ".join(
                f"{name} {r[-1]['chains'] / r[-1]['seconds']:.1f}/s" for name, r in runs.items()))
        for server in servers.values():
            server.stop()
        for group in floors.values():
            for floor in group:
                floor.stop()
        last = {name: rs[-len(round_slices):] for name, rs in runs.items()}
        print(f"  round {len(runs['floor']) // len(round_slices)}: procs1/floor "
              f"{_rate(last['procs1']) / _rate(last['floor']):.2f}, procs2/procs1 "
              f"{_rate(last['procs2']) / _rate(last['procs1']):.2f}")

    rates = {name: _rate(rs) for name, rs in runs.items()}
    slice_ratios = {"p1": median([a["chains"] / a["seconds"] / (f["chains"] / f["seconds"])
                                  for a, f in zip(runs["procs1"], runs["floor"], strict=True)]),
                    "p2": median([b["chains"] / b["seconds"] / (a["chains"] / a["seconds"])
                                  for b, a in zip(runs["procs2"], runs["procs1"], strict=True)])}
    p1_ratio, p2_ratio = rates["procs1"] / rates["floor"], rates["procs2"] / rates["procs1"]
    cpu = {name: {part: sum(r["cpu"][part] for r in rs) / sum(r["chains"] for r in rs) * 1e3
                  for part in ("pool", "front", "client")} for name, rs in runs.items()}
    rows = [("setup", "chains/s", "ratio", "median slice ratio", "target", "CPU ms/chain: worker / front / client")]
    rows.append(("direct execute(), one process (floor)", f"{rates['floor']:.1f}", "baseline", "", "",
                 f"{cpu['floor']['pool']:.2f} / - / -"))
    for name, label, ratio, key, target in (
            ("procs1", "server --procs 1", p1_ratio, "p1", ">= 0.85x (5), 0.95x (16) floor"),
            ("procs2", "server --procs 2", p2_ratio, "p2", ">= 1.70x procs 1")):
        rows.append((label, f"{rates[name]:.1f}", f"{ratio:.2f}x", f"{slice_ratios[key]:.2f}x", target,
                     f"{cpu[name]['pool']:.2f} / {cpu[name]['front']:.2f} / {cpu[name]['client']:.2f}"))
    machine = rates["floor2"] / rates["floor"]
    rows.append(("machine check: 2 floor processes at once", f"{rates['floor2']:.1f}", f"{machine:.2f}x",
                 "", "what a 2nd process adds here now", f"{cpu['floor2']['pool']:.2f} / - / -"))
    plain = rates["floor_plain_gc"] / rates["floor"]
    rows.append(("reference: direct execute(), Python's default GC", f"{rates['floor_plain_gc']:.1f}",
                 f"{plain:.2f}x", "", "what a plain script gets", f"{cpu['floor_plain_gc']['pool']:.2f} / - / -"))
    print_rows(f"{len(samples)} cold chains per setup ({os.cpu_count()} cores; chains/s = all chains / all "
               "seconds)", rows)
    busy = {name: sum(c.values()) * rates[name] / 1e3 for name, c in cpu.items()}
    print("cores kept busy by each setup (CPU seconds per second): "
          + ", ".join(f"{name} {value:.2f}" for name, value in busy.items()))
    front = cpu["procs1"]["front"]
    print(f"RESULT procs1_vs_floor={p1_ratio:.2f} (target 0.85) {'PASS' if p1_ratio >= 0.85 else 'SHORT'}, "
          f"(target 0.95) {'PASS' if p1_ratio >= 0.95 else 'SHORT'}; front CPU {front:.2f} ms a chain "
          f"(target 0.60) {'PASS' if front <= 0.6 else 'SHORT'}; "
          f"procs2_vs_procs1={p2_ratio:.2f} (target 1.70) {'PASS' if p2_ratio >= 1.7 else 'SHORT'}; "
          f"two plain processes reach {machine:.2f}x one on this machine right now")


if __name__ == "__main__":
    main()
