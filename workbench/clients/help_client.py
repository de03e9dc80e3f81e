"""Print Workbench help: every command and worker, or one topic (a command or worker name)."""

from __future__ import annotations

import sys

from workbench.clients.client_helper import client_parser, connect_from_args, print_json


def main(argv: list[str] | None = None) -> int:
    """Print help(topic) from the server."""
    parser = client_parser(__doc__)
    parser.add_argument("topic", nargs="?", help="a command or worker name (default: list everything)")
    args = parser.parse_args(argv)
    client = connect_from_args(args)
    if args.json:
        print_json({"topic": args.topic, "help": client.help(args.topic), "workers": client.list_all_workers()})
    else:
        print(client.help(args.topic))
    return 0


if __name__ == "__main__":
    sys.exit(main())
