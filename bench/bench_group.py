"""Group bench: a cold pe_features batch through HAProxy to 2 servers (--procs 1 each, one sqlite file) against
one server with --procs 1, and what HAProxy adds to a cached work_request, side by side in one run.

Rounds alternate the setups on fresh (never computed) PE variants, so both see the same machine. The group's
batch is spread by the server the client talks to: cached results from the store, cold chunks through HAProxy
to whichever server has the fewest connections. Run: python3 bench/bench_group.py [--rounds 4] [--chains 168]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bench_chain import variants
from harness import free_port, machine_line, median, print_rows, start_workbench, temp_dir

from workbench.server.data_store import open_store

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "group"))
from haproxy_support import start_haproxy  # noqa: E402 - the tests' runner of deploy/haproxy.cfg

WORKER = "pe_features"


def store_all(uri: str, samples: list[bytes]) -> list[str]:
    """Store every variant through the bulk path; their md5s in order."""
    import hashlib

    store = open_store(uri)
    try:
        rows = [(data, hashlib.md5(data).hexdigest(), f"variant{i}.exe", "exe") for i, data in enumerate(samples)]
        store.store_samples(rows)
    finally:
        store.close()
    return [row[1] for row in rows]


def cold_batch(client, md5s: list[str]) -> tuple[float, int]:  # noqa: ANN001 - zerorpc.Client
    """Seconds for one cold batch and how many results came back without an error."""
    started = time.perf_counter()
    ok = sum(1 for batch in client.batch_work_request(WORKER, {"md5_list": md5s, "batch_size": 50})
             for result in batch if not result.get("error"))
    return time.perf_counter() - started, ok


def cached_rate(client, md5: str, seconds: float) -> float:  # noqa: ANN001
    """Cached work_request calls per second over ``seconds``."""
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(50):
            client.work_request(WORKER, md5)
        count += 50
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--chains", type=int, default=168, help="cold chains per setup per round")
    args = parser.parse_args()
    print(machine_line())
    samples = variants(args.rounds * args.chains * 2)
    folder = temp_dir()
    single_db, group_db = f"sqlite:///{folder}/single.db", f"sqlite:///{folder}/group.db"
    single_md5s, group_md5s = store_all(single_db, samples), store_all(group_db, samples)

    lb_port = free_port()
    members = []
    for name in ("wb1", "wb2"):
        health = free_port()
        env = {"WORKBENCH_SERVER_HEALTH_PORT": str(health), "WORKBENCH_SERVER_SERVER_NAME": name,
               "WORKBENCH_SERVER_GROUP_ADDRESS": f"tcp://127.0.0.1:{lb_port}"}
        members.append((name, start_workbench(folder, 1, datastore=group_db, env=env), health))
    haproxy = start_haproxy(folder, lb_port, [(n, s.port, h) for n, s, h in members])
    single = start_workbench(folder, 1, datastore=single_db)
    group_client = members[0][1].client()  # replaced below by a client on the balancer
    group_client.close()
    import zerorpc

    group_client = zerorpc.Client(timeout=600, heartbeat=5)
    group_client.connect(f"tcp://127.0.0.1:{lb_port}")
    single_client = single.client(timeout=600)
    try:
        rows, ratios = [("round", "1 server chains/s", "2 servers via HAProxy chains/s", "ratio")], []
        totals = {"single": [0.0, 0], "group": [0.0, 0]}
        for r in range(args.rounds):
            first, last = r * args.chains, (r + 1) * args.chains
            order = [("single", single_client, single_md5s), ("group", group_client, group_md5s)]
            if r % 2:
                order.reverse()
            rates = {}
            for name, client, md5s in order:
                seconds, ok = cold_batch(client, md5s[first:last])
                assert ok == last - first, f"{name}: {ok} of {last - first} chains succeeded"
                totals[name][0] += seconds
                totals[name][1] += ok
                rates[name] = ok / seconds
            ratios.append(rates["group"] / rates["single"])
            rows.append((str(r + 1), f"{rates['single']:.1f}", f"{rates['group']:.1f}", f"{ratios[-1]:.2f}"))
        print_rows("cold pe_features batches (fresh variants each round)", rows)
        single_rate = totals["single"][1] / totals["single"][0]
        group_rate = totals["group"][1] / totals["group"][0]
        print(f"\nall rounds: 1 server {single_rate:.1f} chains/s, 2 servers via HAProxy {group_rate:.1f} chains/s: "
              f"ratio {group_rate / single_rate:.2f} (target >= 1.7; per-round median {median(ratios):.2f})")

        cached = group_md5s[0]
        direct = members[1][1].client(timeout=60)
        via = []
        for _ in range(3):  # alternate, so both sides see the same load
            direct_rate = cached_rate(direct, cached, 3.0)
            balancer_rate = cached_rate(group_client, cached, 3.0)
            via.append((direct_rate, balancer_rate))
        direct_rate = median([d for d, _ in via])
        balancer_rate = median([b for _, b in via])
        print(f"cached work_request: direct {direct_rate:.0f} calls/s, through HAProxy {balancer_rate:.0f} calls/s: "
              f"HAProxy adds {100 * (direct_rate / balancer_rate - 1):.1f}% per call (target <= 15%)")
        chunks = group_client.info()["group"]
        print(f"group: chunks sent {chunks.get('chunks_sent')}, resent {chunks.get('chunks_resent')}, "
              f"servers {[s['name'] for s in chunks.get('servers', [])]}")
    finally:
        group_client.close()
        haproxy.stop()


if __name__ == "__main__":
    main()
