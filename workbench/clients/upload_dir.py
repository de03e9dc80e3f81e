"""Upload every file under a folder to Workbench (asking has_sample first, so no bytes are sent twice)."""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from workbench.clients.client_helper import client_parser, connect_from_args, print_json, print_table, upload_file


def main(argv: list[str] | None = None) -> int:
    """Upload the folder's files; print one md5 per file."""
    parser = client_parser(__doc__)
    parser.add_argument("folder", type=Path, help="folder to upload (recursively)")
    parser.add_argument("--type-tag", default="", help="type_tag for every file (default: guessed by the server)")
    parser.add_argument("--tag", action="append", default=[], help="tag to add to every file (repeatable)")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        sys.exit(f"error: {args.folder} is not a folder")
    files = sorted(p for p in args.folder.rglob("*") if p.is_file())
    client = connect_from_args(args)
    rows = []
    for path in tqdm(files, desc="uploading", unit="file", file=sys.stderr, disable=None):
        md5 = upload_file(client, path, args.type_tag)
        if args.tag:
            client.add_tags(md5, args.tag)
        rows.append({"md5": md5, "path": str(path)})
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["md5", "path"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
