"""DNS messages from decoded packets: UDP on the DNS, mDNS and LLMNR ports, and DNS over TCP (reassembled).

dpkt's ``DNS`` parser refuses a whole message when one record has a type it does not know (NSEC, HTTPS...)
or undecodable TXT text. Such messages keep their header and questions (parsed with dpkt's name decoder)
and are flagged ``answers_parsed: False`` instead of vanishing, so query counts stay right.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable, Iterator
from typing import Any

import dpkt

from workbench.analysis.pcap_reading import Packet
from workbench.analysis.tcp_reassembly import Chunk, Direction, tcp_connections

DNS_PORTS = frozenset({53, 5353, 5355})  # DNS, multicast DNS, LLMNR: all use the DNS message format
TYPE_NAMES = {
    1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 13: "HINFO", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV",
    35: "NAPTR", 41: "OPT", 43: "DS", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 64: "SVCB", 65: "HTTPS",
    252: "AXFR", 255: "ANY", 257: "CAA",
}


def type_name(number: int) -> str:
    """The mnemonic of a record type (``TYPE<n>`` for ones not listed)."""
    return TYPE_NAMES.get(number, f"TYPE{number}")


def record_data(rr: dpkt.dns.DNS.RR) -> str:
    """A resource record's data as text: address, name, ``preference name`` for MX, else hex."""
    if rr.type == dpkt.dns.DNS_A and len(rr.rdata) == 4:
        return socket.inet_ntoa(rr.rdata)
    if rr.type == dpkt.dns.DNS_AAAA and len(rr.rdata) == 16:
        return socket.inet_ntop(socket.AF_INET6, rr.rdata)
    for attribute in ("cname", "nsname", "ptrname", "srvname"):
        if hasattr(rr, attribute):
            return getattr(rr, attribute)
    if hasattr(rr, "mxname"):
        return f"{rr.preference[0]} {rr.mxname}"
    if hasattr(rr, "mname"):
        return f"{rr.mname} {rr.rname} {rr.serial}"
    if hasattr(rr, "text"):
        return " ".join(rr.text)
    return rr.rdata.hex()


def _questions_only(buf: bytes) -> tuple[int, bool, int, list[tuple[str, int]]]:
    """(id, is_response, rcode, questions) straight from the wire, for messages dpkt's full parse rejects."""
    ident, flags, qdcount = struct.unpack(">HHH", buf[:6])
    offset, questions = 12, []
    for _ in range(qdcount):
        name, offset = dpkt.dns.unpack_name(buf, offset)
        questions.append((name, struct.unpack(">H", buf[offset:offset + 2])[0]))
        offset += 4
    return ident, bool(flags & 0x8000), flags & 0xF, questions


def describe(packet: Packet, buf: bytes, ts: float, transport: str) -> dict | None:
    """One DNS message as a record (None when not even its header and questions parse)."""
    record: dict[str, Any] = {"ts": ts, "src": packet.src, "sport": packet.sport, "dst": packet.dst,
                              "dport": packet.dport, "transport": transport}
    try:
        dns = dpkt.dns.DNS(buf)
        ident, response, rcode = dns.id, bool(dns.qr), dns.rcode
        questions = [(q.name, q.type) for q in dns.qd]
        answers = [{"name": rr.name, "type": type_name(rr.type), "ttl": rr.ttl, "data": record_data(rr)}
                   for rr in dns.an]
        record["answers_parsed"] = True
    except (dpkt.UnpackError, struct.error, UnicodeDecodeError, IndexError, ValueError):
        try:
            ident, response, rcode, questions = _questions_only(buf)
        except (dpkt.UnpackError, struct.error, IndexError):
            return None
        answers, record["answers_parsed"] = [], False
    record.update({
        "id": ident, "response": response, "rcode": rcode,
        "qname": questions[0][0] if questions else None,
        "qtype": type_name(questions[0][1]) if questions else None,
        "questions": [{"name": name, "type": type_name(number)} for name, number in questions],
        "answers": answers,
    })
    return record


def dns_records(packets: Iterable[Packet]) -> Iterator[dict]:
    """A record per DNS message, UDP ones in capture order and then those carried over TCP port 53."""
    on_tcp: list[Packet] = []
    for packet in packets:
        if packet.protocol == "udp" and packet.transport is not None and (
                packet.sport in DNS_PORTS or packet.dport in DNS_PORTS):
            record = describe(packet, bytes(packet.transport.data), packet.ts, "udp")
            if record is not None:
                yield record
        elif packet.protocol == "tcp" and 53 in (packet.sport, packet.dport):
            on_tcp.append(packet)
    for connection in tcp_connections(on_tcp):
        for direction in (connection.client, connection.server):
            for chunk in direction.chunks()[:1]:  # after a hole the length prefixes are lost
                yield from _tcp_messages(chunk, direction)


def _tcp_messages(chunk: Chunk, direction: Direction) -> Iterator[dict]:
    """Length-prefixed messages (RFC 1035 4.2.2) from the start of a reassembled DNS-over-TCP stream."""
    sender = Packet(0.0, 0, "ip", direction.src, direction.dst, "tcp", direction.sport, direction.dport)
    offset = 0
    while offset + 2 <= len(chunk.data):
        (size,) = struct.unpack(">H", chunk.data[offset:offset + 2])
        message = chunk.data[offset + 2:offset + 2 + size]
        if len(message) < size:
            break
        record = describe(sender, message, chunk.ts_at(offset), "tcp")
        if record is not None:
            yield record
        offset += 2 + size
