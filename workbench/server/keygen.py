"""``workbench-keygen``: make a CURVE key pair (NAME.key to share, NAME.key_secret to keep) for server or client."""

from __future__ import annotations

import argparse
import sys

from workbench.exceptions import WorkbenchError
from workbench.server.rpc.curve_auth import make_key_pair

NEXT_STEPS = """\
wrote {public} (public: share it) and {secret} (secret: keep it, mode 600)
for the server: [server] curve_secret_key = {secret}
                and give {public} to clients as their [client] curve_server_key
for a client:   [client] curve_secret_key = {secret}
                and copy {public} into the server's curve_authorized_keys_dir (takes effect within 1 s)"""


def main(argv: list[str] | None = None) -> int:
    """Write one key pair and say where each file goes."""
    parser = argparse.ArgumentParser(prog="workbench-keygen", description=__doc__)
    parser.add_argument("name", help="key name, e.g. 'server' or the client's user name")
    parser.add_argument("-d", "--dir", default=".", help="folder to write the two files to (default: here)")
    args = parser.parse_args(argv)
    try:
        public, secret = make_key_pair(args.dir, args.name)
    except WorkbenchError as exc:
        print(f"workbench-keygen: {exc}", file=sys.stderr)
        return 2
    print(NEXT_STEPS.format(public=public, secret=secret))
    return 0


if __name__ == "__main__":
    sys.exit(main())
