"""pcap_meta against tshark: packet counts, bytes, time span, protocol counts and hosts, in pcap and pcapng."""

from __future__ import annotations

import socket
from pathlib import Path

import dpkt
import pytest
from pcap_reference import (
    CLIENT,
    MAC_A,
    MAC_B,
    PCAPS,
    RESOLVER,
    SERVER,
    convert,
    ether,
    ipv4,
    reference,
    require_tshark,
    udp,
    write_pcap,
)

from workbench.exceptions import WorkerFailed
from workbench.testing import require_data, run_worker


@pytest.fixture(scope="module")
def outputs() -> dict[str, dict]:
    folder = require_data("pcap")
    return {name: run_worker("pcap_meta", folder / name) for name in PCAPS}


def _tshark_frames(path: Path) -> list[tuple[int, float, list[str]]]:
    """(captured length, epoch time, protocol layers such as eth, ethertype, ip, tcp, http) per frame."""
    return [(int(frame["frame.cap_len"][0]), float(frame["frame.time_epoch"][0]), frame["frame.protocols"])
            for frame in reference(path).frames]


@pytest.mark.parametrize("name", PCAPS)
def test_packet_count_bytes_and_time_span_match_tshark(outputs: dict, name: str) -> None:
    frames = _tshark_frames(require_data("pcap") / name)
    first, last = min(ts for _, ts, _ in frames), max(ts for _, ts, _ in frames)
    meta = outputs[name]
    assert (meta["packet_count"], meta["bytes"]) == (len(frames), sum(size for size, _, _ in frames))
    assert meta["first_ts"] == pytest.approx(first, abs=1e-6)
    assert meta["last_ts"] == pytest.approx(last, abs=1e-6)
    assert meta["duration"] == pytest.approx(last - first, abs=1e-6)
    assert (meta["format"], meta["link_type"], meta["link_type_name"]) == ("pcap", 1, "ethernet")
    assert meta["warnings"] == [] and meta["undecoded"] == 0


def _tshark_protocols(path: Path) -> dict[str, int]:
    """Frames per protocol from tshark's protocol chains. An ICMP error quotes the TCP/UDP header of the packet
    it reports, so tshark shows tcp/udp inside it: those count as ICMP only, as the worker reads only the
    outer header."""
    wanted = {"ip": ("ip",), "ip6": ("ipv6",), "arp": ("arp",), "tcp": ("tcp",), "udp": ("udp",),
              "icmp": ("icmp",), "icmp6": ("icmpv6",)}
    counts = dict.fromkeys(wanted, 0)
    for _, _, chain in _tshark_frames(path):
        quoted = "icmp" in chain or "icmpv6" in chain
        for key, names in wanted.items():
            if any(n in chain for n in names) and not (quoted and key in ("tcp", "udp")):
                counts[key] += 1
    return counts


@pytest.mark.parametrize("name", PCAPS)
def test_protocol_counts_match_tshark(outputs: dict, name: str) -> None:
    counts = outputs[name]["protocols"]
    assert {key: counts[key] for key in ("ip", "ip6", "arp", "tcp", "udp", "icmp", "icmp6")} == _tshark_protocols(
        require_data("pcap") / name)
    assert counts["ip"] + counts["ip6"] + counts["arp"] + counts["other"] == outputs[name]["packet_count"]


@pytest.mark.parametrize("name", PCAPS)
def test_hosts_match_tshark_ip_endpoints(outputs: dict, name: str) -> None:
    meta = outputs[name]
    hosts = {host["ip"]: (host["packets"], host["bytes"]) for host in meta["hosts"]}
    assert hosts == reference(require_data("pcap") / name).endpoints()
    assert meta["host_count"] == len(hosts) and not meta["hosts_truncated"]
    assert [h["packets"] for h in meta["hosts"]] == sorted((h["packets"] for h in meta["hosts"]), reverse=True)


def _mixed_capture(path: Path) -> Path:
    """ARP, IPv6/UDP, ICMP echo, ICMPv6 echo, a fragmented UDP datagram and a non-IP (LLDP) frame."""
    arp = dpkt.arp.ARP(sha=MAC_A, spa=socket.inet_aton(CLIENT), tha=b"\0" * 6, tpa=socket.inet_aton(SERVER))
    six = dpkt.ip6.IP6(src=socket.inet_pton(socket.AF_INET6, "fe80::1"), nxt=17, hlim=64,
                       dst=socket.inet_pton(socket.AF_INET6, "ff02::fb"),
                       data=dpkt.udp.UDP(sport=5353, dport=5353, ulen=12, data=b"abcd"))
    six.plen = 12
    ping = dpkt.icmp.ICMP(type=8, data=dpkt.icmp.ICMP.Echo(id=1, seq=1, data=b"ping"))
    ping6 = dpkt.icmp6.ICMP6(type=128, data=dpkt.icmp6.ICMP6.Echo(id=1, seq=1, data=b"ping"))
    six_ping = dpkt.ip6.IP6(src=six.src, dst=socket.inet_pton(socket.AF_INET6, "fe80::2"), nxt=58, hlim=64,
                            plen=len(bytes(ping6)), data=ping6)
    whole = bytes(dpkt.udp.UDP(sport=4000, dport=4001, ulen=8 + 64, data=b"x" * 64))
    first = ipv4(CLIENT, RESOLVER, 17, whole[:40], id=9, mf=1)
    second = ipv4(CLIENT, RESOLVER, 17, whole[40:], id=9, offset=5)  # in 8-byte units
    frames = [ether(arp, dpkt.ethernet.ETH_TYPE_ARP), ether(six, dpkt.ethernet.ETH_TYPE_IP6),
              ether(ipv4(CLIENT, SERVER, 1, ping)), ether(six_ping, dpkt.ethernet.ETH_TYPE_IP6),
              ether(first), ether(second), udp(CLIENT, 5000, RESOLVER, 53, b"not really dns"),
              bytes(dpkt.ethernet.Ethernet(src=MAC_A, dst=MAC_B, type=0x88CC, data=b"\x02\x07" + b"\0" * 40))]
    return write_pcap(path, frames)


def test_mixed_protocols_are_counted_like_tshark(tmp_path: Path) -> None:
    require_tshark()
    path = _mixed_capture(tmp_path / "mixed.pcap")
    meta = run_worker("pcap_meta", path)
    counts = meta["protocols"]
    # tshark reassembles the two fragments and shows UDP on the last one; the worker sees UDP in the first
    # fragment's header and counts the second as other_ip: one UDP datagram either way.
    assert {key: counts[key] for key in ("ip", "ip6", "arp", "tcp", "udp", "icmp", "icmp6")} == _tshark_protocols(
        path)
    assert (counts["other"], counts["other_ip"], meta["packet_count"]) == (1, 1, 8)
    assert {h["ip"]: h["packets"] for h in meta["hosts"]}["fe80::1"] == 2


@pytest.mark.parametrize("file_format", ["pcapng", "nsecpcap"])
def test_pcapng_and_nanosecond_copies_give_the_same_summary(tmp_path: Path, outputs: dict, file_format: str) -> None:
    copy = convert(require_data("pcap") / "kitchen_boss.pcap", tmp_path / f"kb.{file_format}", file_format)
    meta = run_worker("pcap_meta", copy)
    original = outputs["kitchen_boss.pcap"]
    assert meta["format"] == ("pcapng" if file_format == "pcapng" else "pcap")
    same = ("packet_count", "bytes", "protocols", "hosts", "link_type")
    assert {key: meta[key] for key in same} == {key: original[key] for key in same}
    assert meta["first_ts"] == pytest.approx(original["first_ts"], abs=1e-6)


@pytest.mark.parametrize("file_format", ["pcap", "pcapng"])
def test_truncated_capture_keeps_the_complete_packets_and_warns(tmp_path: Path, file_format: str) -> None:
    whole = convert(require_data("pcap") / "http.pcap", tmp_path / f"whole.{file_format}", file_format)
    raw = whole.read_bytes()
    path = tmp_path / f"cut.{file_format}"
    path.write_bytes(raw[: len(raw) // 2])  # 12 KB into a capture of ~1.5 KB packets: inside a record
    meta = run_worker("pcap_meta", path)
    assert meta["packet_count"] == len(reference(path).frames)
    assert 0 < meta["packet_count"] < 40
    assert len(meta["warnings"]) == 1 and "truncated" in meta["warnings"][0]


def test_bytes_that_are_not_a_capture_fail_with_the_magic_numbers_named() -> None:
    with pytest.raises(WorkerFailed, match="not a pcap or pcapng capture"):
        run_worker("pcap_meta", b"GIF89a not a capture", type_tag="pcap")
