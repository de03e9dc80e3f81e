"""Upload files to Workbench (asking has_sample first) and print each one's md5, type_tag and length."""

from __future__ import annotations

import sys
from pathlib import Path

from workbench.clients.client_helper import (
    client_parser,
    connect_from_args,
    print_json,
    print_table,
    run_client,
    upload_file,
)


def main(argv: list[str] | None = None) -> int:
    """Upload the files; one row per file."""
    parser = client_parser(__doc__)
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="files to upload (folders: upload_dir)")
    parser.add_argument("--type-tag", default="", help="type_tag for every file (default: guessed by the server)")
    parser.add_argument("--tag", action="append", default=[], help="tag to add to every file (repeatable)")
    args = parser.parse_args(argv)
    for path in args.files:
        if not path.is_file():
            raise FileNotFoundError(f"{path} is not a file; for folders use workbench.clients.upload_dir")
    client = connect_from_args(args)
    rows = []
    for path in args.files:
        md5 = upload_file(client, path, args.type_tag)
        if args.tag:
            client.add_tags(md5, args.tag)
        info = client.get_sample_info(md5)
        rows.append({"md5": md5, "type_tag": info["type_tag"], "length": info["length"],
                     "filename": info["filename"], "tags": info["tags"], "path": str(path)})
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["md5", "type_tag", "length", "path"])
    return 0


if __name__ == "__main__":
    sys.exit(run_client(main))
