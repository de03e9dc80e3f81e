"""Length-prefixed msgpack frames between the server and its worker processes (no pickle anywhere).

A chain's output crosses the pipe as the msgpack bytes its worker process encoded (``EncodedOutput``): a batch
stream relays them to the client as they are (rpc/zerorpc_compat.py splices them into the stream message), and
so does a group server relaying another server's chunk, so no server decodes or re-encodes an output it only
passes on. Decoding and encoding a ``pe_features`` output cost the server ~30 and ~13 us a chain here; without
them its CPU for a cold chain fell from 0.65 to 0.55 ms.
"""

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


class _HoldsEncoded(Exception):  # noqa: N818 - a signal inside pack_relayed, never raised out of it
    pass


def _refuse(value: Any) -> Any:
    if type(value) is EncodedOutput:
        raise _HoldsEncoded
    raise TypeError(f"can not serialize {type(value).__name__!r} object")


# One packer, reused, encoding as zerorpc and the pipes do (str as str, bytes as bin). The gevent loop and the
# worker processes each pack on one thread, and a failed pack resets it.
_packer = msgpack.Packer(use_bin_type=True, default=_refuse)
_MD5_KEY = _packer.pack("md5")


def _array_header(count: int) -> bytes:
    """The msgpack header of an array of ``count`` items."""
    if count < 16:
        return bytes([0x90 | count])
    return b"\xdc" + count.to_bytes(2, "big") if count < 1 << 16 else b"\xdd" + count.to_bytes(4, "big")


def _map_header(count: int) -> bytes:
    """The msgpack header of a map of ``count`` pairs."""
    if count < 16:
        return bytes([0x80 | count])
    return b"\xde" + count.to_bytes(2, "big") if count < 1 << 16 else b"\xdf" + count.to_bytes(4, "big")


def _map_count(packed: bytes) -> tuple[int, int]:
    """(pairs, header length) of the msgpack map that ``packed`` starts with."""
    first = packed[0]
    if 0x80 <= first <= 0x8F:
        return first & 0x0F, 1
    if first == 0xDE:
        return int.from_bytes(packed[1:3], "big"), 3
    if first == 0xDF:
        return int.from_bytes(packed[1:5], "big"), 5
    raise ValueError("not a msgpack map")


class EncodedOutput:
    """A chain's output as the msgpack bytes its worker process sent: relayed as they are, decoded only when the
    server itself needs the value (``decoded``). ``md5_missing``: the output is a dict without an ``md5`` key (the
    item clients get carries one, see ``with_md5``)."""

    __slots__ = ("packed", "md5_missing")

    def __init__(self, packed: bytes, md5_missing: bool) -> None:
        self.packed, self.md5_missing = packed, md5_missing

    @classmethod
    def of(cls, output: Any) -> EncodedOutput:
        """Encode an output (in the worker process)."""
        return cls(_packer.pack(output), isinstance(output, dict) and "md5" not in output)

    @classmethod
    def from_wire(cls, message: dict[str, Any]) -> EncodedOutput:
        """The output in a worker process's reply, or in a group server's answer (``wire``)."""
        return cls(message["packed"], message["md5_missing"])

    def wire(self) -> dict[str, Any]:
        """How the output travels in a message of its own (a pipe reply, a group chunk's answer)."""
        return {"packed": self.packed, "md5_missing": self.md5_missing}

    def value(self) -> Any:
        return msgpack.unpackb(self.packed, raw=False)

    def with_md5(self, md5: str) -> EncodedOutput:
        """The output with ``md5`` as its first key when it has none (``{'md5': md5, **output}``, encoded)."""
        if not self.md5_missing:
            return self
        count, header = _map_count(self.packed)
        body = memoryview(self.packed)[header:]
        return EncodedOutput(b"".join((_map_header(count + 1), _MD5_KEY, _packer.pack(md5), body)), False)


def decoded(output: Any) -> Any:
    """The output's value, whether it is an ``EncodedOutput`` or already a value."""
    return output.value() if type(output) is EncodedOutput else output


def pack_relayed(value: Any) -> bytes:
    """msgpack bytes of ``value``, each ``EncodedOutput`` in it spliced in as it is: the same bytes
    ``msgpack.packb`` gives for the value with every output decoded. A value holding none is packed in one call,
    as usual; one holding some costs one failed attempt, then its lists are packed item by item."""
    try:
        return _packer.pack(value)
    except _HoldsEncoded:
        pieces: list[bytes | memoryview] = []
        _spread(value, pieces)
        return b"".join(pieces)


def _spread(value: Any, pieces: list[bytes | memoryview]) -> None:
    """A list, tuple or dict known to hold an ``EncodedOutput``: its header, then each item."""
    if isinstance(value, dict):
        pieces.append(_map_header(len(value)))
        for key, item in value.items():
            pieces.append(_packer.pack(key))
            _piece(item, pieces)
    else:  # a list or tuple (msgpack calls ``default`` for nothing else that can hold one)
        pieces.append(_array_header(len(value)))
        for item in value:
            _piece(item, pieces)


def _piece(value: Any, pieces: list[bytes | memoryview]) -> None:
    kind = type(value)
    if kind is EncodedOutput:
        pieces.append(value.packed)
    elif kind is list or kind is tuple:
        _spread(value, pieces)
    else:
        try:
            pieces.append(_packer.pack(value))
        except _HoldsEncoded:
            _spread(value, pieces)
