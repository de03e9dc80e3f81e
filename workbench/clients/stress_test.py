"""Bounded load on a Workbench server: N clients send work requests until a count or a time limit is reached.

Every loop is bounded (--requests per client, --seconds overall) and the target must be a loopback address
unless --allow-remote is given: point it only at servers you run. Reports throughput, latency percentiles
and errors.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import time

import gevent
import zerorpc

from workbench.clients import client_helper as ch

LIMITS = {"clients": 64, "requests": 100_000, "seconds": 600}


def is_loopback(host: str) -> bool:
    """Whether host resolves to a loopback address only (127.0.0.0/8, ::1)."""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror:
        return False
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


def percentile(values: list[float], fraction: float) -> float | None:
    """The value below which ``fraction`` of the sorted values fall (nearest rank)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def load(host: str, port: int, worker: str, md5s: list[str], clients: int, requests: int,
         seconds: float) -> dict:
    """Run the load with one zerorpc client per greenlet; latencies in ms and error counts by name."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    deadline = time.monotonic() + seconds

    def one_client(number: int) -> None:
        client = ch.connect(host, port)
        try:
            for i in range(requests):
                if time.monotonic() > deadline:
                    return
                started = time.perf_counter()
                try:
                    client.work_request(worker, md5s[(number + i) % len(md5s)])
                    latencies.append((time.perf_counter() - started) * 1000)
                except (zerorpc.RemoteError, zerorpc.TimeoutExpired, zerorpc.LostRemote) as exc:
                    name = getattr(exc, "name", type(exc).__name__)
                    errors[name] = errors.get(name, 0) + 1
        finally:
            client.close()

    started = time.perf_counter()
    gevent.joinall([gevent.spawn(one_client, n) for n in range(clients)], raise_error=True)
    elapsed = time.perf_counter() - started
    done = len(latencies) + sum(errors.values())
    return {"worker": worker, "clients": clients, "requests": done, "ok": len(latencies), "errors": errors,
            "seconds": round(elapsed, 3), "requests_per_s": round(done / elapsed, 1) if elapsed else None,
            "p50_ms": _ms(percentile(latencies, 0.5)), "p95_ms": _ms(percentile(latencies, 0.95)),
            "max_ms": _ms(max(latencies, default=None))}


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def main(argv: list[str] | None = None) -> int:
    """Parse limits, pick samples (stored ones, or one synthetic sample), run the load, print the figures."""
    parser = ch.client_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--worker", default="meta", help="worker to request (default meta)")
    parser.add_argument("--clients", type=int, default=4, help=f"concurrent clients (1-{LIMITS['clients']})")
    parser.add_argument("--requests", type=int, default=100,
                        help=f"requests per client (1-{LIMITS['requests']}, default 100)")
    parser.add_argument("--seconds", type=float, default=30, help=f"time limit (max {LIMITS['seconds']}, default 30)")
    parser.add_argument("--samples", type=int, default=50, help="stored samples to cycle through (default 50)")
    parser.add_argument("--allow-remote", action="store_true", help="allow a non-loopback server (one you run)")
    args = parser.parse_args(argv)
    for name, top in LIMITS.items():
        if not 0 < getattr(args, name) <= top:
            parser.error(f"--{name} must be above 0 and at most {top}")
    if not args.allow_remote and not is_loopback(args.server):
        parser.error(f"{args.server} is not a loopback address; pass --allow-remote for a server you run")
    client = ch.connect_from_args(args)
    md5s = client.get_sample_set(client.generate_sample_set(None, None))[:args.samples]
    if not md5s:
        md5s = [client.store_sample(b"workbench stress test sample\n", "stress_test.txt", "")]
    client.close()
    report = load(args.server, args.port, args.worker, md5s, args.clients, args.requests, args.seconds)
    report["samples"] = len(md5s)
    if args.json:
        ch.print_json(report)
    else:
        ch.print_table([{**report, "errors": sum(report["errors"].values())}],
                       ["worker", "clients", "requests", "ok", "errors", "seconds", "requests_per_s", "p50_ms",
                        "p95_ms", "max_ms"])
        for name, count in report["errors"].items():
            print(f"  {name}: {count}", file=sys.stderr)
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(ch.run_client(main))
