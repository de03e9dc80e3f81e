"""Pcap HTTP: HTTP/1.x requests and responses in a packet capture; carried files become child samples.

TCP streams are reassembled by sequence number (out-of-order and retransmitted segments handled), then
parsed as pipelined HTTP messages (see workbench/analysis/http_extraction.py for the framing rules).
Response bodies of at least ``min_file_size`` bytes (after undoing gzip/deflate Content-Encoding) are
stored as child samples named after the last segment of the request URI, within ``max_files`` distinct
files, ``max_total_bytes`` and ``max_file_size`` each; bodies cut short by the end of the capture are not
stored.

Returns requests ([{method, host, uri, user_agent, referer, version, body_length, ts, src, sport, dst,
dport}]), responses ([{status, reason, content_type, content_length (header value, None if absent),
content_encoding, body_length (bytes received, de-chunked), complete, ts, src, sport, dst, dport, uri and
host (of the request answered, None if unknown)}]), files ([{filename, uri, host, content_type, size, md5,
ts, stored, skipped (reason, or None), warning}]: size and md5 are of the decoded body; md5 is None when
the body is cut short or over max_file_size, and decompression stops at max_file_size + 1 bytes),
request_count, response_count, file_count (records stored; a body served twice counts twice), hosts
(sorted unique Host headers) and warnings. The three lists hold at most ``max_messages`` entries each
(truncated: True when one was cut; the counts are not). ts is the time of the packet carrying the
message's first byte.
"""

from workbench.analysis import http_extraction
from workbench.analysis.http_extraction import FileLimits, HttpMessage, endpoints
from workbench.analysis.pcap_reading import Capture
from workbench.analysis.tcp_reassembly import tcp_connections


class PcapHttp:
    """HTTP requests and responses in a packet capture (TCP reassembly); carried files become children."""

    dependencies = ["sample", "corpus"]
    applies_to = ("pcap",)
    options = {"min_file_size": 1, "max_file_size": 64 << 20, "max_files": 500, "max_total_bytes": 256 << 20,
               "max_messages": 10000}

    def execute(self, input_data: dict) -> dict:
        capture = Capture(input_data["sample"]["raw_bytes"])
        requests, responses = http_extraction.http_messages(tcp_connections(capture.packets()))
        limits = FileLimits(self.options["min_file_size"], self.options["max_file_size"],
                            self.options["max_files"], self.options["max_total_bytes"])
        files = list(http_extraction.carried_files(responses, limits, input_data["corpus"].store_child))
        cap = self.options["max_messages"]
        return {
            "requests": [_request(message) for message in requests[:cap]],
            "responses": [_response(message) for message in responses[:cap]],
            "files": files[:cap],
            "truncated": max(len(requests), len(responses), len(files)) > cap,
            "request_count": len(requests),
            "response_count": len(responses),
            "file_count": sum(record["stored"] for record in files),
            "hosts": sorted({m.header("host") for m in requests if m.header("host")}),
            "warnings": capture.warnings,
        }


def _request(message: HttpMessage) -> dict:
    return {
        "method": message.message.method, "host": message.header("host"), "uri": message.message.uri,
        "user_agent": message.header("user-agent"), "referer": message.header("referer"),
        "version": message.message.version, "body_length": len(message.body), "ts": message.ts,
        **endpoints(message),
    }


def _response(message: HttpMessage) -> dict:
    length = message.header("content-length")
    request = message.request
    return {
        "status": int(message.message.status), "reason": message.message.reason,
        "content_type": message.header("content-type"),
        "content_length": int(length) if length and length.strip().isdigit() else None,
        "content_encoding": message.header("content-encoding"), "body_length": len(message.body),
        "complete": message.complete, "ts": message.ts, **endpoints(message),
        "uri": request.message.uri if request else None, "host": request.header("host") if request else None,
    }
