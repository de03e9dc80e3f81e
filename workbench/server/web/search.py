"""The search box: one string to store filters (md5 prefix, filename substring, type_tag, tag).

``type:exe tag:apt1 name:invoice md5:0a3f`` set filters explicitly; a bare term is an md5 prefix when it is
all hex digits, else a type_tag or tag when one by that name exists, else a filename substring.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PREFIXES = {"md5": "md5_prefix", "name": "filename", "file": "filename", "filename": "filename",
            "type": "type_tag", "type_tag": "type_tag", "tag": "tag"}
HEX = re.compile(r"[0-9a-fA-F]{1,32}")


@dataclass
class Search:
    """The filters a query string stands for, and how it was read (shown to the user)."""

    filters: dict[str, str] = field(default_factory=dict)
    readings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def parse_query(query: str, type_tags: dict[str, int], tags: dict[str, int]) -> Search:
    """Read a query string; ``type_tags`` and ``tags`` (names in use) decide what a bare word means."""
    search = Search()
    bare: list[str] = []
    for token in query.split():
        name, sep, value = token.partition(":")
        if sep and name.lower() in PREFIXES and value:
            search.filters[PREFIXES[name.lower()]] = value
        else:
            bare.append(token)
    if bare:
        term = " ".join(bare)
        if HEX.fullmatch(term):
            search.filters.setdefault("md5_prefix", term)
        elif term in type_tags:
            search.filters.setdefault("type_tag", term)
        elif term in tags:
            search.filters.setdefault("tag", term)
        else:
            search.filters.setdefault("filename", term)
    prefix = search.filters.get("md5_prefix")
    if prefix is not None and not HEX.fullmatch(prefix):
        search.problems.append(f"md5:{prefix} is not an md5 prefix (1 to 32 hex digits)")
        del search.filters["md5_prefix"]
    labels = {"md5_prefix": "md5 starts with", "filename": "filename contains", "type_tag": "type is",
              "tag": "tagged"}
    search.readings = [f"{labels[k]} {v!r}" for k, v in search.filters.items()]
    return search
