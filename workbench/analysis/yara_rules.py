"""A folder of YARA rule files, compiled once and recompiled when any file changes.

Public rule sets often hold files that no longer compile with current YARA (removed modules, changed
syntax). Each file is compiled on its own first; the ones that fail are left out and reported with the
error, and the rest are compiled together, one namespace per file (its path relative to the folder, without
the extension), so a single broken file never disables the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yara

RULE_SUFFIXES = (".yar", ".yara")


@dataclass
class CompiledFolder:
    """Compiled rules of one folder (None when no file compiled), the files that failed, and identity."""

    folder: str
    stamp: tuple
    rules: yara.Rules | None
    rule_files: list[str] = field(default_factory=list)
    rule_errors: list[dict[str, str]] = field(default_factory=list)


def rule_files(folder: str) -> list[Path]:
    """Every rule file under ``folder`` (recursively), sorted by path."""
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in RULE_SUFFIXES and p.is_file())


def folder_stamp(folder: str) -> tuple:
    """(relative path, mtime_ns, size) of every rule file: changes when a file is added, removed or edited."""
    root = Path(folder)
    stamps = []
    for path in rule_files(folder):
        stat = path.stat()
        stamps.append((path.relative_to(root).as_posix(), stat.st_mtime_ns, stat.st_size))
    return tuple(stamps)


def compile_folder(folder: str) -> CompiledFolder:
    """Compile every rule file that compiles on its own; report the others as {file, error}."""
    root = Path(folder)
    stamp = folder_stamp(folder)
    good: dict[str, str] = {}
    errors = []
    for path in rule_files(folder):
        relative = path.relative_to(root).as_posix()
        try:
            yara.compile(filepath=str(path))
        except yara.Error as exc:  # a broken public rule file is reported, not fatal
            errors.append({"file": relative, "error": str(exc)})
            continue
        good[relative.rsplit(".", 1)[0]] = str(path)
    rules = yara.compile(filepaths=good) if good else None
    return CompiledFolder(folder, stamp, rules, sorted(good), errors)


def describe_matches(matches: list[yara.Match], max_strings: int) -> list[dict]:
    """JSON-ready matches: rule, namespace, tags, meta and up to ``max_strings`` (identifier, offset) hits."""
    described = []
    for match in matches:
        hits = [{"identifier": s.identifier, "offset": instance.offset, "length": instance.matched_length}
                for s in match.strings for instance in s.instances]
        hits.sort(key=lambda hit: hit["offset"])
        described.append({
            "rule": match.rule,
            "namespace": match.namespace,
            "tags": list(match.tags),
            "meta": dict(match.meta),
            "strings": hits[:max_strings],
            "string_hits": len(hits),
        })
    return described
