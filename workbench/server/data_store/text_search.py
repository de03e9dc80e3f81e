"""Full-text search over worker outputs: what gets indexed, the query language, and hit snippets.

Shared by every backend, so they index the same text and read a query the same way:

- An output (or the dotted ``subfields`` of it) is flattened into ``(field, text)`` pairs: one pair per leaf
  path with list positions dropped (``domains.value``), its text every string found there, one per line.
  Numbers, booleans and dict keys are not indexed.
- Text is split into tokens like sqlite FTS5's ``unicode61`` tokenizer: runs of letters and digits, case-folded;
  everything else separates tokens. ``evil.com`` is the tokens ``evil``, ``com``.
- A query is one or more terms separated by spaces; a hit holds every term (AND). A term matches where its
  tokens stand next to each other in that order: ``evil.com`` finds ``www.evil.com`` and ``http://evil.com/x``,
  not ``evil.company``. ``"two words"`` in double quotes is one term. No operators, so any text is safe.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from workbench.exceptions import BadArgument

_TOKEN = re.compile(r"[^\W_]+")
SNIPPET_CHARS = 200
MAX_FIELD_CHARS = 1 << 20  # text kept per field: far more than any domain/import list, bounded for MongoDB


def tokens(text: str) -> list[str]:
    """Case-folded runs of letters and digits, as FTS5 ``unicode61`` splits them."""
    return _TOKEN.findall(text.casefold())


def query_words(query: Any) -> list[str]:
    """The query's terms as written (quoted phrases kept whole); BadArgument when none holds a letter or digit."""
    if not isinstance(query, str):
        raise BadArgument(f"search query must be a string such as 'evil.com', got {type(query).__name__}")
    try:
        words = shlex.split(query)
    except ValueError:  # an unbalanced quote: read the text as plain words
        words = query.replace('"', " ").split()
    words = [word for word in words if tokens(word)]
    if not words:
        raise BadArgument(f"search query {query!r} has no letters or digits to look for; try e.g. 'evil.com'")
    return words


def parse_query(query: Any) -> list[list[str]]:
    """The query's terms, each a list of tokens that must stand together; BadArgument for an empty query."""
    return [tokens(word) for word in query_words(query)]


def _has_term(text_tokens: list[str], term: list[str]) -> bool:
    width = len(term)
    return any(text_tokens[i:i + width] == term for i in range(len(text_tokens) - width + 1))


def text_matches(text: str, terms: list[list[str]]) -> bool:
    """Whether ``text`` holds every term (the same rule the sqlite FTS5 query applies)."""
    found = tokens(text)
    return all(_has_term(found, term) for term in terms)


def snippet(text: str, terms: list[list[str]]) -> str:
    """The first indexed line holding a term (a whole domain, import or string), cut to ``SNIPPET_CHARS``."""
    lines = text.split("\n")
    best = next((line for line in lines if any(_has_term(tokens(line), t) for t in terms)), lines[0])
    return best if len(best) <= SNIPPET_CHARS else best[:SNIPPET_CHARS - 3] + "..."


def subfield_list(subfields: Any) -> list[str] | None:
    """The original's single dotted string, a list of them, or None (the whole output)."""
    if subfields is None or subfields == []:
        return None
    if isinstance(subfields, str):
        subfields = [subfields]
    if not isinstance(subfields, list | tuple) or not all(isinstance(s, str) and s.strip() for s in subfields):
        raise BadArgument(f"subfields must be a dotted field name, a list of them, or None; got {subfields!r}")
    return [s.strip() for s in subfields]


def _pick(output: dict[str, Any], path: str, worker: str) -> Any:
    value: Any = output
    for part in path.split("."):
        if isinstance(value, list):  # a field inside a list of records: collect it from each one
            value = [item.get(part) for item in value if isinstance(item, dict) and part in item]
            continue
        if not isinstance(value, dict) or part not in value:
            keys = sorted(value)[:20] if isinstance(value, dict) else type(value).__name__
            raise BadArgument(f"subfield {path!r} not found in the {worker!r} output (at {part!r}: it has {keys})")
        value = value[part]
    return value


def _collect(value: Any, path: str, into: dict[str, list[str]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _collect(item, f"{path}.{key}" if path else str(key), into)
    elif isinstance(value, list):
        for item in value:
            _collect(item, path, into)
    elif isinstance(value, str) and value:
        into.setdefault(path, []).append(value.replace("\n", " "))


def flatten(output: dict[str, Any], subfields: list[str] | None, worker: str) -> list[tuple[str, str]]:
    """``(field, text)`` pairs to index: every string under each leaf path, one per line."""
    found: dict[str, list[str]] = {}
    if subfields is None:
        _collect(output, "", found)
    else:
        for path in subfields:
            _collect(_pick(output, path, worker), path, found)
    return [(field, "\n".join(texts)[:MAX_FIELD_CHARS]) for field, texts in found.items()]


def fts5_query(terms: list[list[str]]) -> str:
    """The FTS5 MATCH expression: each term a quoted phrase of its tokens, implicitly ANDed."""
    return " ".join('"' + " ".join(term) + '"' for term in terms)
