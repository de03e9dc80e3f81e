"""Text logs: a summary per log (worker log_meta) and its first rows streamed from the server (stream_sample)."""

from __future__ import annotations

import sys

from workbench.clients import client_helper as ch


def main(argv: list[str] | None = None) -> int:
    """Upload PATHs (or take the stored log samples); print each log's summary and first --rows lines."""
    parser = ch.client_parser(__doc__)
    ch.add_sample_args(parser, "log")
    parser.add_argument("--rows", type=int, default=10, help="lines streamed per log (default 10)")
    args = parser.parse_args(argv)
    client = ch.connect_from_args(args)
    reports = []
    for sample in ch.samples_from_args(client, args, "log"):
        meta = client.work_request("log_meta", sample["md5"])["log_meta"]
        rows = [row["row"] for row in ch.flatten(client.stream_sample(sample["md5"], {"max_rows": args.rows}))]
        reports.append({**sample, "log_meta": meta, "rows": rows})
    if args.json:
        ch.print_json(reports)
        return 0
    for report in reports:
        meta = report["log_meta"]
        print(f"== {report['filename']} ({report['md5']}): {meta['line_count']} lines, {meta['byte_size']} bytes, "
              f"{meta['encoding']}, {meta['first_timestamp']} .. {meta['last_timestamp']}")
        hosts = ", ".join(f"{h} ({n})" for h, n in list(meta["top_hosts"].items())[:5]) or "-"
        processes = ", ".join(f"{p} ({n})" for p, n in list(meta["top_processes"].items())[:5]) or "-"
        print(f"   top hosts: {hosts}\n   top processes: {processes}\n")
        for number, line in enumerate(report["rows"], 1):
            print(f"{number:6}  {line}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(ch.run_client(main))
