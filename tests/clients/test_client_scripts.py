"""Every client script in workbench/clients/ run as a person would, against a live server on real samples.

Each test parses what the script prints with --json and compares it with the store (the server's own answers)
and, where one exists, with a source independent of Workbench: hashlib, pefile, tshark, zipfile, ssdeep, the
file system.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pefile
import pytest
import ssdeep
import zerorpc
from clients_support import one_line_error, run_client, run_json
from conftest import RunningServer, start_server

from workbench.clients.client_helper import batch_results, upload_file
from workbench.testing import REPO_ROOT, require_data

SCRIPTS = sorted(p.stem for p in (REPO_ROOT / "workbench" / "clients").glob("*.py")
                 if p.stem not in {"__init__", "client_helper", "dataframes", "local_server", "workbench_cli",
                                   "cli_extras", "slabs"})
IMAGE_SCN_MEM_EXECUTE, IMAGE_SCN_MEM_WRITE = 0x20000000, 0x80000000


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server for the module; the upload tests at the top fill it for the others."""
    running = start_server(tmp_path_factory.mktemp("client_scripts"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def wb(server: RunningServer) -> zerorpc.Client:
    """A plain RPC client to ask the store what it holds."""
    return server.client(timeout=120)


@pytest.fixture(scope="module")
def data() -> Path:
    return require_data()


@pytest.fixture(scope="module")
def loaded(wb: zerorpc.Client, data: Path) -> None:
    """Every sample the tests read, stored and tagged as the upload tests store them (so any test runs alone)."""
    for label in ("good", "bad"):
        for path in sorted((data / "pe" / label).iterdir()):
            wb.add_tags(upload_file(wb, path), [label])
    for path in [data / "zip" / "good.zip", data / "zip" / "bad.zip", data / "log" / "system.log",
                 *sorted((data / "pcap").glob("*.pcap"))]:
        wb.add_tags(upload_file(wb, path), ["mixed"])


def test_every_client_script_is_exercised_in_this_file() -> None:
    source = Path(__file__).read_text()
    missing = [name for name in SCRIPTS if f'"{name}"' not in source]
    assert not missing, f"client scripts without a test here: {missing}"
    assert len(SCRIPTS) >= 15


def test_upload_dir_stores_every_file_with_its_md5_and_tag(server: RunningServer, wb: zerorpc.Client,
                                                           data: Path) -> None:
    for label in ("good", "bad"):
        folder = data / "pe" / label
        rows = run_json("upload_dir", server.port, folder, "--tag", label)
        files = sorted(p for p in folder.iterdir() if p.is_file())
        assert sorted(r["path"] for r in rows) == [str(p) for p in files]
        for row in rows:
            assert row["md5"] == md5_of(Path(row["path"]))
            assert wb.has_sample(row["md5"]) and label in wb.get_tags(row["md5"])
    assert wb.get_all_tags() == {"good": 43, "bad": 41}


def test_upload_file_reports_what_the_store_holds(server: RunningServer, wb: zerorpc.Client, data: Path) -> None:
    paths = [data / "zip" / "good.zip", data / "zip" / "bad.zip", data / "log" / "system.log",
             *sorted((data / "pcap").glob("*.pcap"))]
    rows = run_json("upload_file", server.port, *paths, "--tag", "mixed")
    assert [r["path"] for r in rows] == [str(p) for p in paths]
    for row, path in zip(rows, paths, strict=True):
        info = wb.get_sample_info(row["md5"])
        assert row["md5"] == md5_of(path)
        assert row["length"] == info["length"] == path.stat().st_size
        assert row["type_tag"] == info["type_tag"] == {".zip": "zip", ".log": "log", ".pcap": "pcap"}[path.suffix]
        assert row["tags"] == ["mixed"] == info["tags"]


def test_upload_file_chunks_stores_a_50_mb_file_with_the_local_md5(server: RunningServer, wb: zerorpc.Client,
                                                                   tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(random.Random(50).randbytes(50 * 2**20))
    local_md5 = md5_of(big)
    before = wb.info()["samples"]
    row = run_json("upload_file_chunks", server.port, big, "--chunk-mb", "8")
    assert row["md5"] == row["local_md5"] == local_md5 and row["match"] is True
    assert row["chunks"] == 7 and row["length"] == 50 * 2**20 and row["already_stored"] is False
    sample = wb.get_sample(local_md5)["sample"]
    assert hashlib.md5(sample["raw_bytes"]).hexdigest() == local_md5 and sample["filename"] == "big.bin"
    assert wb.info()["samples"] == before + 1  # the chunks were dropped once joined
    again = run_json("upload_file_chunks", server.port, big)
    assert again["already_stored"] is True and again["chunks"] == 0 and again["md5"] == local_md5
    wb.remove_sample(local_md5)


@pytest.mark.usefixtures("loaded")
def test_pe_peid_over_stored_exes_matches_the_store_and_pefile(server: RunningServer, wb: zerorpc.Client) -> None:
    rows = run_json("pe_peid", server.port)
    stored = wb.get_sample_set(wb.generate_sample_set(None, "exe"))
    assert sorted(r["md5"] for r in rows) == sorted(stored)
    matched = 0
    for row in rows:
        assert row["pe_peid"] == wb.work_request("pe_peid", row["md5"])["pe_peid"]
        raw = wb.get_sample(row["md5"])["sample"]["raw_bytes"]
        entry = pefile.PE(data=raw, fast_load=True).OPTIONAL_HEADER.AddressOfEntryPoint
        assert row["pe_peid"]["entry_point_rva"] == entry
        matched += bool(row["pe_peid"]["match_list"])
    assert matched > 10  # PEiD knows the compilers of many of these samples


@pytest.mark.usefixtures("loaded")
def test_pe_indicators_flags_exactly_the_sections_pefile_sees_writable_and_executable(
        server: RunningServer, wb: zerorpc.Client, data: Path) -> None:
    folder = data / "pe" / "bad"
    rows = run_json("pe_indicators", server.port, folder)
    assert sorted(r["md5"] for r in rows) == sorted(md5_of(p) for p in folder.iterdir())
    for row in rows:
        output = row["pe_indicators"]
        assert output == wb.work_request("pe_indicators", row["md5"])["pe_indicators"]
        pe = pefile.PE(str(folder / row["filename"]), fast_load=True)
        wx = sum(1 for s in pe.sections  # names may be binary junk in malware: count, don't compare text
                 if s.Characteristics & IMAGE_SCN_MEM_WRITE and s.Characteristics & IMAGE_SCN_MEM_EXECUTE)
        flagged = [len(i["attributes"]["names"]) for i in output["indicators"]
                   if i["description"] == "writable and executable sections"]
        assert flagged == ([wx] if wx else [])
        assert output["max_severity"] == max((i["severity"] for i in output["indicators"]), default=0)
    table = run_client("pe_indicators", server.port, "-v")
    assert table.returncode == 0 and table.stdout.startswith("md5") and "writable and executable" in table.stdout


def tshark_lines(path: Path, *args: str) -> list[str]:
    done = subprocess.run(["tshark", "-r", str(path), *args], capture_output=True, text=True, timeout=60, check=True)
    return [line for line in done.stdout.splitlines() if line.strip()]


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed (install.sh installs it)")
@pytest.mark.usefixtures("loaded")
def test_pcap_meta_counts_the_packets_tshark_counts(server: RunningServer, wb: zerorpc.Client, data: Path) -> None:
    rows = run_json("pcap_meta", server.port)
    assert sorted(r["filename"] for r in rows) == sorted(p.name for p in (data / "pcap").glob("*.pcap"))
    for row in rows:
        assert row["pcap_meta"] == wb.work_request("pcap_meta", row["md5"])["pcap_meta"]
        frames = tshark_lines(data / "pcap" / row["filename"], "-T", "fields", "-e", "frame.number")
        assert row["pcap_meta"]["packet_count"] == len(frames)
    table = run_client("pcap_meta", server.port)
    assert table.returncode == 0 and "kitchen_boss.pcap" in table.stdout and "packets" in table.stdout


@pytest.mark.usefixtures("loaded")
def test_pcap_report_prints_each_captures_view(server: RunningServer, wb: zerorpc.Client) -> None:
    reports = run_json("pcap_report", server.port)
    for report in reports:
        assert report["view_pcap"] == wb.work_request("view_pcap", report["md5"])["view_pcap"]
    text = run_client("pcap_report", server.port)
    assert text.returncode == 0, text.stderr
    for report in reports:
        view = report["view_pcap"]
        assert f"== {report['filename']}: {view['packet_count']} packets, {view['bytes']} bytes" in text.stdout
    assert "Busiest hosts" in text.stdout and "www.kitchenboss.com.au" in text.stdout


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed (install.sh installs it)")
@pytest.mark.usefixtures("loaded")
def test_pcap_http_lists_the_requests_tshark_sees(server: RunningServer, wb: zerorpc.Client, data: Path) -> None:
    path = data / "pcap" / "http.pcap"
    (result,) = run_json("pcap_http", server.port, path)
    assert result["pcap_http"] == wb.work_request("pcap_http", md5_of(path))["pcap_http"]
    seen = {tuple(line.split("\t")) for line in tshark_lines(path, "-Y", "http.request", "-T", "fields",
                                                              "-e", "http.host", "-e", "http.request.uri")}
    assert {(r["host"], r["uri"]) for r in result["pcap_http"]["requests"]} == seen
    for carried in result["pcap_http"]["files"]:
        assert carried["md5"] in wb.get_children(result["md5"])
    text = run_client("pcap_http", server.port, path)
    assert text.returncode == 0 and "/images/layout/logo.png" in text.stdout


@pytest.mark.usefixtures("loaded")
def test_customer_report_sums_each_tag_like_the_file_system(server: RunningServer, wb: zerorpc.Client,
                                                            data: Path) -> None:
    report = run_json("customer_report", server.port)
    assert set(report) == {*wb.get_all_tags(), "(all samples)"}
    for tag in ("good", "bad"):
        files = list((data / "pe" / tag).iterdir())
        assert report[tag]["samples"] == wb.get_all_tags()[tag] == len(files)
        assert report[tag]["bytes"] == sum(p.stat().st_size for p in files)
        assert report[tag]["type_tags"] == {"exe": len(files)}
    assert report["(all samples)"]["samples"] == wb.info()["samples"]
    assert run_client("customer_report", server.port).stdout.startswith("tag")


@pytest.mark.usefixtures("loaded")
def test_short_md5s_resolves_unique_prefixes_and_names_the_others(server: RunningServer, wb: zerorpc.Client) -> None:
    md5s = sorted(wb.get_sample_set(wb.generate_sample_set(None, None)))
    target = md5s[len(md5s) // 2]
    unique = next(target[:n] for n in range(1, 33) if sum(m.startswith(target[:n]) for m in md5s) == 1)
    shared = next(p for p in "0123456789abcdef" if sum(m.startswith(p) for m in md5s) >= 2)
    absent = next(p for p in (f"{i:04x}" for i in range(65536)) if not any(m.startswith(p) for m in md5s))
    done = run_client("short_md5s", server.port, unique, shared, absent, "xyz", "--json")
    assert done.returncode == 1  # not every prefix names one sample
    rows = {r["prefix"]: r for r in json.loads(done.stdout)}
    assert rows[unique]["status"] == "unique" and rows[unique]["md5"] == target
    assert rows[unique]["filename"] == wb.get_sample_info(target)["filename"]
    assert rows[shared]["status"] == "ambiguous"
    assert rows[shared]["candidates"] == [m for m in md5s if m.startswith(shared)][:10]
    assert rows[absent]["status"] == "unknown" and rows["xyz"]["status"] == "invalid"
    assert run_client("short_md5s", server.port, unique).returncode == 0


@pytest.mark.usefixtures("loaded")
def test_log_meta_stream_streams_the_first_lines_of_the_log(server: RunningServer, wb: zerorpc.Client,
                                                            data: Path) -> None:
    path = data / "log" / "system.log"
    (report,) = run_json("log_meta_stream", server.port, path, "--rows", "5")
    lines = path.read_text().splitlines()
    assert report["rows"] == lines[:5]
    assert report["log_meta"] == wb.work_request("log_meta", md5_of(path))["log_meta"]
    assert report["log_meta"]["line_count"] == len(lines)
    text = run_client("log_meta_stream", server.port, "--rows", "2")
    assert text.returncode == 0 and f"{len(lines)} lines" in text.stdout and lines[1] in text.stdout


@pytest.mark.usefixtures("loaded")
def test_zip_file_extraction_lists_the_members_zipfile_sees(server: RunningServer, wb: zerorpc.Client,
                                                            data: Path) -> None:
    archives = run_json("zip_file_extraction", server.port)
    assert sorted(a["filename"] for a in archives) == ["bad.zip", "good.zip"]
    for archive in archives:
        with zipfile.ZipFile(data / "zip" / archive["filename"]) as handle:
            members = {hashlib.md5(handle.read(i)).hexdigest(): i.file_size for i in handle.infolist()
                       if not i.is_dir()}
        assert {m["md5"]: m["size"] for m in archive["members"]} == members
        assert sorted(archive["children"]) == sorted(members) == sorted(wb.get_children(archive["md5"]))
        for member in archive["members"]:
            assert member["type_tag"] == wb.get_sample_info(member["md5"])["type_tag"] == "exe"


@pytest.mark.usefixtures("loaded")
def test_pe_sim_graph_draws_the_pairs_ssdeep_scores(server: RunningServer, wb: zerorpc.Client,
                                                    tmp_path: Path) -> None:
    image = tmp_path / "graph.png"
    graph = run_json("pe_sim_graph", server.port, "--out", image)
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert graph["samples"] == len(wb.get_sample_set(wb.generate_sample_set(None, "exe")))
    assert len(graph["edges"]) >= 5  # the sample set holds several families of near-identical files
    hashes: dict[str, str] = {}
    for edge in graph["edges"]:
        for md5 in (edge["a"], edge["b"]):
            hashes.setdefault(md5, ssdeep.hash(wb.get_sample(md5)["sample"]["raw_bytes"]))
        assert edge["score"] == ssdeep.compare(hashes[edge["a"]], hashes[edge["b"]]) >= 25
    assert sorted(graph["nodes"]) == sorted(hashes)


def test_help_client_prints_the_servers_help(server: RunningServer, wb: zerorpc.Client) -> None:
    everything = run_json("help_client", server.port)
    assert sorted(w["name"] for w in everything["workers"]) == sorted(w["name"] for w in wb.list_all_workers())
    assert "pe_features" in everything["help"]
    text = run_client("help_client", server.port, "meta")
    assert text.returncode == 0 and text.stdout.strip() == wb.help("meta").strip()


@pytest.mark.usefixtures("loaded")
def test_stress_test_makes_exactly_the_bounded_number_of_requests(server: RunningServer,
                                                                   wb: zerorpc.Client) -> None:
    before = wb.info()["counters"]
    report = run_json("stress_test", server.port, "--clients", "3", "--requests", "20", "--seconds", "60")
    after = wb.info()["counters"]
    assert (report["requests"], report["ok"], report["errors"]) == (60, 60, {})
    served = sum(after.get(k, 0) - before.get(k, 0) for k in ("cache_hits", "chains_run"))
    assert served >= 60  # every request reached the server (plus the info() calls' own nothing)
    assert 0 < report["p50_ms"] <= report["p95_ms"] <= report["max_ms"]
    refused = run_client("stress_test", server.port, "-s", "192.0.2.1")
    assert refused.returncode == 2 and "not a loopback address" in refused.stderr


def test_a_client_given_a_missing_path_says_so_in_one_line(server: RunningServer, tmp_path: Path) -> None:
    done = run_client("pe_peid", server.port, tmp_path / "no_such_folder")
    assert done.returncode == 2
    assert re.search(r"no_such_folder is neither a file nor a folder", one_line_error(done))


@pytest.mark.usefixtures("loaded")
def test_batch_results_helper_streams_lists_as_single_results(wb: zerorpc.Client) -> None:
    md5s = wb.get_sample_set(wb.generate_sample_set(["bad"], None))
    results = list(batch_results(wb, "meta", batch_size=7, md5_list=md5s, subkeys=["meta.length"]))
    assert sorted(r["md5"] for r in results) == sorted(md5s) and all(r["meta"]["length"] > 0 for r in results)
