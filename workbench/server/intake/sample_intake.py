"""How bytes become a stored sample: size check first, md5, type_tag guess, one copy kept."""

from __future__ import annotations

import hashlib
import logging
import re

from workbench.exceptions import BadArgument, SampleTooLarge, UnknownMD5
from workbench.server.data_store.base import DataStore
from workbench.server.intake.type_tagger import TYPE_TAGS, guess_type_tag

MD5_PATTERN = re.compile(r"^[0-9a-f]{32}$")
PREFIX_PATTERN = re.compile(r"^[0-9a-f]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
log = logging.getLogger(__name__)
CHUNK_TAG = "chunk"


def check_md5(md5: object) -> str:
    """The md5 lowercased, or BadArgument saying what an md5 looks like."""
    if not isinstance(md5, str) or not MD5_PATTERN.match(md5.lower()):
        raise BadArgument(f"bad md5 {md5!r}: expected 32 hex digits, as returned by store_sample")
    return md5.lower()


MIN_PREFIX = 6


def resolve_md5(store: DataStore, md5: object) -> str:
    """A full md5 for ``md5`` or a unique prefix of it (6+ hex digits, as the original Workbench took).

    A full md5 is returned as it is (lowercased) without a store read; a prefix is looked up (an index range)."""
    if isinstance(md5, str) and MIN_PREFIX <= len(md5) < 32 and PREFIX_PATTERN.match(md5.lower()):
        prefix = md5.lower()
        found = store.md5s_with_prefix(prefix, 11)
        if len(found) == 1:
            return found[0]
        if not found:
            raise UnknownMD5(f"no stored sample's md5 starts with {prefix!r}; store it first with store_sample")
        more = " (and more)" if len(found) > 10 else ""
        raise BadArgument(f"md5 prefix {prefix!r} is ambiguous: it starts {', '.join(found[:10])}{more}; "
                          "give more digits")
    return check_md5(md5)


def check_size(length: int, max_bytes: int) -> None:
    """SampleTooLarge before any bytes are kept."""
    if max_bytes and length > max_bytes:
        raise SampleTooLarge(
            f"sample of {length:,} bytes is larger than max_sample_size_mb ({max_bytes // 2**20} MB); "
            "raise [server] max_sample_size_mb in config.ini, or upload a smaller file"
        )


UNKNOWN_TAG = "unknown"  # the original's clients send it to mean "guess the type"


def clean_filename(filename: object) -> str:
    """Filenames are data, never paths: a str, no control characters, at most 1024 characters."""
    if filename is None:
        return ""
    if isinstance(filename, bytes):
        filename = filename.decode("utf-8", "replace")
    if not isinstance(filename, str):
        raise BadArgument(f"filename must be a string, got {type(filename).__name__}")
    return _CONTROL.sub("", filename)[:1024]


def store_bytes(store: DataStore, raw_bytes: bytes, filename: str, type_tag: str | None,
                max_bytes: int) -> str:
    """Store bytes as a sample (idempotent) and return the md5; type_tag guessed when empty."""
    if not isinstance(raw_bytes, bytes | bytearray | memoryview):
        raise BadArgument(f"sample bytes must be bytes, got {type(raw_bytes).__name__}")
    raw_bytes = bytes(raw_bytes)
    check_size(len(raw_bytes), max_bytes)
    filename = clean_filename(filename)
    type_tag = given_type_tag(type_tag)
    md5 = hashlib.md5(raw_bytes).hexdigest()
    if store.has_sample(md5):
        if type_tag:
            correct_type_tag(store, md5, type_tag)
    elif store.store_sample(raw_bytes, md5, filename, type_tag or guess_type_tag(raw_bytes, filename)):
        warn_if_empty(len(raw_bytes), md5, filename)
    return md5


def given_type_tag(type_tag: object) -> str:
    """The type_tag a client gave, checked; '' (guess it) for none, or the original's ``'unknown'``."""
    if type_tag is None or type_tag == UNKNOWN_TAG:
        return ""
    check_type_tag(type_tag)
    return str(type_tag)


def check_type_tag(type_tag: object) -> None:
    """BadArgument unless empty (guess it) or a short lowercase name."""
    if type_tag and (not isinstance(type_tag, str) or not re.match(r"^[a-z0-9_]{1,32}$", type_tag)):
        raise BadArgument(f"bad type_tag {type_tag!r}: use a short lowercase name such as {', '.join(TYPE_TAGS)}")


def correct_type_tag(store: DataStore, md5: str, type_tag: str) -> None:
    """An explicit type_tag on a stored sample wins (a re-upload fixes a wrong tag); its old outputs go.

    Except ``chunk``: it marks an upload part, not a type, so a sample stored in its own right keeps its tag."""
    if type_tag != CHUNK_TAG and store.set_type_tag(md5, type_tag):
        log.info("sample %s: type_tag set to %r by an explicit re-upload; its stored outputs were dropped",
                 md5, type_tag)


def warn_if_empty(length: int, md5: str, filename: str) -> None:
    """An empty sample is legal but rarely meant: say so in the server log (clients warn their user too)."""
    if length == 0:
        log.warning("stored an empty (0-byte) sample %s named %r: check the file it came from", md5, filename)
