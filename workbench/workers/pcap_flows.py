"""Pcap flows: bidirectional conversations (protocol + both endpoints) in a packet capture, with totals.

A flow is every IP packet between the same two (address, port) endpoints with the same protocol, whichever
way it travels, over the whole capture (no idle timeout: a reused port pair is one flow, as in tshark's
conversation tables). Ports are None for protocols without them (ICMP...); a non-first IPv4 fragment carries
no ports and is counted under protocol 'fragment'.

Returns flows ([{proto, src, sport, dst, dport, packets, bytes, start, end, duration, src_packets,
src_bytes, dst_packets, dst_bytes}], in order of first packet, at most ``max_flows``), flow_count,
flows_truncated and protocol_counts ({proto: number of flows}). src is the endpoint that sent the first packet
seen (for TCP, the SYN sender when the capture starts with the SYN-ACK); src_* count what src sent, dst_*
what it received. bytes are captured frame lengths.
"""

from collections import Counter

import dpkt

from workbench.analysis.pcap_reading import Capture, Packet


class PcapFlows:
    """Bidirectional flows (proto, src, sport, dst, dport) in a packet capture: packets, bytes, start, end."""

    dependencies = ["sample"]
    applies_to = ("pcap",)
    options = {"max_flows": 10000}

    def execute(self, input_data: dict) -> dict:
        flows: dict[tuple, dict] = {}
        for packet in Capture(input_data["sample"]["raw_bytes"]).packets():
            if packet.src is None:
                continue
            ends = sorted([(packet.src, packet.sport or 0), (packet.dst, packet.dport or 0)])
            key = (packet.protocol, *ends)
            flow = flows.get(key)
            if flow is None:
                flow = flows[key] = _new_flow(packet)
            sender = "src" if (packet.src, packet.sport) == (flow["src"], flow["sport"]) else "dst"
            flow["packets"] += 1
            flow["bytes"] += packet.length
            flow[f"{sender}_packets"] += 1
            flow[f"{sender}_bytes"] += packet.length
            flow["start"], flow["end"] = min(flow["start"], packet.ts), max(flow["end"], packet.ts)
        ordered = sorted(flows.values(), key=lambda f: f["start"])
        for flow in ordered:
            flow["duration"] = flow["end"] - flow["start"]
        return {
            "flows": ordered[: self.options["max_flows"]],
            "flow_count": len(ordered),
            "flows_truncated": len(ordered) > self.options["max_flows"],
            "protocol_counts": dict(Counter(flow["proto"] for flow in ordered)),
        }


def _new_flow(packet: Packet) -> dict:
    src, sport, dst, dport = packet.src, packet.sport, packet.dst, packet.dport
    tcp = packet.transport if packet.protocol == "tcp" else None
    if tcp is not None and tcp.flags & dpkt.tcp.TH_SYN and tcp.flags & dpkt.tcp.TH_ACK:
        src, sport, dst, dport = dst, dport, src, sport  # a SYN-ACK comes from the server
    return {"proto": packet.protocol, "src": src, "sport": sport, "dst": dst, "dport": dport,
            "packets": 0, "bytes": 0, "start": packet.ts, "end": packet.ts,
            "src_packets": 0, "src_bytes": 0, "dst_packets": 0, "dst_bytes": 0}
