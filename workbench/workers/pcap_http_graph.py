"""Pcap HTTP graph: who asked which web host for what, as a networkx node-link graph.

Built from pcap_http (no second parse). Returns a networkx node-link graph. Nodes: clients (IP addresses
that sent requests), hosts (the Host header, or the server address when a request had none), servers (the
addresses hosts were reached at) and files (carried bodies stored as children, by md5), each with a ``kind``.
Edges: client -> host ``requested`` (count, methods, first ``max_uris`` uris), host -> server ``served_by``
(count), host -> file ``served`` (filename, content_type, size). ``networkx.node_link_graph(output,
edges="edges")`` loads it as a MultiDiGraph; graph holds request_count and truncated (pcap_http's cap).
"""


class PcapHttpGraph:
    """HTTP clients, hosts, servers and carried files of a packet capture as a networkx node-link graph."""

    dependencies = ["pcap_http"]
    applies_to = ("pcap",)
    options = {"max_uris": 20}

    def execute(self, input_data: dict) -> dict:
        http = input_data["pcap_http"]
        nodes: dict[str, dict] = {}
        edges: dict[tuple, dict] = {}

        def edge(source: tuple[str, str], target: tuple[str, str], key: str, **fields: object) -> dict:
            for name, kind in (source, target):
                nodes.setdefault(name, {"id": name, "kind": kind})
            return edges.setdefault((source[0], target[0], key), {"source": source[0], "target": target[0],
                                                                   "key": key, **fields})

        for request in http["requests"]:
            host = request["host"] or request["dst"]
            asked = edge((request["src"], "client"), (host, "host"), "requested", count=0, methods=[], uris=[])
            asked["count"] += 1
            if request["method"] not in asked["methods"]:
                asked["methods"].append(request["method"])
            if len(asked["uris"]) < self.options["max_uris"] and request["uri"] not in asked["uris"]:
                asked["uris"].append(request["uri"])
            edge((host, "host"), (request["dst"], "server"), "served_by", count=0)["count"] += 1
        for file in http["files"]:
            if file["stored"]:
                edge((file["host"] or "unknown", "host"), (file["md5"], "file"), "served", filename=file["filename"],
                     content_type=file["content_type"], size=file["size"])
        return {"directed": True, "multigraph": True,
                "graph": {"request_count": http["request_count"], "truncated": http["truncated"]},
                "nodes": list(nodes.values()), "edges": list(edges.values())}
