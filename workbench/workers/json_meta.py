"""JSON meta: shape of a JSON document (or JSON Lines file): top-level type, keys, records and depth.

Returns byte_size, format ("json", or "json_lines" for one document per line, e.g. Zeek JSON logs),
top_level_type ("object", "array", "string", "number", "boolean" or "null"; "array" for JSON Lines),
record_count (array length or number of lines; None for other types), top_level_keys (an object's keys in
file order, or for records the union of the record objects' keys in first-seen order; cut at
``max_keys``), key_count (number of those keys, before the cut), keys_truncated, key_counts (records only:
{key: number of records holding it}, cut like top_level_keys; None for an object), record_types
(records only: {type: count}), depth (deepest nesting of arrays/objects: 0 for a scalar, 1 for {"a": 1},
2 for [{"a": 1}]) and node_count (every value in the document, containers included).
Text that is neither JSON nor JSON Lines is an error naming the line and column where parsing stopped.
"""

import json
from collections import Counter
from typing import Any

TYPE_NAMES = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean",
              type(None): "null"}


def parse(raw: bytes) -> tuple[Any, str]:
    """The document and its format; JSON Lines become a list of the line documents."""
    try:
        return json.loads(raw), "json"
    except json.JSONDecodeError as exc:
        if not exc.msg.startswith("Extra data"):
            raise ValueError(f"not valid JSON: {exc}") from None
        first_error = exc
    except RecursionError:
        raise ValueError("JSON nested deeper than Python's json parser allows (about 1000 levels)") from None
    try:
        return [json.loads(line) for line in raw.splitlines() if line.strip()], "json_lines"
    except json.JSONDecodeError:
        raise ValueError(f"not valid JSON nor JSON Lines: {first_error}") from None


def shape(document: object) -> tuple[int, int]:
    """(depth, node_count) without recursion, so deep documents cannot overflow the stack."""
    depth, nodes = 0, 0
    stack = [(document, 0)]
    while stack:
        value, level = stack.pop()
        nodes += 1
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        if isinstance(value, dict | list):
            depth = max(depth, level + 1)
            stack.extend((child, level + 1) for child in children)
    return depth, nodes


class JsonMeta:
    """JSON document summary: top-level type, keys and key counts, record count, nesting depth."""

    dependencies = ["sample"]
    applies_to = ("json",)
    options = {"max_keys": 1000}

    def execute(self, input_data: dict) -> dict:
        raw = input_data["sample"]["raw_bytes"]
        document, fmt = parse(raw)
        is_records = isinstance(document, list)
        key_counts: Counter[str] = Counter()
        if is_records:
            for record in document:
                if isinstance(record, dict):
                    key_counts.update(record.keys())
        keys = list(key_counts) if is_records else list(document) if isinstance(document, dict) else []
        cap = self.options["max_keys"]
        depth, nodes = shape(document)
        return {
            "byte_size": len(raw),
            "format": fmt,
            "top_level_type": TYPE_NAMES[type(document)],
            "record_count": len(document) if is_records else None,
            "top_level_keys": keys[:cap],
            "key_count": len(keys),
            "keys_truncated": len(keys) > cap,
            "key_counts": {key: key_counts[key] for key in keys[:cap]} if is_records else None,
            "record_types": dict(Counter(TYPE_NAMES[type(r)] for r in document)) if is_records else None,
            "depth": depth,
            "node_count": nodes,
        }
