"""View pcap details: the original Workbench's detailed pcap view, view_pcap_deep plus the Zeek-format logs.

Returns everything view_pcap_deep returns, plus bro_logs ({conn_log, http_log, dns_log, files_log,
weird_log: md5 of each log pcap_bro wrote; read one with stream_sample}), bro_record_counts ({log: records})
and extracted_files (md5s of the files carried over HTTP, stored as child samples).
"""

LOGS = ("conn_log", "http_log", "dns_log", "files_log", "weird_log")


class ViewPcapDetails:
    """view_pcap_deep plus the md5s of the pcap's Zeek-format logs (pcap_bro) and of its extracted files."""

    dependencies = ["view_pcap_deep", "pcap_bro"]
    applies_to = ("pcap",)

    def execute(self, input_data: dict) -> dict:
        bro = input_data["pcap_bro"]
        return {**input_data["view_pcap_deep"], "bro_logs": {log: bro[log] for log in LOGS if log in bro},
                "bro_record_counts": bro["record_counts"], "extracted_files": bro["extracted_files"]}
