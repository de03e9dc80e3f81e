"""Resolve md5 prefixes (as people type them) to the stored samples they name, via the server's md5 index."""

from __future__ import annotations

import sys

import zerorpc

from workbench.clients import client_helper as ch


def main(argv: list[str] | None = None) -> int:
    """One row per prefix: the md5 it names (with filename and type), or why it names none; exit 1 if any
    prefix is unknown or ambiguous."""
    parser = ch.client_parser(__doc__)
    parser.add_argument("prefixes", nargs="+", metavar="PREFIX", help="md5 prefixes (1 to 32 hex digits)")
    parser.add_argument("--limit", type=int, default=10, help="candidates listed for an ambiguous prefix")
    args = parser.parse_args(argv)
    client = ch.connect_from_args(args)
    rows = []
    for prefix in args.prefixes:
        try:
            found = client.complete_md5(prefix, max(args.limit, 2))
        except zerorpc.RemoteError as exc:  # not hex: say so in its row, resolve the others
            rows.append({"prefix": prefix, "status": "invalid", "md5": None, "candidates": [], "error": exc.msg})
            continue
        row = {"prefix": prefix, "status": ["unknown", "unique"][len(found)] if len(found) < 2 else "ambiguous",
               "md5": found[0] if len(found) == 1 else None, "candidates": found}
        if row["md5"]:
            info = client.get_sample_info(row["md5"])
            row.update(filename=info["filename"], type_tag=info["type_tag"], length=info["length"])
        rows.append(row)
    if args.json:
        ch.print_json(rows)
    else:
        shown = [{**r, "md5": r["md5"] or ", ".join(r["candidates"]) or "-"} for r in rows]
        ch.print_table(shown, ["prefix", "status", "md5", "type_tag", "length", "filename"])
    return 0 if all(r["status"] == "unique" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(ch.run_client(main))
