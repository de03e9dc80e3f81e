"""Pcap meta: packet count, time span, link type, bytes, protocol counts and hosts of a packet capture.

Reads classic pcap (micro- or nanosecond, either byte order) and pcapng, told apart by the magic number.
Returns format ('pcap' | 'pcapng'), link_type (DLT number) and link_type_name, packet_count, bytes (sum of
captured frame lengths), first_ts / last_ts (earliest and latest packet time, epoch seconds, None for an
empty capture) with first_time / last_time (the same in ISO 8601 UTC) and duration (seconds),
protocols (packet counts: by network layer ip, ip6, arp, other (neither IP nor ARP), which sum to
packet_count; and among IP packets tcp, udp, icmp, icmp6, other_ip (any other protocol, or a non-first IPv4
fragment)), host_count, hosts ([{ip, packets, bytes}] for every address seen as source or destination, most
packets first, at most ``max_hosts``), hosts_truncated, undecoded (frames dpkt could not parse, counted as
other) and warnings (e.g. a truncated last record).
"""

from collections import Counter
from datetime import UTC, datetime

from workbench.analysis.pcap_reading import Capture

TRANSPORTS = ("tcp", "udp", "icmp", "icmp6")


class PcapMeta:
    """Packet capture summary: packets, time span, link type, bytes, protocol counts and hosts."""

    dependencies = ["sample"]
    applies_to = ("pcap",)
    options = {"max_hosts": 1000}

    def execute(self, input_data: dict) -> dict:
        capture = Capture(input_data["sample"]["raw_bytes"])
        count = size = 0
        first: float | None = None
        last: float | None = None
        protocols = Counter(dict.fromkeys(("ip", "ip6", "arp", "other", *TRANSPORTS, "other_ip"), 0))
        hosts: dict[str, list[int]] = {}
        for packet in capture.packets():
            count, size = count + 1, size + packet.length
            first = packet.ts if first is None else min(first, packet.ts)
            last = packet.ts if last is None else max(last, packet.ts)
            protocols[packet.network] += 1
            if packet.protocol is not None:
                protocols[packet.protocol if packet.protocol in TRANSPORTS else "other_ip"] += 1
            for address in {a for a in (packet.src, packet.dst) if a is not None}:  # to itself: counts once
                totals = hosts.setdefault(address, [0, 0])
                totals[0], totals[1] = totals[0] + 1, totals[1] + packet.length
        ranked = sorted(hosts.items(), key=lambda item: (-item[1][0], item[0]))[: self.options["max_hosts"]]
        return {
            "format": capture.format,
            "link_type": capture.link_type,
            "link_type_name": capture.link_type_name,
            "packet_count": count,
            "bytes": size,
            "first_ts": first,
            "last_ts": last,
            "first_time": _iso(first),
            "last_time": _iso(last),
            "duration": last - first if first is not None and last is not None else 0.0,
            "protocols": dict(protocols),
            "host_count": len(hosts),
            "hosts": [{"ip": ip, "packets": n, "bytes": total} for ip, (n, total) in ranked],
            "hosts_truncated": len(hosts) > self.options["max_hosts"],
            "undecoded": capture.undecoded,
            "warnings": capture.warnings,
        }


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()
