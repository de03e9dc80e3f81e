"""Help documents for commands and workers, built from their docstrings (one source of truth).

The server builds a document; the ``help_formatter`` worker (replaceable like any worker) turns it into text.
"""

from __future__ import annotations

import difflib
import inspect
import json
from typing import Any

from workbench.exceptions import BadArgument
from workbench.server.planning.plugin_manager import LoadedWorker, PluginManager

FORMATTER = "help_formatter"


def _summary(doc: str | None) -> str:
    lines = (doc or "").strip().splitlines()
    return lines[0] if lines else ""


def command_document(name: str, method: Any) -> dict[str, Any]:
    """A command's signature and docstring."""
    return {"kind": "command", "topic": name, "signature": f"{name}{inspect.signature(method, eval_str=True)}",
            "doc": inspect.getdoc(method) or ""}


def worker_document(worker: LoadedWorker) -> dict[str, Any]:
    """A worker's docstring, dependencies, applicability and load status."""
    return {"kind": "worker", "topic": worker.name, "doc": worker.doc, "status": "ok" if worker.ok else "failed",
            "error": worker.error, "dependencies": worker.dependencies, "applies_to": list(worker.applies_to)}


def index_document(commands: dict[str, Any], workers: dict[str, LoadedWorker]) -> dict[str, Any]:
    """Every command and worker with its one-line summary."""
    return {"kind": "index", "topic": "workbench",
            "commands": [{"name": n, "summary": _summary(inspect.getdoc(m))} for n, m in sorted(commands.items())],
            "workers": [{"name": n, "summary": w.summary, "status": "ok" if w.ok else "failed"}
                        for n, w in sorted(workers.items())]}


BASIC = """Getting started (each line is one call on a connected client, e.g. zerorpc.Client().connect(...)):
  md5 = workbench.store_sample(open('calc.exe', 'rb').read(), 'calc.exe', 'unknown')   # type guessed
  workbench.work_request('view', md5)               # the summary view; any worker by name, cached after once
  workbench.work_request('meta', md5[:6], ['file_type', 'sha256'])   # md5 prefixes and subkeys work
  for row in workbench.batch_work_request('meta', {'type_tag': 'exe'}): ...   # a stream over many samples
  workbench.help('commands'), workbench.help('workers'), workbench.help('NAME')   # more help
From a shell: `workbench upload FILE`, `workbench work view MD5`, `workbench help`."""


TOPICS = ("basic", "commands", "workers")


def help_document(topic: str | None, commands: dict[str, Any], workers: dict[str, LoadedWorker]) -> dict[str, Any]:
    """The document for a topic: 'basic', 'commands', 'workers', a command, a worker, or (no topic) the index."""
    if topic is None or topic in ("", "workbench"):
        return index_document(commands, workers)
    if topic == "basic":
        return {"kind": "basic", "topic": "basic", "doc": BASIC}
    if topic in ("commands", "workers"):
        index = index_document(commands, workers)
        return {"kind": topic, "topic": topic, topic: index[topic]}
    if topic in commands:
        return command_document(topic, commands[topic])
    if topic in workers:
        return worker_document(workers[topic])
    close = difflib.get_close_matches(str(topic), [*TOPICS, *commands, *workers], n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise BadArgument(f"no help topic {topic!r}.{hint} help() lists every command and worker")


def help_text(topic: str | None, commands: dict[str, Any], plugins: PluginManager) -> str:
    """Help as text, formatted by the help_formatter worker (the raw document as JSON if it is not loaded)."""
    document = help_document(topic, commands, plugins.all())
    formatter = plugins.all().get(FORMATTER)
    if formatter is None or not formatter.ok:
        return json.dumps(document, indent=2)
    return formatter.instance.execute({"help": document})["text"]
