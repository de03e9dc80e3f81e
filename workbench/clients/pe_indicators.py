"""Suspicious traits of each PE (worker pe_indicators): packer sections, W+X sections, odd entry points..."""

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
    """Upload PATHs (or take the stored exe samples), run pe_indicators, print one row per sample."""
    parser = client_parser(__doc__)
    add_sample_args(parser, "exe")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every indicator under its sample")
    args = parser.parse_args(argv)
    client = connect_from_args(args)
    names, results = results_by_filename(client, args, "pe_indicators", "exe")
    rows = []
    for result in results:
        output = result["pe_indicators"] or {}
        rows.append({"md5": result["md5"], "filename": names[result["md5"]], "pe_indicators": result["pe_indicators"],
                     "error": result.get("error"), "max_severity": output.get("max_severity"),
                     "indicators": len(output.get("indicators", [])),
                     "categories": ", ".join(output.get("categories", [])) or "-"})
    rows.sort(key=lambda r: (-(r["max_severity"] or 0), -r["indicators"], r["md5"]))
    if args.json:
        print_json([{k: r[k] for k in ("md5", "filename", "pe_indicators", "error")} for r in rows])
        return 0
    print_table(rows, ["md5", "max_severity", "indicators", "categories"])
    if args.verbose:
        for row in rows:
            print(f"\n{row['md5']} ({row['filename']})")
            for item in (row["pe_indicators"] or {}).get("indicators", []):
                print(f"  [{item['severity']}] {item['category']}: {item['description']}")
    return 0


if __name__ == "__main__":
    sys.exit(run_client(main))
