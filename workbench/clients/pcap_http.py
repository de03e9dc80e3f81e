"""HTTP in packet captures (worker pcap_http): requests with their responses, and the files carried."""

from __future__ import annotations

import sys

from workbench.clients import client_helper as ch


def main(argv: list[str] | None = None) -> int:
    """Upload PATHs (or take the stored pcap samples), run pcap_http, print requests and files per capture."""
    parser = ch.client_parser(__doc__)
    ch.add_sample_args(parser, "pcap")
    parser.add_argument("--max-rows", type=int, default=50, help="requests shown per capture (default 50)")
    args = parser.parse_args(argv)
    client = ch.connect_from_args(args)
    names, results = ch.results_by_filename(client, args, "pcap_http", "pcap")
    if args.json:
        ch.print_json([{**r, "filename": names[r["md5"]]} for r in results])
        return 0
    for result in results:
        http = result["pcap_http"]
        if http is None:
            print(f"== {names[result['md5']]}: {result['error']['type']}: {result['error']['message']}\n")
            continue
        print(f"== {names[result['md5']]}: {http['request_count']} requests, {http['response_count']} responses, "
              f"{http['file_count']} files")
        if http["requests"]:
            shown = http["requests"][:args.max_rows]
            print(ch.format_table(shown, ["src", "method", "host", "uri", "user_agent"], max_width=60))
            if len(http["requests"]) > len(shown):
                print(f"... {len(http['requests']) - len(shown)} more (--max-rows)")
        if http["files"]:
            print("\nFiles carried (stored as children of the capture)")
            print(ch.format_table(http["files"], ["md5", "size", "content_type", "filename", "host"], max_width=60))
        print()
    return 1 if any(r.get("error") for r in results) else 0


if __name__ == "__main__":
    sys.exit(ch.run_client(main))
