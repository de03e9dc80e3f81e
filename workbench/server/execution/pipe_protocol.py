"""Length-prefixed msgpack frames between the server and its worker processes (no pickle anywhere)."""

from __future__ import annotations

import struct
from typing import Any, BinaryIO

import msgpack

_HEADER = struct.Struct("!I")


def write_frame(stream: BinaryIO, message: Any) -> None:
    """Write one message and flush (a raw pipe may accept a partial write: the buffered writer loops)."""
    body = msgpack.packb(message, use_bin_type=True)
    stream.write(_HEADER.pack(len(body)) + body)
    stream.flush()


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            raise EOFError("the other end of the pipe closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(stream: BinaryIO) -> Any:
    """Read one message; EOFError when the other side has gone."""
    (size,) = _HEADER.unpack(_read_exactly(stream, _HEADER.size))
    return msgpack.unpackb(_read_exactly(stream, size), raw=False)
