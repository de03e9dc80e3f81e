"""Zip archives: extract every member as a child sample (worker unzip) and list the members with their types."""

from __future__ import annotations

import sys

from workbench.clients import client_helper as ch


def main(argv: list[str] | None = None) -> int:
    """Upload PATHs (or take the stored zip samples), run unzip, print one row per extracted member."""
    parser = ch.client_parser(__doc__)
    ch.add_sample_args(parser, "zip")
    args = parser.parse_args(argv)
    client = ch.connect_from_args(args)
    archives = []
    for sample in ch.samples_from_args(client, args, "zip"):
        unzip = client.work_request("unzip", sample["md5"])["unzip"]
        members = [{**child, "type_tag": client.get_sample_info(child["md5"])["type_tag"]}
                   for child in unzip["children"]]
        archives.append({**sample, "members": members, "skipped": unzip["skipped"],
                         "children": client.get_children(sample["md5"])})
    if args.json:
        ch.print_json(archives)
        return 0
    rows = [{"archive": a["filename"], **m} for a in archives for m in a["members"]]
    ch.print_table(rows, ["archive", "md5", "type_tag", "size", "filename"])
    for archive in archives:
        for skipped in archive["skipped"]:
            print(f"{archive['filename']}: skipped {skipped}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(ch.run_client(main))
