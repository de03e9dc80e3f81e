"""Packet capture summaries (worker pcap_meta): packets, bytes, time span, protocols and hosts per capture."""

from __future__ import annotations

import sys

from workbench.clients import client_helper as ch


def main(argv: list[str] | None = None) -> int:
    """Upload PATHs (or take the stored pcap samples), run pcap_meta, print one row per capture."""
    parser = ch.client_parser(__doc__)
    ch.add_sample_args(parser, "pcap")
    args = parser.parse_args(argv)
    client = ch.connect_from_args(args)
    names, results = ch.results_by_filename(client, args, "pcap_meta", "pcap")
    if args.json:
        ch.print_json([{**r, "filename": names[r["md5"]]} for r in results])
        return 0
    rows = []
    for result in results:
        meta = result["pcap_meta"] or {}
        protocols = meta.get("protocols", {})
        rows.append({"filename": names[result["md5"]], "md5": result["md5"], "packets": meta.get("packet_count"),
                     "bytes": meta.get("bytes"), "seconds": round(meta.get("duration") or 0, 1) if meta else None,
                     "hosts": meta.get("host_count"), "tcp": protocols.get("tcp"), "udp": protocols.get("udp"),
                     "start": meta.get("first_time") or (result.get("error") or {}).get("message")})
    ch.print_table(rows, ["filename", "md5", "packets", "bytes", "seconds", "hosts", "tcp", "udp", "start"])
    return 0


if __name__ == "__main__":
    sys.exit(ch.run_client(main))
