"""View pcap: a compact summary of a packet capture, pulled from pcap_meta, pcap_flows, pcap_http and pcap_dns.

Returns format, link_type_name, packet_count, bytes, first_time, last_time, duration, protocols, host_count,
top_hosts ([{ip, packets, bytes}], the ``top`` busiest), flow_count, top_flows ([{proto, src, sport, dst,
dport, packets, bytes}], the ``top`` largest by bytes), http_request_count, http_hosts ([{host, requests}],
most requested first), files_extracted (carried files stored as children), dns_query_count, dns_names
(sorted unique query names) and warnings (from the capture reader); and the original's bro_logs ({conn_log,
http_log, ...: md5 of the Zeek-format log pcap_bro wrote}) and extracted_files (md5s of the carried files).
"""

from collections import Counter

FLOW_FIELDS = ("proto", "src", "sport", "dst", "dport", "packets", "bytes")


class ViewPcap:
    """Summary of a packet capture: size, time span, protocols, busiest hosts and flows, HTTP hosts, DNS names."""

    dependencies = ["pcap_meta", "pcap_flows", "pcap_http", "pcap_dns", "pcap_bro"]
    applies_to = ("pcap",)
    options = {"top": 10}

    def execute(self, input_data: dict) -> dict:
        meta, flows = input_data["pcap_meta"], input_data["pcap_flows"]
        http, dns, bro = input_data["pcap_http"], input_data["pcap_dns"], input_data["pcap_bro"]
        top = self.options["top"]
        largest = sorted(flows["flows"], key=lambda flow: -flow["bytes"])[:top]
        http_hosts = Counter(request["host"] for request in http["requests"] if request["host"])
        summary = {key: meta[key] for key in ("format", "link_type_name", "packet_count", "bytes", "first_time",
                                               "last_time", "duration", "protocols", "host_count")}
        return {
            **summary,
            "top_hosts": meta["hosts"][:top],
            "flow_count": flows["flow_count"],
            "top_flows": [{key: flow[key] for key in FLOW_FIELDS} for flow in largest],
            "http_request_count": http["request_count"],
            "http_hosts": [{"host": host, "requests": n} for host, n in http_hosts.most_common()],
            "files_extracted": http["file_count"],
            "dns_query_count": dns["query_count"],
            "dns_names": dns["names"],
            "warnings": meta["warnings"],
            "bro_logs": {key: md5 for key, md5 in bro.items() if key.endswith("_log")},
            "extracted_files": bro["extracted_files"],
        }
