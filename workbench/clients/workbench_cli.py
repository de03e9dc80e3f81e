"""``workbench``: the daily jobs from a shell (upload, work, batch, workers, help, tags, info, analyze).

Exit codes: 0 done; 1 a worker failed on at least one sample; 2 bad usage (unknown worker, md5, option or
path); 3 no server answered.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import zerorpc
from tqdm import tqdm

from workbench.clients import client_helper as ch
from workbench.clients.local_server import LocalServer, port_answers
from workbench.config import load_config
from workbench.exceptions import WorkerFailed

OK, WORK_FAILED, USAGE, NO_SERVER = 0, 1, 2, 3
WORKER_FAILURES = {WorkerFailed.__name__, *(cls.__name__ for cls in WorkerFailed.__subclasses__())}
EPILOG = __doc__.split("\n\n", 1)[1]


class CliError(Exception):
    """A failure reported as one line on stderr with an exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    """``workbench [-s HOST] [-p PORT] [--json] COMMAND ...``; the common options work after COMMAND too."""
    config = load_config()
    host, port = config.get("client", "server"), config.get("client", "port")

    def common(parser: argparse.ArgumentParser, defaults: bool) -> argparse.ArgumentParser:
        # before COMMAND they set the defaults; after it they are only set when given
        keep = {} if defaults else {"default": argparse.SUPPRESS}
        parser.add_argument("-s", "--server", help=f"server host (default from config.ini: {host})",
                            **({"default": host} if defaults else keep))
        parser.add_argument("-p", "--port", type=int, help=f"server port (default from config.ini: {port})",
                            **({"default": port} if defaults else keep))
        parser.add_argument("--json", action="store_true", help="print JSON for machines instead of tables", **keep)
        return parser

    parser = common(argparse.ArgumentParser(prog="workbench", description=__doc__.split("\n\n")[0], epilog=EPILOG,
                                            formatter_class=argparse.RawDescriptionHelpFormatter), defaults=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        p = common(sub.add_parser(name, help=text, description=text), defaults=False)
        p.set_defaults(handler=globals()[f"cmd_{name}"])
        return p

    p = command("upload", "upload files and folders (recursively); print md5, type and size of each")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--tag", action="append", default=[], help="tag every file (repeatable)")
    p.add_argument("--type-tag", default="", help="type_tag for every file (default: guessed by the server)")
    p = command("work", "run a worker on samples (md5s or unique md5 prefixes) and print its output")
    p.add_argument("worker")
    p.add_argument("md5s", nargs="+", metavar="MD5")
    p.add_argument("--subkeys", help="comma-separated dotted fields to fetch (e.g. dense_features.file_size)")
    p = command("batch", "run a worker over stored samples (all, a --type-tag or --tag) with a progress bar; "
                         "--json prints one result per line")
    p.add_argument("worker")
    p.add_argument("--type-tag", default=None, help="only samples of this type_tag (exe, pdf, pcap...)")
    p.add_argument("--tag", action="append", default=[], help="only samples carrying this tag (repeatable)")
    p.add_argument("--subkeys", help="comma-separated dotted fields to fetch (fewer bytes on the wire)")
    p.add_argument("--columns", type=int, default=6, help="fields shown per row in the table (default 6)")
    p.add_argument("--out", type=_out_path, help="also write every result, typed, to FILE (.parquet, .arrow, "
                   ".feather, .csv or .jsonl: one row per sample, nested fields by dotted name)")
    command("workers", "list the workers with their status and summary")
    p = command("help", "help on a command or worker (default: everything)")
    p.add_argument("topic", nargs="?", default=None)
    command("tags", "every tag in use with its sample count")
    command("info", "server status: version, store, samples, workers, processes, cache hits")
    p = command("analyze", "upload and analyze files; starts a local server when none answers")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--worker", default="view", help="worker to run (default: view)")
    p.add_argument("--no-local", action="store_true", help="fail instead of starting a local server")
    return parser


def _connect(args: argparse.Namespace) -> zerorpc.Client:
    if not port_answers(args.server, args.port):
        raise ch.ServerUnavailable(f"no Workbench server answered at tcp://{args.server}:{args.port} (nothing "
                                   "listens there); start one with `workbench-server` or pass -s/--server and "
                                   "-p/--port")
    return ch.connect(args.server, args.port)


def _emit(args: argparse.Namespace, value: Any, people: str) -> None:
    """JSON of ``value`` with --json, else the text for people."""
    if args.json:
        ch.print_json(value)
    else:
        print(people)


def _subkeys(text: str | None) -> list[str] | None:
    return [k.strip() for k in text.split(",") if k.strip()] if text else None


def _complete(client: zerorpc.Client, md5: str) -> str:
    """A full md5 from a unique prefix (asked of the server's index)."""
    if len(md5) == 32:
        return md5
    found = client.complete_md5(md5, 2)
    if len(found) != 1:
        what = "no stored sample" if not found else f"several samples ({', '.join(found)}, ...)"
        raise CliError(f"md5 prefix {md5!r} matches {what}; give more digits", USAGE)
    return found[0]


# --- commands --------------------------------------------------------------------------------------
def cmd_upload(client: zerorpc.Client, args: argparse.Namespace) -> int:
    rows = []
    for row in ch.upload_paths(client, args.paths, args.type_tag, args.tag):
        info = client.get_sample_info(row["md5"])
        rows.append({**row, "type_tag": info["type_tag"], "length": info["length"]})
    _emit(args, rows, ch.format_table(rows, ["md5", "type_tag", "length", "path"]))
    return OK


def cmd_work(client: zerorpc.Client, args: argparse.Namespace) -> int:
    results, code = [], OK
    for md5 in args.md5s:
        md5 = _complete(client, md5)
        try:
            result = client.work_request(args.worker, md5, _subkeys(args.subkeys))
        except zerorpc.RemoteError as exc:
            if exc.name not in WORKER_FAILURES:
                raise
            print(f"{md5}: {ch.remote_error_text(exc)}", file=sys.stderr)
            code = WORK_FAILED
            continue
        results.append(result)
        if not args.json:
            print(f"== {args.worker} {md5}\n{ch.format_tree(result[args.worker])}")
    if args.json:
        ch.print_json(results)
    return code


def _batch_stream(client: zerorpc.Client, args: argparse.Namespace) -> tuple[Iterator[dict], int]:
    """The results of the batch and how many to expect (the selection is made a sample set first)."""
    set_id = client.generate_sample_set(args.tag or None, args.type_tag)
    total = len(client.get_sample_set(set_id))
    stream = client.set_work_request(args.worker, set_id, {"subkeys": _subkeys(args.subkeys), "batch_size": 100},
                                     slots=10)  # at most 10 messages (1000 results) read ahead
    return ch.flatten(stream), total


def cmd_batch(client: zerorpc.Client, args: argparse.Namespace) -> int:
    from workbench.clients.dataframes import ROW_KEYS, result_row  # pandas/pyarrow only where needed

    if args.out:
        return _batch_to_file(client, args)
    stream, total = _batch_stream(client, args)
    counts = {"ok": 0, "failed": 0, "not_applicable": 0}
    rows: list[dict[str, Any]] = []  # for the table: md5, status and the shown fields only
    fields: list[str] = []

    def counted() -> Iterator[dict]:
        for result in tqdm(stream, total=total, desc=args.worker, unit="sample", file=sys.stderr, disable=None):
            kind = (result.get("error") or {}).get("kind")
            counts["ok" if not result.get("error") else "not_applicable" if kind == "not_applicable" else "failed"] += 1
            if args.json:
                print(json.dumps(result, sort_keys=True, default=str))
            else:
                row = result_row(result)
                if not fields and not row["error"]:
                    fields.extend([c for c in row if c not in ROW_KEYS][:args.columns])
                rows.append({"md5": row["md5"], "status": kind or "ok", **{c: row.get(c) for c in fields}})
            yield result

    for _ in counted():
        pass
    if not args.json:
        print(ch.format_table(rows, ["md5", "status", *fields]))
    print(f"{args.worker}: {sum(counts.values())} samples: {counts['ok']} ok, {counts['failed']} failed, "
          f"{counts['not_applicable']} not applicable", file=sys.stderr)
    return WORK_FAILED if counts["failed"] else OK


def _out_path(text: str) -> Path:
    """``--out FILE``: its extension names the format; any other is a usage error (exit 2), not a misnamed file."""
    from workbench.clients.slabs import check_format

    try:
        check_format(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return Path(text)


def _batch_to_file(client: zerorpc.Client, args: argparse.Namespace) -> int:
    """``batch --out FILE``: the typed columnar stream (batch_arrow) written by FILE's extension; the same progress
    bar, table and counts as without --out (with --json, one flat row per line)."""
    from workbench.clients import slabs

    md5s = client.get_sample_set(client.generate_sample_set(args.tag or None, args.type_tag))
    counts = {"ok": 0, "failed": 0, "not_applicable": 0}
    rows: list[dict[str, Any]] = []
    fields: list[str] = []
    progress = tqdm(total=len(md5s), desc=args.worker, unit="sample", file=sys.stderr, disable=None)

    def counted() -> Iterator[bytes]:
        for message in slabs.batch_messages(client, args.worker, _subkeys(args.subkeys), md5_list=md5s):
            batch = slabs.read_message(message)
            fields[:] = fields or [n for n in batch.schema.names if n not in ("md5", "error", "error_kind")][
                :args.columns]
            shown = batch if args.json else batch.select(["md5", "error", "error_kind", *fields])
            for row in shown.to_pylist():
                kind = row["error_kind"]
                counts["ok" if not row["error"] else "not_applicable" if kind == "not_applicable" else "failed"] += 1
                if args.json:
                    print(json.dumps(row, sort_keys=True, default=str))
                else:
                    rows.append({"md5": row["md5"], "status": kind or "ok", **{c: row.get(c) for c in fields}})
            progress.update(batch.num_rows)
            yield message

    with progress:
        summary = slabs.write_batches(counted(), args.out)
    if not args.json:
        print(ch.format_table(rows, ["md5", "status", *fields]))
    print(f"wrote {summary['path']}: {summary['rows']} rows, {len(summary['columns'])} columns", file=sys.stderr)
    print(f"{args.worker}: {sum(counts.values())} samples: {counts['ok']} ok, {counts['failed']} failed, "
          f"{counts['not_applicable']} not applicable", file=sys.stderr)
    return WORK_FAILED if counts["failed"] else OK


def cmd_workers(client: zerorpc.Client, args: argparse.Namespace) -> int:
    workers = client.list_all_workers()
    rows = [{**w, "summary": w["summary"] if w["status"] == "ok" else w["error"]} for w in workers]
    _emit(args, workers, ch.format_table(rows, ["name", "status", "summary"]))
    return OK


def cmd_help(client: zerorpc.Client, args: argparse.Namespace) -> int:
    text = client.help(args.topic)
    _emit(args, {"topic": args.topic, "help": text}, text)
    return OK


def cmd_tags(client: zerorpc.Client, args: argparse.Namespace) -> int:
    tags = client.get_all_tags()
    _emit(args, tags, ch.format_table([{"tag": t, "samples": n} for t, n in tags.items()], ["tag", "samples"])
          if tags else "no tags yet: add some with `workbench upload --tag T PATH`")
    return OK


def cmd_info(client: zerorpc.Client, args: argparse.Namespace) -> int:
    info = client.info()
    _emit(args, info, ch.format_tree(info))
    return OK


def cmd_analyze(client: zerorpc.Client, args: argparse.Namespace) -> int:
    results, code = [], OK
    for row in ch.upload_paths(client, args.paths):
        try:
            result = client.work_request(args.worker, row["md5"])
        except zerorpc.RemoteError as exc:
            if exc.name not in WORKER_FAILURES:
                raise
            print(f"{row['path']}: {ch.remote_error_text(exc)}", file=sys.stderr)
            code = WORK_FAILED
            continue
        results.append({**result, "path": row["path"]})
        if not args.json:
            print(f"== {row['path']} ({args.worker})\n{ch.format_tree(result[args.worker])}")
    if args.json:
        ch.print_json(results)
    return code


def _analyze_locally(args: argparse.Namespace) -> int:
    local = LocalServer()
    print(f"workbench: no server at {args.server}:{args.port}; starting a local one (store {local.datastore})",
          file=sys.stderr)
    with local:
        print(f"workbench: local server pid {local.pid} on port {local.port}", file=sys.stderr)
        client = local.client()
        try:
            return cmd_analyze(client, args)
        finally:
            client.close()


def run(args: argparse.Namespace) -> int:
    """Connect (or, for analyze, start a local server) and run the command."""
    if args.command == "analyze" and not args.no_local and not port_answers(args.server, args.port):
        return _analyze_locally(args)
    client = _connect(args)
    try:
        return args.handler(client, args)
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``workbench`` console script: one-line errors, shell-friendly exit codes."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except ch.ServerUnavailable as exc:
        print(f"workbench: error: {exc}", file=sys.stderr)
        return NO_SERVER
    except CliError as exc:
        print(f"workbench: error: {exc}", file=sys.stderr)
        return exc.code
    except zerorpc.RemoteError as exc:
        print(f"workbench: error: {ch.remote_error_text(exc)}", file=sys.stderr)
        return WORK_FAILED if exc.name in WORKER_FAILURES else USAGE
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        print(f"workbench: error: {exc}", file=sys.stderr)
        return USAGE
    except BrokenPipeError:  # the reader (e.g. `| head`) went away: stop quietly
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - stays open until exit, so the final flush is silent
        return OK
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
