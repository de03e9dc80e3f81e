"""Reading pcap and pcapng captures with dpkt: format detection, link layers, one decoded record per packet.

Every PCAP worker starts here, so the quirks live in one place: pcapng vs classic pcap (told apart by the
file's magic number), nanosecond captures (dpkt returns ``Decimal`` timestamps for those), the common link
types (Ethernet with VLAN tags, Linux cooked SLL/SLL2, BSD loopback, raw IP), truncated files (the last
record cut short) and frames dpkt cannot decode (counted, not fatal). dpkt's pcapng reader uses the first
interface's link type for every packet, so a pcapng mixing link types across interfaces is decoded as the
first one.
"""

from __future__ import annotations

import io
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import dpkt

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": "pcap", b"\xa1\xb2\xc3\xd4": "pcap",  # microsecond, little / big endian
    b"\x4d\x3c\xb2\xa1": "pcap", b"\xa1\xb2\x3c\x4d": "pcap",  # nanosecond
    b"\x0a\x0d\x0d\x0a": "pcapng",  # Section Header Block
}

LINK_TYPE_NAMES = {
    0: "null", 1: "ethernet", 12: "raw", 14: "raw", 101: "raw", 105: "ieee802_11", 108: "loop",
    113: "linux_sll", 127: "ieee802_11_radiotap", 228: "ipv4", 229: "ipv6", 276: "linux_sll2",
}
_RAW_IP_LINKS = {12, 14, 101, 228, 229}
_LOOPBACK_LINKS = {0, 108}

IP_PROTOCOL_NAMES = {
    1: "icmp", 2: "igmp", 6: "tcp", 17: "udp", 41: "ipv6", 47: "gre", 50: "esp", 51: "ah", 58: "icmp6",
    89: "ospf", 103: "pim", 112: "vrrp", 132: "sctp",
}
TRANSPORT_CLASSES = {
    dpkt.tcp.TCP: "tcp", dpkt.udp.UDP: "udp", dpkt.icmp.ICMP: "icmp", dpkt.icmp6.ICMP6: "icmp6",
}


@dataclass(slots=True)
class Packet:
    """One frame as the workers see it. Fields beyond ``ts``/``length`` are None when they do not apply."""

    ts: float
    length: int  # captured bytes of the frame
    network: str  # "ip", "ip6", "arp" or "other"
    src: str | None = None  # IP addresses, printable
    dst: str | None = None
    protocol: str | None = None  # "tcp", "udp", "icmp", "icmp6", another IP protocol's name, or "fragment"
    sport: int | None = None
    dport: int | None = None
    transport: Any = None  # the dpkt TCP/UDP object, for payload and flags


def capture_format(raw: bytes) -> str:
    """"pcap" or "pcapng", from the first four bytes; raise ValueError for anything else."""
    found = PCAP_MAGICS.get(raw[:4])
    if found is None:
        raise ValueError(
            f"not a pcap or pcapng capture: first bytes {raw[:4].hex() or 'empty'}; expected a libpcap magic "
            "(d4c3b2a1, a1b2c3d4, 4d3cb2a1, a1b23c4d) or a pcapng section header (0a0d0d0a)"
        )
    return found


@dataclass
class Capture:
    """An opened capture. Iterate ``packets()`` once; ``warnings`` and ``undecoded`` fill in as it runs."""

    raw: bytes
    format: str = ""
    link_type: int = -1
    warnings: list[str] = field(default_factory=list)
    undecoded: int = 0  # frames whose link or network layer dpkt could not parse

    def __post_init__(self) -> None:
        self.format = capture_format(self.raw)
        reader_class = dpkt.pcapng.Reader if self.format == "pcapng" else dpkt.pcap.Reader
        try:
            self._reader = reader_class(io.BytesIO(self.raw))
        except (dpkt.UnpackError, ValueError, struct.error) as exc:
            raise ValueError(f"cannot read the {self.format} file header ({type(exc).__name__}: {exc}); "
                             f"the capture is truncated ({len(self.raw)} bytes) or damaged") from None
        self.link_type = self._reader.datalink()

    @property
    def link_type_name(self) -> str:
        """A readable name for the link type (``linktype_<n>`` when unknown)."""
        return LINK_TYPE_NAMES.get(self.link_type, f"linktype_{self.link_type}")

    def frames(self) -> Iterator[tuple[float, bytes]]:
        """(timestamp, frame bytes) per record; a cut-short last record ends the capture with a warning."""
        held, held_at, offset = None, 0, 24  # pcap: 24-byte file header, then 16-byte record headers
        try:
            for ts, buf in self._reader:
                if held is not None:
                    yield held
                held, held_at, offset = (float(ts), buf), offset, offset + 16 + len(buf)
        except (dpkt.UnpackError, ValueError) as exc:  # dpkt's readers raise these for a truncated record
            self.warnings.append(f"capture ends with a truncated or malformed record ({type(exc).__name__}: "
                                 f"{exc or 'short read'}); the packets before it are kept")
        if held is not None and self._cut_short(held_at, len(held[1])):
            self.warnings.append("capture ends with a truncated record: its packet data is cut short (dropped)")
        elif held is not None:
            yield held
        if self.format == "pcapng" and not self.warnings and not self._blocks_fill_file():
            self.warnings.append("capture ends with a truncated pcapng block (dropped)")

    def _blocks_fill_file(self) -> bool:
        """dpkt's pcapng reader stops quietly at a cut-short block; walk the block lengths to notice."""
        order = "<" if self.raw[8:12] == b"\x4d\x3c\x2b\x1a" else ">"  # the byte-order magic 0x1A2B3C4D
        offset = 0
        while offset + 8 <= len(self.raw):
            (length,) = struct.unpack(order + "I", self.raw[offset + 4:offset + 8])
            if length < 12:
                return False
            offset += length
        return offset == len(self.raw)

    def _cut_short(self, record_at: int, size: int) -> bool:
        """dpkt's pcap reader returns a cut-short last frame as if whole; compare with the record's caplen."""
        if self.format != "pcap":
            return False
        order = "<" if self.raw[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        (caplen,) = struct.unpack(order + "I", self.raw[record_at + 8:record_at + 12])
        return size < caplen

    def packets(self) -> Iterator[Packet]:
        """A decoded :class:`Packet` for every frame."""
        for ts, buf in self.frames():
            try:
                yield decode(self.link_type, ts, buf)
            except (dpkt.UnpackError, ValueError, IndexError):
                self.undecoded += 1
                yield Packet(ts, len(buf), "other")


def _network_layer(link_type: int, buf: bytes) -> Any:
    if link_type == 1:
        return dpkt.ethernet.Ethernet(buf).data
    if link_type in _RAW_IP_LINKS:
        return _ip_by_version(buf)
    if link_type in _LOOPBACK_LINKS:
        return _ip_by_version(buf[4:])
    if link_type == 113:
        return dpkt.sll.SLL(buf).data
    if link_type == 276:
        return dpkt.sll2.SLL2(buf).data
    return None


def _ip_by_version(buf: bytes) -> Any:
    version = buf[0] >> 4 if buf else 0
    return dpkt.ip.IP(buf) if version == 4 else dpkt.ip6.IP6(buf) if version == 6 else None


def decode(link_type: int, ts: float, buf: bytes) -> Packet:
    """Decode one frame down to the transport layer (ports for TCP/UDP)."""
    layer = _network_layer(link_type, buf)
    if isinstance(layer, dpkt.arp.ARP):
        return Packet(ts, len(buf), "arp")
    if isinstance(layer, dpkt.ip.IP):
        packet = Packet(ts, len(buf), "ip", socket.inet_ntoa(layer.src), socket.inet_ntoa(layer.dst))
        number = layer.p
    elif isinstance(layer, dpkt.ip6.IP6):
        packet = Packet(ts, len(buf), "ip6", socket.inet_ntop(socket.AF_INET6, layer.src),
                        socket.inet_ntop(socket.AF_INET6, layer.dst))
        number = layer.p
    else:
        return Packet(ts, len(buf), "other")
    upper = layer.data
    packet.protocol = TRANSPORT_CLASSES.get(type(upper))
    if packet.protocol is None:
        fragment = isinstance(layer, dpkt.ip.IP) and layer.offset != 0
        packet.protocol = "fragment" if fragment else IP_PROTOCOL_NAMES.get(number, f"ip_proto_{number}")
    if isinstance(upper, (dpkt.tcp.TCP, dpkt.udp.UDP)):
        packet.sport, packet.dport, packet.transport = upper.sport, upper.dport, upper
    return packet
