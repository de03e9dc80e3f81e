"""Zeek (Bro) ASCII logs written from our own PCAP parsers' records: conn, http, dns, files and weird.

Zeek itself cannot be installed here, so ``pcap_bro`` writes its logs from the outputs of ``pcap_flows``,
``pcap_http`` and ``pcap_dns``: the same header block Zeek writes (``#separator``, ``#fields``, ``#types``...),
tab-separated values, ``-`` for unset, ``(empty)`` for an empty container, ``,`` between container elements,
and Zeek's ``\\xNN`` escapes for a separator, a newline or a backslash inside a value. The columns are Zeek's
names and types; a column is only written when our parsers know its value (no ``orig_bytes`` payload
counts, no ``conn_state`` or ``history``), so every value in these logs was measured, none guessed.

What differs from Zeek by design: a connection is every packet between the same endpoints over the whole
capture (as ``pcap_flows`` and tshark's conversation tables count them; Zeek splits on idle timeouts), uids
are derived from the connection (the same capture gives the same uids), and ``*_ip_bytes`` are captured
frame bytes. ``read_log`` in ``bro_parsing`` (and so the ``bro_log`` worker) reads them like Zeek's own.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

CONN = [("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"), ("id.resp_h", "addr"),
        ("id.resp_p", "port"), ("proto", "enum"), ("service", "string"), ("duration", "interval"),
        ("orig_pkts", "count"), ("orig_ip_bytes", "count"), ("resp_pkts", "count"), ("resp_ip_bytes", "count")]
HTTP = [("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"), ("id.resp_h", "addr"),
        ("id.resp_p", "port"), ("trans_depth", "count"), ("method", "string"), ("host", "string"),
        ("uri", "string"), ("referrer", "string"), ("version", "string"), ("user_agent", "string"),
        ("request_body_len", "count"), ("response_body_len", "count"), ("status_code", "count"),
        ("status_msg", "string"), ("resp_fuids", "vector[string]"), ("resp_mime_types", "vector[string]")]
DNS = [("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"), ("id.resp_h", "addr"),
       ("id.resp_p", "port"), ("proto", "enum"), ("trans_id", "count"), ("rtt", "interval"), ("query", "string"),
       ("qtype_name", "string"), ("rcode", "count"), ("rcode_name", "string"), ("answers", "vector[string]"),
       ("TTLs", "vector[interval]")]
FILES = [("ts", "time"), ("fuid", "string"), ("tx_hosts", "set[addr]"), ("rx_hosts", "set[addr]"),
         ("conn_uids", "set[string]"), ("source", "string"), ("mime_type", "string"), ("filename", "string"),
         ("seen_bytes", "count"), ("md5", "string"), ("extracted", "string")]
WEIRD = [("ts", "time"), ("uid", "string"), ("name", "string"), ("addl", "string"), ("notice", "bool"),
         ("peer", "string")]

RCODE_NAMES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
_ESCAPES = {"\\": "\\x5c", "\t": "\\x09", "\n": "\\x0a", "\r": "\\x0d", ",": "\\x2c"}


def _text(value: Any, in_container: bool) -> str:
    text = str(value)
    if not text:
        return "(empty)"
    escaped = "".join(_ESCAPES.get(char, char) if char != "," or in_container else char for char in text)
    return "\\x2d" if escaped == "-" else escaped


def format_value(value: Any, zeek_type: str, in_container: bool = False) -> str:
    """One value as Zeek writes it: ``-`` unset, ``T``/``F``, 6-decimal times, escaped text, joined containers."""
    if value is None:
        return "-"
    if isinstance(value, list | tuple | set):
        inner = zeek_type.split("[", 1)[1][:-1] if "[" in zeek_type else "string"
        return ",".join(format_value(item, inner, in_container=True) for item in value) if value else "(empty)"
    if zeek_type == "bool":
        return "T" if value else "F"
    if zeek_type in ("time", "interval", "double"):
        return f"{float(value):.6f}"
    if zeek_type in ("count", "int", "port"):
        return str(int(value))
    return _text(value, in_container)


def write_log(path: str, columns: list[tuple[str, str]], records: Iterable[dict[str, Any]],
              opened: float | None = None) -> bytes:
    """A whole Zeek ASCII log: the header block, one line per record (keys = column names), ``#close``."""
    stamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(opened or 0))
    lines = ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-",
             f"#path\t{path}", f"#open\t{stamp}", "#fields\t" + "\t".join(name for name, _ in columns),
             "#types\t" + "\t".join(kind for _, kind in columns)]
    lines += ["\t".join(format_value(record.get(name), kind) for name, kind in columns) for record in records]
    lines.append(f"#close\t{stamp}")
    return ("\n".join(lines) + "\n").encode("utf-8", "backslashreplace")


def merge_logs(logs: list[bytes]) -> bytes:
    """Logs of one kind written by ``write_log`` (the same columns) as one, records in time order: what Zeek
    writes when it reads several pcaps in one run. The header is the first log's, ``#close`` the latest."""
    header: list[str] = []
    records: list[str] = []
    closes: list[str] = []
    for number, raw in enumerate(logs):
        for line in raw.decode("utf-8", "backslashreplace").splitlines():
            if line.startswith("#close"):
                closes.append(line)
            elif line.startswith("#"):
                if number == 0:
                    header.append(line)
            elif line:
                records.append(line)
    records.sort(key=_record_time)
    return ("\n".join([*header, *records, *sorted(closes)[-1:]]) + "\n").encode("utf-8", "backslashreplace")


def _record_time(line: str) -> float:
    first = line.split("\t", 1)[0]
    try:
        return float(first)
    except ValueError:  # an unset ts ('-'): first
        return 0.0


def make_uid(prefix: str, *parts: Any) -> str:
    """A Zeek-style id (``C...`` for connections, ``F...`` for files), stable for the same inputs."""
    digest = hashlib.sha1("|".join(map(str, parts)).encode()).digest()
    return prefix + base64.b32encode(digest).decode()[:17]


def connection_key(proto: str, a: str, a_port: Any, b: str, b_port: Any) -> tuple:
    """The same key for both directions of a conversation, as pcap_flows keys its flows."""
    return (proto, *sorted([(a, a_port or 0), (b, b_port or 0)]))


def conn_records(flows: list[dict], services: dict[tuple, str]) -> tuple[list[dict], dict[tuple, str]]:
    """conn.log records, one per flow, and each flow's uid by connection key (for the other logs)."""
    records, uids = [], {}
    for flow in flows:
        key = connection_key(flow["proto"], flow["src"], flow["sport"], flow["dst"], flow["dport"])
        uid = uids[key] = make_uid("C", *key, flow["start"])
        records.append({"ts": flow["start"], "uid": uid, "id.orig_h": flow["src"], "id.orig_p": flow["sport"],
                        "id.resp_h": flow["dst"], "id.resp_p": flow["dport"], "proto": flow["proto"],
                        "service": services.get(key), "duration": flow["duration"],
                        "orig_pkts": flow["src_packets"], "orig_ip_bytes": flow["src_bytes"],
                        "resp_pkts": flow["dst_packets"], "resp_ip_bytes": flow["dst_bytes"]})
    return records, uids


def _endpoints(message: dict, uids: dict[tuple, str], client_first: bool = True) -> dict[str, Any]:
    src, sport, dst, dport = message["src"], message["sport"], message["dst"], message["dport"]
    if not client_first:
        src, sport, dst, dport = dst, dport, src, sport
    return {"uid": uids.get(connection_key("tcp", src, sport, dst, dport)), "id.orig_h": src, "id.orig_p": sport,
            "id.resp_h": dst, "id.resp_p": dport}


def http_records(http: dict, files: dict[float, dict], uids: dict[tuple, str]) -> list[dict]:
    """http.log records: each request with the response that answered it (in order on its connection)."""
    answers: dict[tuple, list[dict]] = defaultdict(list)
    for response in http["responses"]:
        answers[(response["dst"], response["dport"], response["src"], response["sport"])].append(response)
    depth: dict[tuple, int] = defaultdict(int)
    records = []
    for request in http["requests"]:
        conn = (request["src"], request["sport"], request["dst"], request["dport"])
        depth[conn] += 1
        queue = answers[conn]
        response = queue.pop(0) if queue else {}
        file = files.get(response.get("ts")) if response else None
        records.append({"ts": request["ts"], **_endpoints(request, uids), "trans_depth": depth[conn],
                        "method": request["method"], "host": request["host"], "uri": request["uri"],
                        "referrer": request["referer"], "version": request["version"],
                        "user_agent": request["user_agent"], "request_body_len": request["body_length"],
                        "response_body_len": response.get("body_length", 0), "status_code": response.get("status"),
                        "status_msg": response.get("reason"), "resp_fuids": [file["fuid"]] if file else [],
                        "resp_mime_types": [file["mime_type"]] if file and file["mime_type"] else []})
    return records


def file_records(http: dict, uids: dict[tuple, str]) -> dict[float, dict]:
    """files.log records of HTTP bodies, keyed by the time of the response that carried each."""
    responses = {response["ts"]: response for response in http["responses"]}
    records = {}
    for file in http["files"]:
        response = responses.get(file["ts"])
        if response is None:
            continue
        conn = _endpoints(response, uids, client_first=False)
        mime = (file["content_type"] or "").split(";")[0].strip() or None
        records[file["ts"]] = {"ts": file["ts"], "fuid": make_uid("F", conn["uid"], file["ts"], file["md5"]),
                               "tx_hosts": [response["src"]], "rx_hosts": [response["dst"]],
                               "conn_uids": [conn["uid"]] if conn["uid"] else [], "source": "HTTP",
                               "mime_type": mime, "filename": file["filename"], "seen_bytes": file["size"],
                               "md5": file["md5"], "extracted": file["md5"] if file["stored"] else None}
    return records


def dns_records(dns: dict, uids: dict[tuple, str]) -> list[dict]:
    """dns.log records: one per query, with its answer (same id and endpoints, reversed) when one came."""
    answers: dict[tuple, list[dict]] = defaultdict(list)
    for response in dns["responses"]:
        answers[(response["id"], response["dst"], response["dport"], response["src"], response["sport"])].append(
            response)
    records = []
    for query in dns["queries"]:
        queue = answers[(query["id"], query["src"], query["sport"], query["dst"], query["dport"])]
        response = queue.pop(0) if queue else None
        key = connection_key(query["transport"], query["src"], query["sport"], query["dst"], query["dport"])
        records.append({"ts": query["ts"], "uid": uids.get(key), "id.orig_h": query["src"],
                        "id.orig_p": query["sport"], "id.resp_h": query["dst"], "id.resp_p": query["dport"],
                        "proto": query["transport"], "trans_id": query["id"], "query": query["qname"],
                        "qtype_name": query["qtype"],
                        "rtt": response["ts"] - query["ts"] if response else None,
                        "rcode": response["rcode"] if response else None,
                        "rcode_name": RCODE_NAMES.get(response["rcode"]) if response else None,
                        "answers": [a["data"] for a in response["answers"]] if response else None,
                        "TTLs": [a["ttl"] for a in response["answers"]] if response else None})
    return records


def weird_records(warnings: list[str], opened: float | None) -> list[dict]:
    """weird.log records for what the capture readers flagged (truncated records, undecodable frames)."""
    return [{"ts": opened, "name": warning.split(":")[0].strip().replace(" ", "_"), "addl": warning,
             "notice": False, "peer": "workbench"} for warning in warnings]
