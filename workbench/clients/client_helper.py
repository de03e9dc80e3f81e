"""What every client shares: -s/--server and -p/--port (defaults from config.ini), connecting, streams.

Clients stay thin: they parse options, connect, call the API and print something a person wants to read.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import zerorpc

from workbench.config import Config, load_config

CHUNK_BYTES = 8 * 2**20


class ServerUnavailable(Exception):
    """No Workbench server answered at the address given."""


def client_parser(description: str | None) -> argparse.ArgumentParser:
    """A parser with the options every client takes; defaults from config.ini's [client] section."""
    config = load_config()
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("-s", "--server", default=config.get("client", "server"),
                        help="Workbench server host (default from config.ini: %(default)s)")
    parser.add_argument("-p", "--port", type=int, default=config.get("client", "port"),
                        help="Workbench server port (default from config.ini: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON instead of a table")
    return parser


def connect(server: str, port: int, timeout: float | None = None, heartbeat: float | None = None,
            config: Config | None = None) -> zerorpc.Client:
    """A connected client, checked with a cheap call, or ServerUnavailable with a one-line reason."""
    config = config or load_config()
    timeout = timeout if timeout is not None else config.get("client", "timeout")
    heartbeat = heartbeat if heartbeat is not None else config.get("client", "heartbeat")
    client = zerorpc.Client(timeout=timeout, heartbeat=heartbeat)
    endpoint = f"tcp://{server}:{port}"
    client.connect(endpoint)
    probe = zerorpc.Client(timeout=min(timeout, 5), heartbeat=None)
    probe.connect(endpoint)
    try:
        probe.version()
    except (zerorpc.TimeoutExpired, zerorpc.LostRemote) as exc:
        client.close()
        raise ServerUnavailable(f"no Workbench server answered at {endpoint} ({type(exc).__name__}); start one "
                                "with `workbench-server` or pass -s/--server and -p/--port") from None
    finally:
        probe.close()
    return client


def connect_from_args(args: argparse.Namespace) -> zerorpc.Client:
    """connect() with the parsed -s/-p options; exits with a one-line message when no server answers."""
    try:
        return connect(args.server, args.port)
    except ServerUnavailable as exc:
        sys.exit(f"error: {exc}")


def flatten(stream: Iterator[Any]) -> Iterator[Any]:
    """One result at a time from a stream whose messages may be single results or lists of them."""
    for message in stream:
        if isinstance(message, list):
            yield from message
        else:
            yield message


def batch_results(client: zerorpc.Client, worker: str, batch_size: int | None = None,
                  **selection: Any) -> Iterator[dict]:
    """batch_work_request as a generator of single results (sent over the wire in lists of batch_size)."""
    size = batch_size or load_config().get("server", "stream_batch_size")
    return flatten(client.batch_work_request(worker, {**selection, "batch_size": size}))


def upload_file(client: zerorpc.Client, path: Path, type_tag: str = "", chunk_bytes: int = CHUNK_BYTES) -> str:
    """Store a file unless the server has it already (asked by md5 before any bytes are sent)."""
    data = path.read_bytes()
    md5 = hashlib.md5(data).hexdigest()
    if client.has_sample(md5):
        return md5
    if len(data) <= chunk_bytes:
        return client.store_sample(data, path.name, type_tag)
    chunks = [client.store_sample(data[i:i + chunk_bytes], f"{path.name}.part{i // chunk_bytes}", "chunk")
              for i in range(0, len(data), chunk_bytes)]
    return client.combine_samples(chunks, path.name, type_tag)


def print_json(value: Any) -> None:
    """JSON for machines (--json): bytes shown as hex."""
    print(json.dumps(value, indent=2, sort_keys=True, default=lambda b: b.hex() if isinstance(b, bytes) else str(b)))


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """A plain aligned text table for people."""
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
