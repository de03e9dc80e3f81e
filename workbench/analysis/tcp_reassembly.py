"""Simple in-order TCP stream reassembly, per connection and direction, by sequence number.

Enough for application parsers (HTTP, DNS over TCP) on captures: segments are placed by their sequence
number relative to the SYN (or, without a SYN, to the lowest sequence seen), so out-of-order arrival is fixed;
retransmitted and overlapping bytes are kept from the segment that arrived first; a hole left by a lost
segment splits the stream into separate contiguous chunks (never filled with made-up bytes). A new SYN with a
different initial sequence number on the same 4-tuple starts a new connection (port reuse).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field

import dpkt

from workbench.analysis.pcap_reading import Packet

_SEQ_MOD = 1 << 32


@dataclass
class Chunk:
    """Contiguous reassembled bytes; ``marks`` holds (offset, timestamp) of each segment that added bytes."""

    data: bytes
    marks: list[tuple[int, float]]

    def ts_at(self, offset: int) -> float:
        """Timestamp of the packet that carried byte ``offset`` of this chunk."""
        index = bisect.bisect_right(self.marks, (offset, float("inf"))) - 1
        return self.marks[max(index, 0)][1]


@dataclass
class Direction:
    """One direction of a connection: sender address/port and the data segments it sent."""

    src: str
    sport: int
    dst: str
    dport: int
    isn: int | None = None
    segments: list[tuple[int, float, bytes]] = field(default_factory=list)  # (seq, ts, payload), as they came

    def chunks(self) -> list[Chunk]:
        """The reassembled data, one :class:`Chunk` per run without holes (first one = stream start)."""
        if not self.segments:
            return []
        origin = self.isn + 1 if self.isn is not None else self.segments[0][0]
        placed = sorted((_relative(seq, origin), arrival, ts, payload)
                        for arrival, (seq, ts, payload) in enumerate(self.segments))
        start = 0 if self.isn is not None else placed[0][0]
        chunks: list[Chunk] = []
        pieces: list[bytes] = []
        marks: list[tuple[int, float]] = []
        chunk_start = position = start
        for offset, _, ts, payload in placed:
            end = offset + len(payload)
            if end <= position:
                continue  # retransmission of bytes already placed, or data before the SYN
            if offset > position and pieces:  # a hole: close the current chunk
                chunks.append(Chunk(b"".join(pieces), marks))
                pieces, marks = [], []
            if offset > position:
                chunk_start = position = offset
            marks.append((position - chunk_start, ts))
            pieces.append(payload[position - offset:])
            position = end
        if pieces:
            chunks.append(Chunk(b"".join(pieces), marks))
        return chunks


def _relative(seq: int, origin: int) -> int:
    delta = (seq - origin) % _SEQ_MOD
    return delta - _SEQ_MOD if delta >= _SEQ_MOD // 2 else delta


@dataclass
class Connection:
    """A TCP connection: ``client`` sent the SYN (or, with no SYN captured, the first packet seen)."""

    client: Direction
    server: Direction
    start: float

    def direction_of(self, packet: Packet) -> Direction:
        """The direction this packet travels in."""
        sender = (packet.src, packet.sport)
        return self.client if sender == (self.client.src, self.client.sport) else self.server


def tcp_connections(packets: Iterable[Packet]) -> list[Connection]:
    """Group the TCP packets into connections, in order of their first packet."""
    open_: dict[tuple, Connection] = {}
    finished: list[Connection] = []
    for packet in packets:
        if packet.protocol != "tcp" or packet.transport is None:
            continue
        tcp = packet.transport
        syn, ack = bool(tcp.flags & dpkt.tcp.TH_SYN), bool(tcp.flags & dpkt.tcp.TH_ACK)
        key = tuple(sorted([(packet.src, packet.sport), (packet.dst, packet.dport)]))
        connection = open_.get(key)
        if connection is not None and syn and not ack and _is_new_connection(connection, packet, tcp.seq):
            finished.append(connection)
            connection = None
        if connection is None:
            connection = _new_connection(packet, server_sent=syn and ack)
            open_[key] = connection
        direction = connection.direction_of(packet)
        if syn:
            direction.isn = tcp.seq
        if tcp.data:
            direction.segments.append(((tcp.seq + syn) % _SEQ_MOD, packet.ts, bytes(tcp.data)))
    return sorted(finished + list(open_.values()), key=lambda c: c.start)


def _is_new_connection(connection: Connection, packet: Packet, seq: int) -> bool:
    sender = connection.direction_of(packet)
    has_data = bool(connection.client.segments or connection.server.segments)
    return (sender.isn is not None and sender.isn != seq) or (sender.isn is None and has_data)


def _new_connection(packet: Packet, server_sent: bool) -> Connection:
    src, sport, dst, dport = packet.src or "", packet.sport or 0, packet.dst or "", packet.dport or 0  # all set
    forward, backward = Direction(src, sport, dst, dport), Direction(dst, dport, src, sport)
    client, server = (backward, forward) if server_sent else (forward, backward)
    return Connection(client, server, packet.ts)
