"""A per-tag summary of the store (tags as customers or cases): samples, bytes, types and import times per tag.

Each tag's numbers come from one streamed batch of the meta worker over that tag, asking only for the fields
needed (subkeys), so it scales with the store.
"""

from __future__ import annotations

import sys
from collections import Counter

from workbench.clients import client_helper as ch

FIELDS = ["meta.type_tag", "meta.length", "meta.import_time"]


def summary(results: list[dict]) -> dict:
    """Counts, total bytes, type_tags and first/last import time over a tag's meta results."""
    metas = [r["meta"] for r in results if r.get("meta")]
    times = sorted(m["import_time"] for m in metas)
    return {"samples": len(results), "bytes": sum(m["length"] for m in metas),
            "type_tags": dict(Counter(m["type_tag"] for m in metas).most_common()),
            "first_import": times[0] if times else None, "last_import": times[-1] if times else None,
            "errors": sum(1 for r in results if r.get("error"))}


def main(argv: list[str] | None = None) -> int:
    """One row per tag (or per --tag given), plus a row for all samples."""
    parser = ch.client_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--tag", action="append", default=[], help="report only these tags (repeatable)")
    args = parser.parse_args(argv)
    client = ch.connect_from_args(args)
    tags = args.tag or sorted(client.get_all_tags())
    report = {tag: summary(list(ch.batch_results(client, "meta", tags=[tag], subkeys=FIELDS))) for tag in tags}
    if not args.tag:
        report["(all samples)"] = summary(list(ch.batch_results(client, "meta", subkeys=FIELDS)))
    if args.json:
        ch.print_json(report)
        return 0
    rows = [{"tag": tag, **row, "type_tags": ", ".join(f"{t}: {n}" for t, n in row["type_tags"].items()),
             "first_import": (row["first_import"] or "-")[:19], "last_import": (row["last_import"] or "-")[:19]}
            for tag, row in report.items()]
    ch.print_table(rows, ["tag", "samples", "bytes", "type_tags", "first_import", "last_import"])
    return 0


if __name__ == "__main__":
    sys.exit(ch.run_client(main))
