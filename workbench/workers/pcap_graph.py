"""Pcap graph: the hosts of a packet capture and who talked to whom, in networkx node-link form.

Built from pcap_flows (no second parse). Returns a dict that ``networkx.node_link_graph(output,
edges="edges")`` loads as a MultiDiGraph (networkx >= 3.4; from 3.6 "edges" is the default key): directed
(True), multigraph (True), graph ({flow_count, truncated: True when pcap_flows hit its max_flows cap}),
nodes ([{id: IP address, packets, bytes}]: totals over the flows the host is in) and edges ([{source,
target, key, protocol, ports, flows, packets, bytes}]): one edge per (initiator, responder, protocol),
key = protocol, ports = sorted destination ports used (at most ``max_ports``; empty for ICMP and others).
"""


class PcapGraph:
    """Hosts and connections of a packet capture as a networkx node-link graph (nodes = IPs, edges = flows)."""

    dependencies = ["pcap_flows"]
    applies_to = ("pcap",)
    options = {"max_ports": 100}

    def execute(self, input_data: dict) -> dict:
        flows = input_data["pcap_flows"]
        nodes: dict[str, dict] = {}
        edges: dict[tuple, dict] = {}
        for flow in flows["flows"]:
            for address in {flow["src"], flow["dst"]}:
                node = nodes.setdefault(address, {"id": address, "packets": 0, "bytes": 0})
                node["packets"] += flow["packets"]
                node["bytes"] += flow["bytes"]
            key = (flow["src"], flow["dst"], flow["proto"])
            edge = edges.setdefault(key, {"source": flow["src"], "target": flow["dst"], "key": flow["proto"],
                                          "protocol": flow["proto"], "ports": set(), "flows": 0,
                                          "packets": 0, "bytes": 0})
            if flow["dport"] is not None:
                edge["ports"].add(flow["dport"])
            edge["flows"] += 1
            edge["packets"] += flow["packets"]
            edge["bytes"] += flow["bytes"]
        for edge in edges.values():
            edge["ports"] = sorted(edge["ports"])[: self.options["max_ports"]]
        return {
            "directed": True,
            "multigraph": True,
            "graph": {"flow_count": flows["flow_count"], "truncated": flows["flows_truncated"]},
            "nodes": sorted(nodes.values(), key=lambda node: (-node["packets"], node["id"])),
            "edges": list(edges.values()),
        }
