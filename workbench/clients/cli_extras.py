"""Parts of the ``workbench`` command line with one job each: checking a batch selection names something, help
on the command line itself, ``workbench call``, and ending a stream cleanly on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import zerorpc

CALL_EPILOG = """\
Each ARG is read as JSON when it parses (42, true, null, "text", [1, 2], {"k": 1}), else taken as a string;
@FILE passes the bytes of FILE. The result is printed as JSON (bytes as hex); a stream prints one JSON line per
message. With no METHOD, the server's methods are listed. This is the working stand-in for zerorpc's own
`zerorpc` command line tool, which crashes on any call under Python >= 3.10.

  workbench call info
  workbench call work_request meta 033d91aae8ad29ed9fbb858179271232
  workbench call batch_work_request meta '{"type_tag": "pdf", "subkeys": ["length"]}'
  workbench call store_sample @sample.exe sample.exe exe"""


def _listing(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} ({count})" for name, count in sorted(counts.items()))


def selection_problem(client: zerorpc.Client, type_tag: str | None, tags: list[str]) -> str | None:
    """Why a batch selection that matched nothing names something unknown (a typo?), listing the known names;
    None when every name is in use (the combination is just empty)."""
    if type_tag:
        known = client.get_type_tags()
        if type_tag not in known:
            return f"no sample has type_tag {type_tag!r}; known type_tags: {_listing(known) or 'none (no samples)'}"
    if tags:
        known = client.get_all_tags()
        missing = [t for t in tags if t not in known]
        if missing:
            return (f"no sample has tag {missing[0]!r}; known tags: "
                    f"{_listing(known) or 'none yet (add some with `workbench upload --tag T PATH`)'}")
    return None


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps subparsers here; it offers no public accessor
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def cli_help(parser: argparse.ArgumentParser, topic: str | None) -> str | None:
    """Help on the command line: one command's usage and options, or (no topic) every command's; None when
    ``topic`` is not a command (then it is a server topic: an API method or a worker)."""
    commands = _commands(parser)
    if topic is not None:
        return commands[topic].format_help() if topic in commands else None
    parts = [parser.format_help(), "Commands and their options\n=========================="]
    parts += [f"--- workbench {name} ---\n{sub.format_help()}" for name, sub in commands.items()]
    return "\n".join(parts)


def call_arg(text: str) -> Any:
    """One ``workbench call`` argument: @FILE -> its bytes, JSON when it parses, else the string."""
    if text.startswith("@") and len(text) > 1:
        return Path(text[1:]).read_bytes()
    try:
        return json.loads(text)
    except ValueError:
        return text


def _json_line(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=lambda v: v.hex() if isinstance(v, bytes) else str(v))


def call(client: zerorpc.Client, method: str | None, args: list[str]) -> Iterator[str]:
    """The lines ``workbench call`` prints: the result as JSON, a stream as one JSON line per message, or (no
    method) the server's methods with their first doc line."""
    if not method:
        methods = client._zerorpc_inspect()["methods"]  # zerorpc's own introspection call
        for name, spec in sorted(methods.items()):
            if name.startswith("_"):
                continue
            yield f"{name}{spec.get('args') and '(' + ', '.join(a['name'] for a in spec['args']) + ')' or '()'}: " \
                  f"{(spec.get('doc') or '').strip().splitlines()[0] if spec.get('doc') else ''}"
        return
    result = client(method, *[call_arg(a) for a in args])
    if isinstance(result, Iterator):
        for message in result:
            yield _json_line(message)
    else:
        yield json.dumps(result, indent=2, sort_keys=True,
                         default=lambda v: v.hex() if isinstance(v, bytes) else str(v))


class Interrupt:
    """Ctrl-C during a stream: the first one ends the stream where it is (what was received is kept)."""

    def __init__(self) -> None:
        self.requested = False
        self._waiting = False
        self._previous: Any = None

    def __enter__(self) -> Interrupt:
        import gevent

        hub = gevent.get_hub()
        if KeyboardInterrupt not in hub.NOT_ERROR:  # no "KeyboardInterrupt" report from gevent's hub on stderr
            hub.NOT_ERROR = (*hub.NOT_ERROR, KeyboardInterrupt)
        self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._previous)

    def _on_sigint(self, *_: object) -> None:
        self.requested = True
        if self._waiting:  # blocked on the network: wake up now
            raise KeyboardInterrupt
        # otherwise (e.g. writing a file) the stream stops before the next result

    def results(self, stream: Iterable[Any]) -> Iterator[Any]:
        """The stream's items until it ends or Ctrl-C is pressed."""
        items = iter(stream)
        while not self.requested:
            self._waiting = True
            try:
                item = next(items)
            except StopIteration:
                return
            except KeyboardInterrupt:
                self.requested = True
                return
            finally:
                self._waiting = False
            yield item


def say_interrupted(received: int, total: int, out: Path | None) -> None:
    """The one line after a Ctrl-C: how far the batch got and what the output file holds."""
    kept = f"; {out} is a complete file of the {received} results received" if out else ""
    print(f"workbench: interrupted after {received} of {total} results{kept}", file=sys.stderr)
