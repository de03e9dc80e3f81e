"""View pcap deep: view_pcap's summary plus the details behind it (requests, files, DNS answers, graph size).

Returns everything view_pcap returns, plus hosts (all of pcap_meta's), flows (the ``max_flows`` largest by
bytes, view_pcap's fields plus start and duration), http_requests ([{method, host, uri, user_agent, ts}],
at most ``max_requests``), http_status_counts ({status: count}), user_agents (sorted unique), files
([{filename, uri, content_type, size, md5, stored, skipped}]), dns (one entry per query name: {name,
qtypes, answers (A/AAAA/CNAME data seen)}), and graph ({nodes, edges}: the pcap_graph sizes).
"""

from collections import Counter

FLOW_FIELDS = ("proto", "src", "sport", "dst", "dport", "packets", "bytes", "start", "duration")
FILE_FIELDS = ("filename", "uri", "content_type", "size", "md5", "stored", "skipped")
REQUEST_FIELDS = ("method", "host", "uri", "user_agent", "ts")


class ViewPcapDeep:
    """Detailed view of a packet capture: summary, all hosts, big flows, HTTP requests and files, DNS answers."""

    dependencies = ["view_pcap", "pcap_meta", "pcap_flows", "pcap_http", "pcap_dns", "pcap_graph"]
    applies_to = ("pcap",)
    options = {"max_flows": 100, "max_requests": 500}

    def execute(self, input_data: dict) -> dict:
        flows, http = input_data["pcap_flows"], input_data["pcap_http"]
        dns, graph = input_data["pcap_dns"], input_data["pcap_graph"]
        largest = sorted(flows["flows"], key=lambda flow: -flow["bytes"])[: self.options["max_flows"]]
        qtypes: dict[str, set] = {}
        for query in dns["queries"]:
            if query["qname"] is not None:
                qtypes.setdefault(query["qname"], set()).add(query["qtype"])
        return {
            **input_data["view_pcap"],
            "hosts": input_data["pcap_meta"]["hosts"],
            "flows": [{key: flow[key] for key in FLOW_FIELDS} for flow in largest],
            "http_requests": [{key: request[key] for key in REQUEST_FIELDS}
                              for request in http["requests"][: self.options["max_requests"]]],
            "http_status_counts": {str(status): n for status, n in
                                   sorted(Counter(r["status"] for r in http["responses"]).items())},
            "user_agents": sorted({r["user_agent"] for r in http["requests"] if r["user_agent"]}),
            "files": [{key: record[key] for key in FILE_FIELDS} for record in http["files"]],
            "dns": [{"name": name, "qtypes": sorted(types), "answers": dns["resolved"].get(name, [])}
                    for name, types in sorted(qtypes.items())],
            "graph": {"nodes": len(graph["nodes"]), "edges": len(graph["edges"])},
        }
