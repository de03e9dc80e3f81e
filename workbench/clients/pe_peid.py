"""PEiD: packer and compiler signatures matched at each PE's entry point (worker pe_peid)."""

from __future__ import annotations

import sys

from workbench.clients.client_helper import (
    add_sample_args,
    client_parser,
    connect_from_args,
    print_json,
    print_table,
    results_by_filename,
    run_client,
)


def main(argv: list[str] | None = None) -> int:
    """Upload PATHs (or take the stored exe samples), run pe_peid, print the matches per sample."""
    parser = client_parser(__doc__)
    add_sample_args(parser, "exe")
    args = parser.parse_args(argv)
    client = connect_from_args(args)
    names, results = results_by_filename(client, args, "pe_peid", "exe")
    rows = []
    for result in results:
        output = result["pe_peid"] or {}
        rows.append({"md5": result["md5"], "filename": names[result["md5"]], "pe_peid": result["pe_peid"],
                     "error": result.get("error"), "matches": ", ".join(output.get("match_list", [])) or "-",
                     "entry_point_rva": output.get("entry_point_rva")})
    rows.sort(key=lambda r: r["filename"])
    if args.json:
        print_json([{k: r[k] for k in ("md5", "filename", "pe_peid", "error")} for r in rows])
    else:
        print_table(rows, ["md5", "entry_point_rva", "matches"])
    return 0


if __name__ == "__main__":
    sys.exit(run_client(main))
