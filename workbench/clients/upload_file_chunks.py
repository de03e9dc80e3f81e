"""Upload one large file in chunks: the server appends each chunk to one file as it arrives (upload_part).

The file is read twice, one chunk at a time (md5 first, to ask has_sample; then the upload), so client memory
stays at two chunks whatever the file's size. The stored sample's md5 is checked against the local file's. A
file no bigger than one chunk goes in one store_sample. An explicit --type-tag corrects a stored sample's tag.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tqdm import tqdm

from workbench.clients.client_helper import (
    client_parser,
    connect_from_args,
    file_md5,
    print_json,
    print_table,
    run_client,
    upload_parts,
    warn_if_empty,
)


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
    local_md5 = file_md5(args.file, chunk_bytes)
    client = connect_from_args(args)
    started = time.perf_counter()
    already = client.has_sample(local_md5)
    parts = 0 if already else max(1, -(-size // chunk_bytes))
    if already:
        md5 = local_md5
        if args.type_tag:
            client.set_type_tag(md5, args.type_tag)
    elif size <= chunk_bytes:
        md5 = warn_if_empty(client.store_sample(args.file.read_bytes(), args.file.name, args.type_tag), args.file,
                            size)
    else:
        with tqdm(total=size, unit="B", unit_scale=True, desc="uploading", file=sys.stderr, disable=None) as bar:
            md5 = upload_parts(client, args.file, args.type_tag, chunk_bytes, progress=bar.update)
    seconds = time.perf_counter() - started
    info = client.get_sample_info(md5)
    row = {"md5": md5, "local_md5": local_md5, "match": md5 == local_md5, "length": info["length"],
           "type_tag": info["type_tag"], "chunks": parts, "chunk_mb": args.chunk_mb, "already_stored": already,
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
