"""A readable report per packet capture (worker view_pcap): busiest hosts and flows, HTTP hosts, DNS names."""

from __future__ import annotations

import sys

from workbench.clients import client_helper as ch


def report(name: str, view: dict) -> str:
    """One capture's report as text."""
    lines = [f"== {name}: {view['packet_count']} packets, {view['bytes']} bytes, {view['duration']:.1f} s, "
             f"{view['host_count']} hosts, {view['flow_count']} flows",
             f"   {view['first_time']} .. {view['last_time']}", "", "Busiest hosts",
             ch.format_table(view["top_hosts"], ["ip", "packets", "bytes"]), "", "Largest flows",
             ch.format_table(view["top_flows"], ["proto", "src", "sport", "dst", "dport", "packets", "bytes"])]
    if view["http_hosts"]:
        lines += ["", f"HTTP ({view['http_request_count']} requests, {view['files_extracted']} files extracted)",
                  ch.format_table(view["http_hosts"], ["host", "requests"])]
    if view["dns_names"]:
        lines += ["", f"DNS ({view['dns_query_count']} queries)", *(f"  {n}" for n in view["dns_names"])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Upload PATHs (or take the stored pcap samples), run view_pcap, print a report for each."""
    parser = ch.client_parser(__doc__)
    ch.add_sample_args(parser, "pcap")
    args = parser.parse_args(argv)
    client = ch.connect_from_args(args)
    names, results = ch.results_by_filename(client, args, "view_pcap", "pcap")
    if args.json:
        ch.print_json([{**r, "filename": names[r["md5"]]} for r in results])
        return 0
    for result in results:
        if result.get("error"):
            print(f"== {names[result['md5']]}: {result['error']['type']}: {result['error']['message']}\n")
        else:
            print(report(names[result["md5"]], result["view_pcap"]) + "\n")
    return 1 if any(r.get("error") for r in results) else 0


if __name__ == "__main__":
    sys.exit(ch.run_client(main))
