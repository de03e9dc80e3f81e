"""Help formatter: turns a help document (a command, a worker, the index, the getting-started text, or the list
of commands or of workers) into readable text.

The server builds the document from docstrings and runs this worker on ``help(topic)``; replace it with a
plugin of the same name to change how help looks. Returns ``text``.
"""

INDENT = "    "


class HelpFormatter:
    """Formats help documents (commands, workers, the index) as plain text; returns text."""

    dependencies = ["help"]
    applies_to = ("help",)

    def execute(self, input_data: dict) -> dict:
        document = input_data["help"]
        kind = document["kind"]
        if kind == "index":
            lines = ["Workbench: bring the work to the data. help('basic') to get started.", "",
                     *_listing(document, "commands"), "", *_listing(document, "workers")]
        elif kind in ("commands", "workers"):
            lines = _listing(document, kind)
        elif kind == "basic":
            lines = document["doc"].splitlines()
        elif kind == "command":
            lines = [document["signature"], *(INDENT + line for line in document["doc"].splitlines())]
        else:
            lines = [f"worker {document['topic']}  [{'ok' if document['status'] == 'ok' else 'FAILED'}]"]
            if document["error"]:
                lines.append(f"{INDENT}error: {document['error']}")
            lines.append(f"{INDENT}dependencies: {', '.join(document['dependencies']) or '-'}")
            if document["applies_to"]:
                lines.append(f"{INDENT}applies to: {', '.join(document['applies_to'])}")
            lines += ["", *(INDENT + line for line in (document["doc"] or "(no docstring)").splitlines())]
        return {"text": "\n".join(line.rstrip() for line in lines)}


def _listing(document: dict, kind: str) -> list[str]:
    lines = [f"{kind.capitalize()} (help('NAME') for details):"]
    for item in document[kind]:
        failed = item.get("status", "ok") != "ok"
        lines.append(f"  {item['name']:<22} {item['summary']}" + ("  [FAILED: see help]" if failed else ""))
    return lines
