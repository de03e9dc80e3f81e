"""pcap_dns against tshark: the same queries (names), responses and answers, over UDP and TCP."""

from __future__ import annotations

import socket
import struct
from collections import Counter
from pathlib import Path

import pytest
from pcap_reference import (
    CLIENT,
    PCAPS,
    RESOLVER,
    dns_message,
    reference,
    require_tshark,
    tcp,
    tshark_fields,
    udp,
    write_pcap,
)

from workbench.testing import require_data, run_worker


@pytest.fixture(scope="module")
def outputs() -> dict[str, dict]:
    folder = require_data("pcap")
    return {name: run_worker("pcap_dns", folder / name) for name in PCAPS}


def _tshark_dns(path: Path, response: str) -> list[dict[str, list[str]]]:
    return [frame for frame in reference(path).frames if frame["dns.flags.response"] == [response]]


@pytest.mark.parametrize("name", PCAPS)
def test_queries_and_their_names_match_tshark(outputs: dict, name: str) -> None:
    queries = _tshark_dns(require_data("pcap") / name, "0")
    dns = outputs[name]
    assert dns["query_count"] == len(queries) == len(dns["queries"])
    assert Counter(q["name"] for query in dns["queries"] for q in query["questions"]) == Counter(
        qname for frame in queries for qname in frame["dns.qry.name"])
    assert dns["names"] == sorted({qname for frame in queries for qname in frame["dns.qry.name"]})


@pytest.mark.parametrize("name", PCAPS)
def test_responses_and_address_answers_match_tshark(outputs: dict, name: str) -> None:
    responses = _tshark_dns(require_data("pcap") / name, "1")
    dns = outputs[name]
    assert dns["response_count"] == len(responses)
    ours = Counter(a["data"] for r in dns["responses"] for a in r["answers"] if a["type"] == "A")
    assert ours == Counter(address for frame in responses for address in frame["dns.a"])
    for address in ours:  # every A answer is in ``resolved`` under some name
        assert any(address in values for values in dns["resolved"].values())


def test_queries_carry_endpoints_and_match_their_responses_by_id(outputs: dict) -> None:
    dns = outputs["gold_xxx.pcap"]
    answered = {(r["id"], r["dst"], r["dport"]) for r in dns["responses"]}
    for query in dns["queries"]:
        assert query["dport"] == 53 and query["transport"] == "udp" and query["qtype"] == "A"
        assert (query["id"], query["src"], query["sport"]) in answered


def _name(text: str) -> bytes:
    return b"".join(bytes([len(label)]) + label.encode() for label in text.split(".")) + b"\0"


def _handmade(path: Path) -> Path:
    """UDP: AAAA, CNAME+A, MX, TXT, and an mDNS announcement with an NSEC record (dpkt cannot parse NSEC);
    TCP: a query and a response, the response's length prefix and body in separate segments."""
    six = socket.inet_pton(socket.AF_INET6, "2001:db8::7")
    nsec = _name("printer.local") + b"\x00\x05\x00\x00\x80\x00\x40"
    answers = [
        ("v6.example.test", 28, [(28, six)]),
        ("www.example.test", 1, [(5, _name("web.example.test")), (1, socket.inet_aton("192.0.2.7"))]),
        ("example.test", 15, [(15, struct.pack(">H", 10) + _name("mail.example.test"))]),
        ("example.test", 16, [(16, b"\x0bhello world")]),
    ]
    frames = []
    for ident, (qname, qtype, records) in enumerate(answers, start=1):
        frames.append(udp(CLIENT, 3000 + ident, RESOLVER, 53, dns_message(qname, qtype, ident=ident)))
        frames.append(udp(RESOLVER, 53, CLIENT, 3000 + ident, dns_message(qname, qtype, tuple(records), ident)))
    frames.append(udp(CLIENT, 5353, "224.0.0.251", 5353, dns_message("printer.local", 47, ((47, nsec),), 0)))
    query, reply = dns_message("tcp.example.test", 1, ident=99), dns_message(
        "tcp.example.test", 1, ((1, socket.inet_aton("192.0.2.99")),), 99)
    framed_query, framed_reply = struct.pack(">H", len(query)) + query, struct.pack(">H", len(reply)) + reply
    frames += [tcp(CLIENT, 4000, RESOLVER, 53, 100, flags=0x02), tcp(RESOLVER, 53, CLIENT, 4000, 500, flags=0x12,
                                                                     ack=101),
               tcp(CLIENT, 4000, RESOLVER, 53, 101, framed_query, ack=501),
               tcp(RESOLVER, 53, CLIENT, 4000, 501, framed_reply[:2], ack=101 + len(framed_query)),
               tcp(RESOLVER, 53, CLIENT, 4000, 503, framed_reply[2:], ack=101 + len(framed_query))]
    return write_pcap(path, frames)


def test_answer_types_tcp_and_unparsable_records_are_handled(tmp_path: Path) -> None:
    require_tshark()
    path = _handmade(tmp_path / "dns.pcap")
    dns = run_worker("pcap_dns", path)
    rows = tshark_fields(path, "dns || mdns", "dns.flags.response", "dns.qry.name", "dns.aaaa", "dns.cname", "dns.a",
                         "dns.mx.mail_exchange", "dns.txt", "tcp.port")
    assert dns["query_count"] == sum(row[0] == ["0"] for row in rows) == 5
    assert dns["response_count"] == sum(row[0] == ["1"] for row in rows) == 6
    answers = [a for r in dns["responses"] for a in r["answers"]]
    by_type = {kind: [a["data"] for a in answers if a["type"] == kind] for kind in ("AAAA", "CNAME", "A", "TXT")}
    assert by_type == {"AAAA": [v for row in rows for v in row[2]], "CNAME": [v for row in rows for v in row[3]],
                       "A": [v for row in rows for v in row[4]], "TXT": [v for row in rows for v in row[6]]}
    assert [a["data"] for a in answers if a["type"] == "MX"] == [f"10 {v}" for row in rows for v in row[5]]
    (mdns,) = [r for r in dns["responses"] if r["dport"] == 5353]
    assert (mdns["qname"], mdns["qtype"], mdns["answers_parsed"]) == ("printer.local", "NSEC", False)
    tcp_messages = [m for m in dns["queries"] + dns["responses"] if m["transport"] == "tcp"]
    assert len(tcp_messages) == sum(bool(row[7]) for row in rows) == 2
    assert dns["resolved"]["tcp.example.test"] == ["192.0.2.99"]
    assert dns["resolved"]["www.example.test"] == ["192.0.2.7", "web.example.test"]  # both records name www
