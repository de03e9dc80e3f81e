"""Pcap DNS: DNS queries and answers in a packet capture (UDP 53, mDNS 5353, LLMNR 5355, and TCP 53).

Returns queries and responses, one record per DNS message: {ts, src, sport, dst, dport, transport ('udp' |
'tcp'), id, response, rcode, qname and qtype (first question; None when there is none), questions
([{name, type}]), answers ([{name, type, ttl, data}]: data is the address for A/AAAA, the target name for
CNAME/NS/PTR/SRV, 'preference name' for MX, the text for TXT, else hex), answers_parsed (False when dpkt
could not parse the records, so only header and questions are given)}; UDP messages in capture order, then
TCP ones. At most ``max_messages`` of each kind are listed. Also query_count, response_count, truncated,
names (sorted unique query names) and resolved ({name: sorted A/AAAA/CNAME data seen in answers for it}).
"""

from workbench.analysis.dns_extraction import dns_records
from workbench.analysis.pcap_reading import Capture


class PcapDns:
    """DNS queries and answers in a packet capture: names, types, answer data, times and endpoints."""

    dependencies = ["sample"]
    applies_to = ("pcap",)
    options = {"max_messages": 10000}

    def execute(self, input_data: dict) -> dict:
        queries: list[dict] = []
        responses: list[dict] = []
        for record in dns_records(Capture(input_data["sample"]["raw_bytes"]).packets()):
            (responses if record["response"] else queries).append(record)
        resolved: dict[str, set] = {}
        for response in responses:
            for answer in response["answers"]:
                if answer["type"] in ("A", "AAAA", "CNAME"):
                    resolved.setdefault(answer["name"], set()).add(answer["data"])
        cap = self.options["max_messages"]
        return {
            "queries": queries[:cap],
            "responses": responses[:cap],
            "query_count": len(queries),
            "response_count": len(responses),
            "truncated": max(len(queries), len(responses)) > cap,
            "names": sorted({q["qname"] for q in queries if q["qname"] is not None}),
            "resolved": {name: sorted(data) for name, data in sorted(resolved.items())},
        }
