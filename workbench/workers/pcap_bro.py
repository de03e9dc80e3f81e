"""Pcap Bro: Zeek-format logs (conn, http, dns, files, weird) of a packet capture, stored as child samples.

The original Workbench ran Bro over each pcap. Zeek cannot be installed here, so the logs are written from
our own parsers' outputs (pcap_flows, pcap_http, pcap_dns; see workbench/analysis/zeek_logs.py for the
columns and what differs from Zeek). Each log is stored as a child sample of type_tag ``bro`` named like
Zeek's (``conn.log``...), so ``bro_log``, ``view_bro`` and ``stream_sample`` read them; as with Zeek, a log
with no records is not written.

Returns, as the original did, ``conn_log``, ``http_log``, ``dns_log``, ``files_log`` and ``weird_log`` (the
md5 of each log written), ``extracted_files`` (md5s of the files carried over HTTP, stored as children by
pcap_http) and ``pcaps`` (the md5 of the capture the logs come from); also ``record_counts`` ({log name:
records}) and ``truncated`` (True when a parser's cap cut records, so a log holds fewer than the capture).
"""

from workbench.analysis import zeek_logs


class PcapBro:
    """Zeek-format logs (conn, http, dns, files, weird) written from a pcap, stored as child samples of type bro."""

    dependencies = ["pcap_flows", "pcap_http", "pcap_dns", "sample", "corpus"]
    applies_to = ("pcap",)

    def execute(self, input_data: dict) -> dict:
        flows, http, dns = input_data["pcap_flows"], input_data["pcap_http"], input_data["pcap_dns"]
        opened = flows["flows"][0]["start"] if flows["flows"] else None
        services = {zeek_logs.connection_key("tcp", r["src"], r["sport"], r["dst"], r["dport"]): "http"
                    for r in http["requests"]}
        services.update({zeek_logs.connection_key(q["transport"], q["src"], q["sport"], q["dst"], q["dport"]): "dns"
                         for q in dns["queries"]})
        conn, uids = zeek_logs.conn_records(flows["flows"], services)
        files = zeek_logs.file_records(http, uids)
        logs = {
            "conn": (zeek_logs.CONN, conn),
            "http": (zeek_logs.HTTP, zeek_logs.http_records(http, files, uids)),
            "dns": (zeek_logs.DNS, zeek_logs.dns_records(dns, uids)),
            "files": (zeek_logs.FILES, sorted(files.values(), key=lambda record: record["ts"])),
            "weird": (zeek_logs.WEIRD, zeek_logs.weird_records(http["warnings"], opened)),
        }
        output: dict = {"record_counts": {}}
        for name, (columns, records) in logs.items():
            output["record_counts"][name] = len(records)
            if records:
                log = zeek_logs.write_log(name, columns, records, opened)
                output[f"{name}_log"] = input_data["corpus"].store_child(log, f"{name}.log", "bro")
        output["extracted_files"] = sorted({f["md5"] for f in http["files"] if f["stored"]})
        output["pcaps"] = [input_data["sample"]["md5"]]
        output["truncated"] = bool(flows["flows_truncated"] or http["truncated"] or dns["truncated"])
        return output
