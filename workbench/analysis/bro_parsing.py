"""Zeek (Bro) ASCII logs: the ``#`` header block and typed records.

The header gives the separator (``#separator \\x09``), the set separator, the strings marking an empty
container (``(empty)``) and an unset value (``-``), the log ``#path`` and, in ``#fields``/``#types``, the
column names and Zeek types. Values are converted by type: count/int/port -> int; double/time/interval ->
float (NaN/inf -> None, as they cannot be stored); bool T/F -> True/False; set[..]/vector[..]/table[..] ->
list of converted elements; unset -> None; empty -> [] for containers and "" otherwise; anything else
(string, addr, subnet, enum...) stays text, Zeek's \\xNN escapes untouched. A value that does not convert
stays text and is counted. A later ``#fields`` block (concatenated logs) replaces the columns from there on.

``read_log`` yields records lazily, so a stream of any length costs one record of memory at a time;
``iter_rows`` yields unconverted rows, for counting.
"""

from __future__ import annotations

import codecs
import io
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

INT_TYPES = frozenset({"count", "int", "port", "counter"})
FLOAT_TYPES = frozenset({"double", "time", "interval"})
CONTAINERS = ("set[", "vector[", "table[")


@dataclass
class BroHeader:
    """What the ``#`` lines declared (the latest block wins) and how many lines did not parse."""

    separator: str = "\t"
    set_separator: str = ","
    empty_field: str = "(empty)"
    unset_field: str = "-"
    path: str | None = None
    open: str | None = None
    close: str | None = None
    fields: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    malformed_lines: int = 0
    malformed_values: int = 0
    converters: list[Callable[[str], Any]] = field(default_factory=list, repr=False)
    converters_for: list[str] | None = field(default=None, repr=False)


def _float(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


def _bool(text: str) -> bool:
    if text not in ("T", "F"):
        raise ValueError(f"not a Zeek bool: {text!r}")
    return text == "T"


def _scalar(zeek_type: str) -> Callable[[str], Any]:
    if zeek_type in INT_TYPES:
        return int
    if zeek_type in FLOAT_TYPES:
        return _float
    if zeek_type == "bool":
        return _bool
    return str


def _converter(zeek_type: str, header: BroHeader) -> Callable[[str], Any]:
    if zeek_type.startswith(CONTAINERS):
        inner = _scalar(zeek_type[zeek_type.index("[") + 1:-1])

        def container(text: str) -> list[Any]:
            if text == header.empty_field:
                return []
            return [None if item == header.unset_field else inner(item)
                    for item in text.split(header.set_separator)]
        return container
    scalar = _scalar(zeek_type)
    return (lambda text: "" if text == header.empty_field else text) if scalar is str else scalar


def _header_line(line: str, header: BroHeader) -> None:
    if line.startswith("#separator "):
        header.separator = codecs.decode(line[len("#separator "):], "unicode_escape")
        return
    key, _, value = line[1:].partition(header.separator)
    if key in ("set_separator", "empty_field", "unset_field", "path", "open", "close"):
        setattr(header, key, value)
    elif key in ("fields", "types"):
        setattr(header, key, value.split(header.separator))


def iter_rows(raw: bytes) -> tuple[BroHeader, Iterator[list[str]]]:
    """The header (filled in as the iterator advances; complete once it is exhausted) and each data line's
    text values, unconverted (cheap, for counting). Lines whose column count does not match ``#fields`` are
    counted in ``malformed_lines`` and skipped. Lines are split on ``\\n`` only and decoded one at a time as
    UTF-8 (bad bytes replaced)."""
    header = BroHeader()

    def rows() -> Iterator[list[str]]:
        for raw_line in io.BytesIO(raw):
            line = raw_line.rstrip(b"\r\n").decode("utf-8", "replace")
            if line.startswith("#"):
                _header_line(line, header)
            elif line:
                values = line.split(header.separator)
                if len(values) == len(header.fields) == len(header.types):
                    yield values
                else:
                    header.malformed_lines += 1

    return header, rows()


def to_record(header: BroHeader, values: list[str]) -> dict[str, Any]:
    """One row from ``iter_rows`` as {field: typed value}, using the header in force for that row."""
    if header.converters_for is not header.types:
        header.converters_for = header.types
        header.converters = [_converter(t, header) for t in header.types]
    return {name: _value(convert, text, header)
            for name, convert, text in zip(header.fields, header.converters, values, strict=True)}


def read_log(raw: bytes) -> tuple[BroHeader, Iterator[dict[str, Any]]]:
    """The header and the typed records, lazily (one record of memory at a time, for streaming)."""
    header, rows = iter_rows(raw)
    return header, (to_record(header, values) for values in rows)


def _value(convert: Callable[[str], Any], text: str, header: BroHeader) -> Any:
    if text == header.unset_field:
        return None
    try:
        return convert(text)
    except ValueError:
        header.malformed_values += 1
        return text
