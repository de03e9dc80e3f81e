"""Help for commands and workers, built from their docstrings (one source of truth)."""

from __future__ import annotations

import difflib
import inspect
from typing import Any

from workbench.exceptions import BadArgument
from workbench.server.plugin_manager import LoadedWorker


def command_help(name: str, method: Any) -> str:
    """``name(args)`` and the method's docstring."""
    signature = str(inspect.signature(method))
    return f"{name}{signature}\n    {inspect.getdoc(method) or ''}".rstrip()


def worker_help(worker: LoadedWorker) -> str:
    """A worker's docstring with its dependencies, applicability and status."""
    lines = [f"worker {worker.name}  [{'ok' if worker.ok else 'FAILED'}]"]
    if worker.error:
        lines.append(f"    error: {worker.error}")
    lines.append(f"    dependencies: {', '.join(worker.dependencies) or '-'}")
    if worker.applies_to:
        lines.append(f"    applies to: {', '.join(worker.applies_to)}")
    lines += ["", *("    " + line for line in (worker.doc or "(no docstring)").splitlines())]
    return "\n".join(lines)


def overview(commands: dict[str, Any], workers: dict[str, LoadedWorker]) -> str:
    """Every command and worker, one line each."""
    lines = ["Workbench: bring the work to the data.", "", "Commands (help('NAME') for details):"]
    for name, method in sorted(commands.items()):
        summary = (inspect.getdoc(method) or "").splitlines()[0:1]
        lines.append(f"  {name:<22} {summary[0] if summary else ''}")
    lines += ["", "Workers (help('NAME') for details):"]
    for name, worker in sorted(workers.items()):
        status = "" if worker.ok else "  [FAILED: see help]"
        lines.append(f"  {name:<22} {worker.summary}{status}")
    return "\n".join(lines)


def help_text(topic: str | None, commands: dict[str, Any], workers: dict[str, LoadedWorker]) -> str:
    """Help on a command, a worker, or (no topic) everything."""
    if topic is None or topic in ("", "workbench"):
        return overview(commands, workers)
    if topic in commands:
        return command_help(topic, commands[topic])
    if topic in workers:
        return worker_help(workers[topic])
    close = difflib.get_close_matches(str(topic), [*commands, *workers], n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise BadArgument(f"no help topic {topic!r}.{hint} help() lists every command and worker")
