"""Upload one large file in chunks (each a stored sample), joined on the server with combine_samples.

The file is read twice, one chunk at a time (md5 first, to ask has_sample; then the upload), so client memory
stays at one chunk whatever the file's size. The joined sample's md5 is checked against the local file's.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from workbench.clients.client_helper import client_parser, connect_from_args, print_json, print_table, run_client


def chunks(path: Path, chunk_bytes: int) -> Iterator[bytes]:
    """The file's bytes, ``chunk_bytes`` at a time."""
    with open(path, "rb") as handle:
        while data := handle.read(chunk_bytes):
            yield data


def main(argv: list[str] | None = None) -> int:
    """Upload FILE in chunks; print md5 (server's and local), length, chunk count and speed."""
    parser = client_parser(__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path, help="the file to upload")
    parser.add_argument("--chunk-mb", type=float, default=8.0,
                        help="chunk size in MB (default 8; must stay under the server's max_message_mb)")
    parser.add_argument("--type-tag", default="", help="type_tag of the joined sample (default: guessed)")
    args = parser.parse_args(argv)
    if not args.file.is_file():
        raise FileNotFoundError(f"{args.file} is not a file; check the path")
    chunk_bytes = max(1, int(args.chunk_mb * 2**20))
    size = args.file.stat().st_size
    local = hashlib.md5()
    for data in chunks(args.file, chunk_bytes):
        local.update(data)
    local_md5 = local.hexdigest()
    client = connect_from_args(args)
    started = time.perf_counter()
    already = client.has_sample(local_md5)
    parts: list[str] = []
    if already:
        md5 = local_md5
    else:
        with tqdm(total=size, unit="B", unit_scale=True, desc="uploading", file=sys.stderr, disable=None) as bar:
            for number, data in enumerate(chunks(args.file, chunk_bytes)):
                parts.append(client.store_sample(data, f"{args.file.name}.part{number}", "chunk"))
                bar.update(len(data))
        md5 = client.combine_samples(parts, args.file.name, args.type_tag)
    seconds = time.perf_counter() - started
    info = client.get_sample_info(md5)
    row = {"md5": md5, "local_md5": local_md5, "match": md5 == local_md5, "length": info["length"],
           "type_tag": info["type_tag"], "chunks": len(parts), "chunk_mb": args.chunk_mb, "already_stored": already,
           "seconds": round(seconds, 3), "mb_per_s": round(size / 2**20 / seconds, 1) if seconds and parts else None}
    if args.json:
        print_json(row)
    else:
        print_table([row], ["md5", "match", "length", "type_tag", "chunks", "seconds", "mb_per_s"])
    if not row["match"]:
        print(f"error: the server's md5 {md5} differs from the local file's {local_md5}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run_client(main))
