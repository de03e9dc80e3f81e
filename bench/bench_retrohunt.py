"""YARA retrohunt throughput: ``retrohunt`` over RPC with --procs N against a single-process yara-python loop.

The samples are the shared data (../shared/data, signature files left out), each stored ``--copies`` times with
a distinct 8-byte tail (so distinct md5s, the same YARA work). The rules are the shared YARA files that compile
with this YARA plus a few written here. The baseline compiles the same rules once and matches every sample's
bytes, already in memory, in one loop in this process (a second baseline scans the same bytes as files, as a
yara-python user without a store would); the retrohunt is timed end to end at the client (rules
compiled by the server, samples read from its sqlite store by the worker processes, results streamed back).
Rounds alternate baseline and retrohunt so a noisy neighbour hits both alike; both must find the same matches.

Target (issue 10): throughput with --procs 2 >= 1.6 x the single-process loop.

    python3 bench/bench_retrohunt.py [--copies 10] [--rounds 3] [--procs 1,2]
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import yara
from harness import DATA_DIR, CpuMeter, machine_line, median, print_rows, start_workbench, temp_dir

from workbench.clients.client_helper import flatten
from workbench.server.data_store import open_store

WRITTEN = """
rule mz_header : pe { condition: uint16(0) == 0x5A4D }
rule dos_stub : pe { strings: $s = "This program cannot be run in DOS mode" condition: $s }
rule pdf_js : pdf { strings: $a = "/JavaScript" $b = "/OpenAction" condition: uint32(0) == 0x46445025 and any of them }
rule crl_microsoft { strings: $c = "crl.microsoft.com" nocase wide ascii condition: $c }
rule api_injection { strings: $a = "VirtualAllocEx" $b = "WriteProcessMemory" $c = "CreateRemoteThread"
                     condition: 2 of them }
"""


def rule_sources() -> dict[str, str]:
    sources = {"written": WRITTEN}
    for path in sorted((DATA_DIR / "signatures" / "yara").rglob("*.yar")):
        try:
            yara.compile(filepath=str(path))
        except yara.Error:
            continue
        sources[path.stem] = path.read_text(errors="replace")
    return sources


def samples(copies: int) -> list[tuple[bytes, str]]:
    originals = [p.read_bytes() for p in sorted(DATA_DIR.rglob("*"))
                 if p.is_file() and "signatures" not in p.parts and p.name != "README.md"]
    out = []
    for copy in range(copies):
        for data in originals:
            data = data + copy.to_bytes(8, "little")
            out.append((data, hashlib.md5(data).hexdigest()))
    return out


def baseline(rules: yara.Rules, data: list[tuple[bytes, str]] | list[Path]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, matching samples) of one loop over bytes in memory, or over files."""
    started, cpu = time.perf_counter(), time.process_time()
    if data and isinstance(data[0], Path):
        matched = sum(1 for path in data if rules.match(filepath=str(path)))
    else:
        matched = sum(1 for raw, _ in data if rules.match(data=raw))
    return time.perf_counter() - started, time.process_time() - cpu, matched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10, help="copies of each shared sample (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--procs", default="1,2", help="worker process counts to measure (default 1,2)")
    args = parser.parse_args()
    print(machine_line())
    sources = rule_sources()
    rules = yara.compile(sources=sources)
    data = samples(args.copies)
    megabytes = sum(len(raw) for raw, _ in data) / 1e6
    folder = temp_dir()
    uri = f"sqlite:///{folder}/workbench.db"
    store = open_store(uri)
    store.store_samples((raw, md5, f"s{i}", "data") for i, (raw, md5) in enumerate(data))
    store.close()
    print(f"{len(data):,} samples ({megabytes:,.0f} MB), {len(sources)} rule files")
    files = []
    for raw, md5 in data:  # the same bytes as files: what a yara-python user without a store would scan
        files.append(folder / f"{md5}.bin")
        files[-1].write_bytes(raw)
    servers = {int(n): start_workbench(folder, int(n), uri) for n in args.procs.split(",")}
    clients = {n: server.client(timeout=600) for n, server in servers.items()}
    times: dict[str, list[float]] = {"yara-python loop, 1 process": [], "yara-python loop over files": []}
    times.update({f"retrohunt --procs {n}": [] for n in servers})
    cpu: dict[str, list[float]] = {name: [] for name in times}
    for _ in range(args.rounds):
        seconds, used, expected = baseline(rules, data)
        times["yara-python loop, 1 process"].append(seconds)
        cpu["yara-python loop, 1 process"].append(used)
        seconds, used, on_disk = baseline(rules, files)
        times["yara-python loop over files"].append(seconds)
        cpu["yara-python loop over files"].append(used)
        assert on_disk == expected, "the loops over bytes and over files disagree"
        for n, client in clients.items():
            server = servers[n]
            with CpuMeter({"all": server.pids()}) as meter:
                started = time.perf_counter()
                records = list(flatten(client.retrohunt(sources, {"batch_size": 100})))
                times[f"retrohunt --procs {n}"].append(time.perf_counter() - started)
            cpu[f"retrohunt --procs {n}"].append(meter.used["all"])
            assert not [r for r in records if r.get("error")], "retrohunt reported errors"
            assert sum(1 for r in records if r["matches"]) == expected, "retrohunt and yara-python disagree"
    base = median(times["yara-python loop, 1 process"])
    base_cpu = median(cpu["yara-python loop, 1 process"])
    rows = [("run", "median s", "samples/s", "MB/s", "x loop", "per round s", "CPU s", "CPU / loop's")]
    for name, values in times.items():
        mid = median(values)
        rows.append((name, f"{mid:.2f}", f"{len(data) / mid:,.0f}", f"{megabytes / mid:,.1f}", f"{base / mid:.2f}",
                     " ".join(f"{v:.2f}" for v in values), f"{median(cpu[name]):.2f}",
                     f"{median(cpu[name]) / base_cpu:.2f}"))
    print_rows(f"{args.rounds} alternating rounds, {expected} matching samples each time (CPU s: the loop's own, or "
               "the server's front and worker processes together)", rows)
    print(f"{machine_line()} at the end. Under load from other sessions, Linux autogroup scheduling gives each "
          "session one share of the CPU however many processes it runs: the wall-clock ratio then says little "
          "and CPU / loop's is the figure that carries over.")
    if "retrohunt --procs 2" in times:
        ratio = base / median(times["retrohunt --procs 2"])
        files_ratio = median(times["yara-python loop over files"]) / median(times["retrohunt --procs 2"])
        print(f"RESULT retrohunt --procs 2 = {ratio:.2f} x the single-process yara-python loop over bytes in memory "
              f"(target >= 1.6) {'PASS' if ratio >= 1.6 else 'SHORT'}; {files_ratio:.2f} x the loop over files")
    for server in servers.values():
        server.stop()


if __name__ == "__main__":
    main()
