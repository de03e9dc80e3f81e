"""HTTP/1.x requests, responses and carried files, from reassembled TCP streams.

Start lines are parsed by ``dpkt.http.Request``/``Response`` and headers and chunked bodies by dpkt.http's
parsers, but message framing follows RFC 9112 section 6.3 here rather than dpkt's ``Message.unpack``, which
reads a whole Content-Length body after a HEAD request, treats a response with neither length nor chunking as
bodiless unless it has a Content-Type, and cannot report how much of a pipelined stream it consumed. So:
responses to HEAD and 1xx/204/304 responses have no body; a chunked body ends at its last chunk; otherwise
Content-Length decides; a request without either has no body; a response without either runs to the end of
the stream. Responses are paired with requests in order (pipelining), skipping interim 1xx responses.
"""

from __future__ import annotations

import hashlib
import io
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

import dpkt

from workbench.analysis.tcp_reassembly import Chunk, Connection, Direction


@dataclass
class HttpMessage:
    """A request or response: dpkt's start-line object plus headers and body framed as described above."""

    message: dpkt.http.Request | dpkt.http.Response
    headers: dict
    body: bytes
    ts: float
    complete: bool  # False when the capture ends before the body does
    sender: Direction  # the direction of the TCP connection that carried it
    request: HttpMessage | None = None  # for a response, the request it answers

    def header(self, name: str) -> str | None:
        """A header's value (the first one when it is repeated), or None."""
        value = self.headers.get(name)
        return value[0] if isinstance(value, list) else value


def _start_line(line: bytes, is_request: bool) -> dpkt.http.Request | dpkt.http.Response | None:
    """dpkt's parse of a request or status line, or None when the line is not one."""
    kind = dpkt.http.Request if is_request else dpkt.http.Response
    try:
        return kind(line.rstrip(b"\r\n") + b"\r\n\r\n")
    except (dpkt.UnpackError, ValueError):
        return None


def _body_end(f: io.BytesIO, data: bytes, headers: dict, has_body: bool, is_request: bool,
              ) -> tuple[bytes, int, bool]:
    """(body, offset after the message, complete) for a message whose headers end at ``f.tell()``."""
    start = f.tell()
    if not has_body:
        return b"", start, True
    if "chunked" in str(headers.get("transfer-encoding", "")).lower():
        try:
            body = dpkt.http.parse_body(f, {"transfer-encoding": "chunked"})
        except dpkt.UnpackError:  # NeedData included: the capture ends inside the chunks
            return data[start:], len(data), False
        return body, f.tell(), True
    length = headers.get("content-length")
    if length is not None:
        length = int(length[0] if isinstance(length, list) else length)
        if length < 0:
            raise ValueError(f"negative Content-Length {length}")
        body = data[start:start + length]
        return body, start + len(body), len(body) == length
    if is_request:
        return b"", start, True
    return data[start:], len(data), True


def parse_messages(chunk: Chunk, sender: Direction, pending: Iterator[HttpMessage] | None = None,
                   ) -> list[HttpMessage]:
    """Every message in a chunk, from its start. For a response stream, ``pending`` yields the requests in
    order: each final response answers the next one, an interim (1xx) response the next one too without
    using it up."""
    is_request = pending is None
    data, position, found = chunk.data, 0, []
    f = io.BytesIO(data)
    queued = None
    while position < len(data):
        while data.startswith(b"\r\n", position):
            position += 2
        f.seek(position)
        start = _start_line(f.readline(), is_request)
        if start is None:
            break
        try:
            headers = dpkt.http.parse_headers(f)
        except dpkt.UnpackError:
            break
        if f.tell() == len(data) and not data.endswith((b"\n\n", b"\n\r\n")):
            break  # the capture ends inside the headers
        answered, final = None, True
        if pending is not None:
            queued = next(pending, None) if queued is None else queued
            answered, final = queued, int(start.status) >= 200
            queued = None if final else queued
        method = answered.message.method if answered is not None else ""
        has_body = is_request or (final and start.status not in ("204", "304") and method != "HEAD")
        try:
            body, end, complete = _body_end(f, data, headers, has_body, is_request)
        except ValueError:  # a Content-Length that is not a number: the framing is lost
            break
        found.append(HttpMessage(start, headers, body, chunk.ts_at(position), complete, sender, answered))
        position = end
    return found


def _is_request_stream(chunks: list[Chunk]) -> bool:
    return bool(chunks) and _start_line(chunks[0].data[:8192].split(b"\n", 1)[0], True) is not None


def http_messages(connections: list[Connection]) -> tuple[list[HttpMessage], list[HttpMessage]]:
    """(requests, responses) over all connections, each in capture order of their connection."""
    requests: list[HttpMessage] = []
    responses: list[HttpMessage] = []
    for connection in connections:
        (client, up), (server, down) = [(side, side.chunks()) for side in (connection.client, connection.server)]
        if not _is_request_stream(up) and _is_request_stream(down):
            (client, up), (server, down) = (server, down), (client, up)  # the capture began after the SYN
        sent = [m for chunk in up for m in parse_messages(chunk, client)]
        requests.extend(sent)
        pending = iter(sent)
        responses.extend(m for chunk in down for m in parse_messages(chunk, server, pending))
    return requests, responses


def endpoints(message: HttpMessage) -> dict:
    """src/sport/dst/dport of the message, the way it travelled."""
    sender = message.sender
    return {"src": sender.src, "sport": sender.sport, "dst": sender.dst, "dport": sender.dport}


def filename_from_uri(uri: str) -> str:
    """The last path segment of a request URI, decoded (``index.html`` for a directory)."""
    path = unquote(urlsplit(uri).path).replace("\\", "/")
    name = "" if path.endswith("/") else PurePosixPath(path).name
    return (name or "index.html")[:200]


def decoded_body(message: HttpMessage, limit: int) -> tuple[bytes, str | None]:
    """(body with gzip/deflate Content-Encoding undone, at most ``limit`` + 1 bytes; a problem or None)."""
    encoding = (message.header("content-encoding") or "").strip().lower()
    if encoding not in ("gzip", "x-gzip", "deflate"):
        return message.body, None
    for wbits in (47, -15):  # 47: gzip or zlib header, detected; -15: raw deflate (some servers send that)
        inflater = zlib.decompressobj(wbits)
        try:
            inflated = inflater.decompress(message.body, limit + 1)
        except zlib.error:
            continue
        if inflater.eof or len(inflated) > limit or not message.complete:  # else: garbage that happened to inflate
            return inflated, None
    return message.body, f"could not undo Content-Encoding {encoding}; stored as sent"


@dataclass
class FileLimits:
    """Caps on carried files stored as child samples (all from the worker's options)."""

    min_size: int
    max_size: int
    max_files: int
    max_total_bytes: int
    stored: dict[str, int] = field(default_factory=dict)  # md5 -> size, of what was stored this run


def carried_files(responses: list[HttpMessage], limits: FileLimits,
                  store_child: Callable[[bytes, str], str]) -> Iterator[dict]:
    """One record per response body of at least ``min_size`` bytes; stores those within the limits."""
    for response in responses:
        body, problem = decoded_body(response, limits.max_size)
        if len(body) < limits.min_size:
            continue
        request, md5 = response.request, hashlib.md5(body).hexdigest()
        partial = not response.complete or len(body) > limits.max_size  # its md5 would not be the file's
        record: dict[str, Any] = {
            "filename": filename_from_uri(request.message.uri) if request else "unknown",
            "uri": request.message.uri if request else None,
            "host": request.header("host") if request else None,
            "content_type": response.header("content-type"),
            "size": len(body), "md5": None if partial else md5, "ts": response.ts,
            "stored": False, "skipped": _skip_reason(response, len(body), md5, limits), "warning": problem,
        }
        if record["skipped"] is None:
            record["md5"] = store_child(body, record["filename"])
            record["stored"] = True
            limits.stored[record["md5"]] = len(body)
        yield record


def _skip_reason(response: HttpMessage, size: int, md5: str, limits: FileLimits) -> str | None:
    if not response.complete:
        return "truncated: the capture ends before the body does"
    if size > limits.max_size:
        return f"larger than max_file_size ({limits.max_size} bytes)"
    if md5 in limits.stored:
        return None
    if len(limits.stored) >= limits.max_files:
        return f"max_files ({limits.max_files}) reached"
    if sum(limits.stored.values()) + size > limits.max_total_bytes:
        return f"max_total_bytes ({limits.max_total_bytes}) reached"
    return None
