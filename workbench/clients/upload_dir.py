"""Upload every file under a folder to Workbench (asking has_sample first, so no bytes are sent twice).

Everything readable is uploaded; each path skipped (unreadable file or folder, FIFO, dangling link...) is said
on stderr with why, and the exit code is then 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

from workbench.clients.client_helper import (
    client_parser,
    connect_from_args,
    print_json,
    print_table,
    run_client,
    upload_paths,
)


def main(argv: list[str] | None = None) -> int:
    """Upload the folder's files; print one md5 per file; exit 1 if any path was skipped."""
    parser = client_parser(__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="folder to upload (recursively)")
    parser.add_argument("--type-tag", default="", help="type_tag for every file (default: guessed by the server)")
    parser.add_argument("--tag", action="append", default=[], help="tag to add to every file (repeatable)")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        raise FileNotFoundError(f"{args.folder} is not a folder; check the path (for files use upload_file)")
    client = connect_from_args(args)
    skipped: list[dict[str, str]] = []
    rows = [{"md5": r["md5"], "path": r["path"]}
            for r in upload_paths(client, [args.folder], args.type_tag, args.tag, skipped)]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["md5", "path"])
    return 1 if skipped else 0


if __name__ == "__main__":
    sys.exit(run_client(main))
