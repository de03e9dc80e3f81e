"""Shared by the PCAP worker tests: tshark as the independent parser, and small hand-built captures.

tshark is run once per capture (fields per frame, conversation and endpoint tables and exported HTTP objects
all in one run) and cached: several test files ask about the same captures, and a tshark start costs
about a second on a loaded machine.
"""

from __future__ import annotations

import functools
import hashlib
import shutil
import socket
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import dpkt
import pytest

PCAPS = ("http.pcap", "kitchen_boss.pcap", "gold_xxx.pcap", "speedup_computer.pcap", "winmediaplayer.pcap")
# tshark 4.0 leaves tcp.reassemble_out_of_order off by default, so it cannot rebuild an HTTP body whose
# lost segment is retransmitted later (kitchen_boss.pcap has one: header_bg.png). The workers do reorder.
REORDER = ("-o", "tcp.reassemble_out_of_order:TRUE")


def require_tshark() -> str:
    """The tshark path, or skip: these comparisons need Wireshark's tshark (apt package 'tshark')."""
    path = shutil.which("tshark")
    if path is None:
        pytest.skip("tshark is not installed (apt-get install tshark); the comparisons with an independent "
                    "parser need it")
    return path


FIELDS = ("frame.cap_len", "frame.time_epoch", "frame.protocols", "http.request.method", "http.host",
          "http.request.uri", "http.response.code", "http.content_type", "dns.flags.response", "dns.qry.name",
          "dns.a")
STATS = ("conv,tcp", "conv,udp", "conv,ip", "conv,ipv6", "endpoints,ip", "endpoints,ipv6")
SEPARATOR = "\x1f"  # between several values of one field in a frame; URIs may hold commas or bars


@dataclass
class Reference:
    """What tshark makes of a capture, from one run (each run costs about a second)."""

    frames: list[dict[str, list[str]]]  # per frame: field -> its values (frame.protocols: the layer names)
    tables: dict[str, list[list[str]]] = field(default_factory=dict)  # statistics title -> rows of tokens
    exported: dict[str, str] = field(default_factory=dict)  # HTTP objects: md5 -> tshark's file name
    exported_count: int = 0  # objects written, duplicates included

    def conversations(self, title: str) -> dict[frozenset, tuple[int, int, int]]:
        """{endpoints: (frames A->B, frames B->A, total)} from a "<title> Conversations" table, whose rows read
        ``A <-> B  frames bytes unit (B->A) | frames bytes unit (A->B) | frames bytes unit (total)``."""
        return {frozenset((row[0], row[2])): (int(row[6]), int(row[3]), int(row[9]))
                for row in self.tables.get(f"{title} Conversations", []) if len(row) > 10 and row[1] == "<->"}

    def endpoints(self) -> dict[str, tuple[int, int]]:
        """{address: (packets, bytes)} from the IPv4 and IPv6 endpoint tables."""
        rows = self.tables.get("IPv4 Endpoints", []) + self.tables.get("IPv6 Endpoints", [])
        return {row[0]: (int(row[1]), int(row[2])) for row in rows if len(row) == 7 and row[1].isdigit()}


@functools.lru_cache(maxsize=64)
def _reference(path: str) -> Reference:
    with tempfile.TemporaryDirectory(prefix="tshark-objects-") as objects:
        args = [require_tshark(), "-r", path, *REORDER, "-T", "fields", "-E", f"aggregator={SEPARATOR}",
                *[part for name in FIELDS for part in ("-e", name)],
                *[part for stat in STATS for part in ("-z", stat)], "--export-objects", f"http,{objects}"]
        done = subprocess.run(args, capture_output=True, text=True, timeout=120)
        items = list(Path(objects).iterdir())
        exported = {hashlib.md5(item.read_bytes()).hexdigest(): item.name for item in items}
    frames, tables, title = [], {}, None
    for line in done.stdout.splitlines():
        if line.startswith("====="):
            title = None if title is None or title in tables else title
            continue
        if title is None and line.count("\t") == len(FIELDS) - 1:
            frame = {name: value.split(SEPARATOR) if value else []
                     for name, value in zip(FIELDS, line.split("\t"), strict=True)}
            frame["frame.protocols"] = frame["frame.protocols"][0].split(":")  # eth:ethertype:ip:tcp:http
            frames.append(frame)
        elif line.endswith(("Conversations", "Endpoints")):
            title = line.strip()
            tables[title] = []
        elif title is not None:
            tables[title].append(line.split())
    if not frames and done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed: {done.stderr}")
    return Reference(frames, tables, exported, len(items))


def reference(path: Path) -> Reference:
    """tshark's view of ``path`` (TCP out-of-order reassembly on, see REORDER), cached per path."""
    return _reference(str(path))


def tshark_fields(path: Path, display_filter: str, *fields: str) -> list[list[list[str]]]:
    """Per frame matching ``display_filter``: the values of each field (one uncached tshark run)."""
    args = [require_tshark(), "-r", str(path), "-Y", display_filter, "-T", "fields", "-E", f"aggregator={SEPARATOR}",
            *[part for name in fields for part in ("-e", name)]]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True)
    return [[value.split(SEPARATOR) if value else [] for value in line.split("\t")]
            for line in done.stdout.splitlines()]


def convert(source: Path, target: Path, file_format: str) -> Path:
    """Rewrite a capture in another format with tshark (pcapng, nsecpcap...)."""
    subprocess.run([require_tshark(), "-r", str(source), "-F", file_format, "-w", str(target)], check=True,
                   capture_output=True, timeout=120)
    return target


# ---- hand-built captures -------------------------------------------------------------------------------

CLIENT, SERVER, RESOLVER = "10.0.0.2", "10.0.0.1", "10.0.0.53"
MAC_A, MAC_B = b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x02"


def ether(payload: dpkt.Packet, ethertype: int = dpkt.ethernet.ETH_TYPE_IP) -> bytes:
    """An Ethernet frame around a network-layer packet."""
    return bytes(dpkt.ethernet.Ethernet(src=MAC_A, dst=MAC_B, type=ethertype, data=payload))


def ipv4(src: str, dst: str, proto: int, payload: dpkt.Packet | bytes, **fields: int) -> dpkt.ip.IP:
    """An IPv4 packet (checksums and lengths filled in by dpkt)."""
    packet = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=proto, data=payload, **fields)
    packet.len = len(bytes(packet))
    return packet


def tcp(src: str, sport: int, dst: str, dport: int, seq: int, data: bytes = b"", flags: int = dpkt.tcp.TH_ACK,
        ack: int = 0) -> bytes:
    """An Ethernet/IPv4/TCP frame."""
    segment = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq % 2**32, ack=ack % 2**32, flags=flags, data=data)
    return ether(ipv4(src, dst, dpkt.ip.IP_PROTO_TCP, segment))


def udp(src: str, sport: int, dst: str, dport: int, data: bytes) -> bytes:
    """An Ethernet/IPv4/UDP frame."""
    datagram = dpkt.udp.UDP(sport=sport, dport=dport, data=data)
    datagram.ulen = len(bytes(datagram))
    return ether(ipv4(src, dst, dpkt.ip.IP_PROTO_UDP, datagram))


def dns_message(name: str, qtype: int, answers: tuple[tuple[int, bytes], ...] = (), ident: int = 7) -> bytes:
    """A DNS message with one question (a query, or a response when ``answers`` is given), built by hand."""
    encoded = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"
    flags = 0x8180 if answers else 0x0100
    head = struct.pack(">HHHHHH", ident, flags, 1, len(answers), 0, 0) + encoded + struct.pack(">HH", qtype, 1)
    records = b"".join(b"\xc0\x0c" + struct.pack(">HHIH", kind, 1, 60, len(data)) + data
                       for kind, data in answers)
    return head + records


def write_pcap(path: Path, frames: list[bytes], start: float = 1_600_000_000.0) -> Path:
    """A little-endian microsecond pcap of Ethernet frames, 10 ms apart."""
    with open(path, "wb") as handle:
        writer = dpkt.pcap.Writer(handle)
        for index, frame in enumerate(frames):
            writer.writepkt(frame, ts=start + index * 0.01)
    return path
