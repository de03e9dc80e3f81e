"""``workbench``: the daily jobs from a shell (upload, work, batch, workers, help, tags, info, analyze, call;
corpus questions: index, search, retrohunt).

Exit codes: 0 done; 1 a worker failed on at least one sample, or upload skipped a path; 2 bad usage (unknown
worker, md5, type_tag, tag, option or path); 3 no server answered; 130 interrupted (Ctrl-C).
`workbench help` explains every command and its options, then the server's API and workers.
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

from workbench.clients import cli_extras
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
    p = command("help", "help on a command of this tool, an API method or a worker (default: everything)")
    p.add_argument("topic", nargs="?", default=None)
    command("tags", "every tag in use with its sample count")
    command("info", "server status: version, store, samples, workers, processes, cache hits")
    p = command("index", "index a worker's outputs over stored samples for full-text search (resumable: samples "
                         "already indexed are skipped), with a progress bar")
    p.add_argument("worker")
    p.add_argument("index_name", metavar="INDEX")
    p.add_argument("--subfields", help="comma-separated dotted fields to index (default: the whole output)")
    p.add_argument("--type-tag", default=None, help="only samples of this type_tag (exe, pdf, pcap...)")
    p.add_argument("--tag", action="append", default=[], help="only samples carrying this tag (repeatable)")
    p.add_argument("--reindex", action="store_true", help="index every selected sample again")
    p = command("search", "samples whose indexed output holds every term, e.g. `workbench search url_index evil.com`")
    p.add_argument("index_name", metavar="INDEX")
    p.add_argument("query", nargs="+", help="terms, all required; \"quoted words\" form one phrase")
    p.add_argument("--limit", type=int, default=1000, help="most hits to show (default 1000)")
    p = command("retrohunt", "run YARA rules over stored samples (all, a --type-tag or --tag) on every worker "
                             "process with a progress bar; print the samples that match")
    p.add_argument("rules", nargs="+", type=Path, metavar="RULES", help="a .yar file, or several files and folders "
                   "(one namespace per file: its path without the extension)")
    p.add_argument("--type-tag", default=None, help="only samples of this type_tag (exe, pdf, pcap...)")
    p.add_argument("--tag", action="append", default=[], help="only samples carrying this tag (repeatable)")
    p = command("analyze", "upload and analyze files; starts a local server when none answers")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--worker", default="view", help="worker to run (default: view)")
    p.add_argument("--no-local", action="store_true", help="fail instead of starting a local server")
    p = command("call", "call any API method: JSON arguments in, JSON out (streams: one JSON line per message)")
    p.epilog, p.formatter_class = cli_extras.CALL_EPILOG, argparse.RawDescriptionHelpFormatter
    p.add_argument("method", nargs="?", help="API method (none: list them)")
    p.add_argument("args", nargs="*", metavar="ARG", help="arguments: JSON, a plain string, or @FILE for its bytes")
    return parser


def _connect(args: argparse.Namespace) -> zerorpc.Client:
    return ch.connect_checked(args.server, args.port)


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
    rows, skipped = [], []  # skipped paths are said on stderr by upload_paths
    for row in ch.upload_paths(client, args.paths, args.type_tag, args.tag, skipped):
        info = client.get_sample_info(row["md5"])
        rows.append({**row, "type_tag": info["type_tag"], "length": info["length"]})
    _emit(args, rows, ch.format_table(rows, ["md5", "type_tag", "length", "path"]))
    return WORK_FAILED if skipped else OK


def cmd_work(client: zerorpc.Client, args: argparse.Namespace) -> int:
    results, code = [], OK
    for md5 in args.md5s:
        md5 = _complete(client, md5)
        try:
            result = ch.work_result(client, args.worker, md5, _subkeys(args.subkeys))
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
    if total == 0 and (problem := cli_extras.selection_problem(client, args.type_tag, args.tag)):
        raise CliError(problem, USAGE)
    stream = ch.set_results(client, args.worker, set_id, _subkeys(args.subkeys), batch_size=100,
                            slots=10)  # at most 10 messages (1000 results) read ahead
    return stream, total


def cmd_batch(client: zerorpc.Client, args: argparse.Namespace) -> int:
    if args.out:
        return _batch_to_file(client, args)
    stream, total = _batch_stream(client, args)
    with cli_extras.Interrupt() as interrupt:
        code, received = _batch_rows(args, interrupt.results(stream), total)
    if interrupt.requested:
        cli_extras.say_interrupted(received, total, args.out)
        return 130
    return code


def _batch_rows(args: argparse.Namespace, stream: Iterator[dict], total: int) -> tuple[int, int]:
    """Print (and with --out, write) a batch's results: (exit code, results received)."""
    from workbench.clients.dataframes import ROW_KEYS, result_row  # pandas/pyarrow only where needed

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
    return WORK_FAILED if counts["failed"] else OK, sum(counts.values())


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
    if not md5s and (problem := cli_extras.selection_problem(client, args.type_tag, args.tag)):
        raise CliError(problem, USAGE)
    counts = {"ok": 0, "failed": 0, "not_applicable": 0}
    rows: list[dict[str, Any]] = []
    fields: list[str] = []
    progress = tqdm(total=len(md5s), desc=args.worker, unit="sample", file=sys.stderr, disable=None)

    def counted(messages: Iterator[bytes]) -> Iterator[bytes]:
        for message in messages:
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

    with progress, cli_extras.Interrupt() as interrupt:  # Ctrl-C: the rows received make a complete file
        messages = interrupt.results(slabs.batch_messages(client, args.worker, _subkeys(args.subkeys), md5_list=md5s))
        summary = slabs.write_batches(counted(messages), args.out)
    if interrupt.requested:
        cli_extras.say_interrupted(summary["rows"], len(md5s), args.out)
        return 130
    if not args.json:
        print(ch.format_table(rows, ["md5", "status", *fields]))
    print(f"wrote {summary['path']}: {summary['rows']} rows, {len(summary['columns'])} columns", file=sys.stderr)
    print(f"{args.worker}: {sum(counts.values())} samples: {counts['ok']} ok, {counts['failed']} failed, "
          f"{counts['not_applicable']} not applicable", file=sys.stderr)
    return WORK_FAILED if counts["failed"] else OK


def _selection(client: zerorpc.Client, args: argparse.Namespace) -> tuple[dict[str, Any], int]:
    """Batch kwargs for --type-tag/--tag and how many samples they select (for the progress bar)."""
    set_id = client.generate_sample_set(args.tag or None, args.type_tag)
    return {"type_tag": args.type_tag, "tags": args.tag or None}, len(client.get_sample_set(set_id))


def cmd_index(client: zerorpc.Client, args: argparse.Namespace) -> int:
    kwargs, total = _selection(client, args)
    stream = client.index_worker_outputs(args.worker, args.index_name, _subkeys(args.subfields),
                                         {**kwargs, "reindex": args.reindex, "batch_size": 100}, slots=10)
    counts = {"indexed": 0, "skipped": 0, "failed": 0}
    for record in tqdm(ch.flatten(stream), total=total, desc=f"index {args.index_name}", unit="sample",
                       file=sys.stderr, disable=None):
        counts["failed" if "error" in record else "skipped" if "skipped" in record else "indexed"] += 1
        if args.json:
            print(json.dumps(record, sort_keys=True))
    print(f"{args.index_name}: {counts['indexed']} indexed, {counts['skipped']} already indexed, "
          f"{counts['failed']} failed", file=sys.stderr)
    return WORK_FAILED if counts["failed"] else OK


def cmd_search(client: zerorpc.Client, args: argparse.Namespace) -> int:
    query = " ".join(f'"{word}"' if " " in word else word for word in args.query)
    hits = client.search_index(args.index_name, query, args.limit)
    _emit(args, hits, ch.format_table(hits, ["md5", "worker", "field", "snippet"]) if hits
          else f"no sample in index {args.index_name!r} holds {query!r}")
    return OK


def _rule_sources(paths: list[Path]) -> str | dict[str, str]:
    """One file's text (namespace 'default', as yara.compile), or {path without extension: text} for several."""
    if len(paths) == 1 and paths[0].is_file():
        return paths[0].read_text(errors="replace")
    sources: dict[str, str] = {}
    for path in paths:
        files = sorted(f for f in path.rglob("*") if f.suffix.lower() in (".yar", ".yara")) if path.is_dir() else [path]
        for file in files:
            name = file.relative_to(path).with_suffix("") if path.is_dir() else file.with_suffix("")
            sources[name.as_posix()] = file.read_text(errors="replace")
    if not sources:
        raise CliError(f"no .yar/.yara rule files in {', '.join(map(str, paths))}", USAGE)
    return sources


def cmd_retrohunt(client: zerorpc.Client, args: argparse.Namespace) -> int:
    sources = _rule_sources(args.rules)
    kwargs = {"type_tag": args.type_tag, "tags": args.tag or None, "progress": True, "batch_size": 100}
    rows, failed, matched = [], 0, 0
    with tqdm(desc="retrohunt", unit="sample", file=sys.stderr, disable=None) as bar:
        for record in ch.flatten(client.retrohunt(sources, kwargs, slots=10)):
            if "progress" in record:
                bar.total = record["progress"]["total"]
                bar.update(record["progress"]["done"] - bar.n)
                continue
            failed += bool(record.get("error"))
            matched += bool(record["matches"])
            if args.json:
                print(json.dumps(record, sort_keys=True))
            elif record.get("error"):
                print(f"{record['md5']}: {record['error']['message']}", file=sys.stderr)
            else:
                rows.append({"md5": record["md5"], "rules": ", ".join(
                    f"{m['namespace']}:{m['rule']}" if m["namespace"] != "default" else m["rule"]
                    for m in record["matches"])})
    if not args.json:
        print(ch.format_table(rows, ["md5", "rules"]) if rows else "no sample matches")
    print(f"retrohunt: {matched} samples match, {failed} could not be scanned", file=sys.stderr)
    return WORK_FAILED if failed else OK


def cmd_workers(client: zerorpc.Client, args: argparse.Namespace) -> int:
    workers = client.list_all_workers()
    rows = [{**w, "summary": w["summary"] if w["status"] == "ok" else w["error"]} for w in workers]
    _emit(args, workers, ch.format_table(rows, ["name", "status", "summary"]))
    return OK


def cmd_help(client: zerorpc.Client, args: argparse.Namespace) -> int:
    text = client.help(args.topic)
    _emit(args, {"topic": args.topic, "help": text}, text)
    return OK


def _help(args: argparse.Namespace) -> int:
    """``workbench help [TOPIC]``: this tool's commands and options (no server needed), then the server's API
    and workers; a TOPIC that is not a command is asked of the server."""
    text = cli_extras.cli_help(build_parser(), args.topic)
    if text is None:
        return run_with_client(args)
    if args.topic is None:
        if ch.port_answers(args.server, args.port):
            return run_with_client(args, before=text + "\nServer API and workers\n======================\n")
        text += (f"\n(the server's API and workers are listed here when a server answers at "
                 f"{args.server}:{args.port}; start one with `workbench-server`)")
    _emit(args, {"topic": args.topic, "help": text}, text)
    return OK


def cmd_call(client: zerorpc.Client, args: argparse.Namespace) -> int:
    for line in cli_extras.call(client, args.method, args.args):
        print(line, flush=True)
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
    if args.command == "help":
        return _help(args)
    return run_with_client(args)


def run_with_client(args: argparse.Namespace, before: str = "") -> int:
    """Connect and run the command's handler (``before``: text printed once connected)."""
    client = _connect(args)
    if before and not args.json:
        print(before)
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
