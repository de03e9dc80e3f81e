"""Ingest speed: store_sample MB/s over the shared sample folders, and a 50 MB file uploaded in chunks.

Sample-folder files are read into memory first (no disk reads timed). Workbench: ``store_sample`` for every file
of the sample folders (the server hashes, guesses the type, writes the sample file and its sqlite row), and
``client_helper.upload_file`` for a 50 MB file of random bytes, from the page cache (read a part at a time while
8 MiB parts go through upload_start/upload_part/upload_finish, the next part on the wire while the server appends
and hashes the last on a native thread; the client's own hash, which pays only where the wire is slower than
hashing, is not started here: the first part's answer shows the loopback wire is as fast as hashing).
Baseline in the same run, rounds alternating: the same bytes sent to a bare zerorpc server that drops them. Each
round measures a phase and its baseline back to back; the median of those per-round ratios is printed beside the
ratio of the medians (the machine's speed drifts between rounds, and a pair sees the same machine).
The store is emptied (clear_db) before each Workbench round, so every store writes. CPU seconds of the server
process and of this client are printed per phase too: on a loaded machine they move much less than wall time.

    python3 bench/bench_ingest.py [--reps 3] [--big-mb 50]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

from harness import (
    DATA_DIR,
    CpuMeter,
    machine_line,
    median,
    print_rows,
    start_bare,
    start_workbench,
    temp_dir,
)

from workbench.clients.client_helper import CHUNK_BYTES, upload_file

FOLDERS = ("pe", "pdf", "pcap", "zip", "swf", "bro", "json", "log")


def sample_files() -> list[tuple[str, bytes]]:
    """(name, bytes) of every file in the shared sample folders (signatures excluded)."""
    files = []
    for folder in FOLDERS:
        for path in sorted((DATA_DIR / folder).rglob("*")):
            if path.is_file() and path.name != "README.md":
                files.append((path.name, path.read_bytes()))
    return files


def mb_per_s(nbytes: int, seconds: float) -> float:
    return nbytes / 2**20 / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--big-mb", type=int, default=50, help="size of the chunked upload in MB (default 50)")
    args = parser.parse_args()
    print(machine_line())
    folder = temp_dir()
    files = sample_files()
    total = sum(len(data) for _, data in files)
    big_path = folder / "big.bin"
    big_path.write_bytes(os.urandom(args.big_mb * 2**20))
    big = big_path.read_bytes()
    chunks = [big[i:i + CHUNK_BYTES] for i in range(0, len(big), CHUNK_BYTES)]
    print(f"{len(files)} files from {', '.join(FOLDERS)}: {total / 2**20:.1f} MB; "
          f"big file {len(big) / 2**20:.0f} MB in {len(chunks)} chunks of {CHUNK_BYTES // 2**20} MiB")

    workbench, bare = start_workbench(folder, 1), start_bare(folder)
    wb, raw = workbench.client(), bare.client()
    figures: dict[str, list[float]] = {"folders": [], "bare_folders": [], "big": [], "bare_big": []}
    cpu: dict[str, list[tuple[float, float]]] = {k: [] for k in figures}  # (server, client) CPU seconds

    def phase(name: str, server: Any, nbytes: int, work: Callable[[], Any]) -> Any:
        client_cpu = time.process_time()
        with CpuMeter({"server": [server.proc.pid]}) as meter:
            started = time.perf_counter()
            result = work()
            figures[name].append(mb_per_s(nbytes, time.perf_counter() - started))
        cpu[name].append((meter.used["server"], time.process_time() - client_cpu))
        return result

    for rep in range(args.reps):
        wb.clear_db()
        md5s = phase("folders", workbench, total, lambda: {wb.store_sample(data, name, "") for name, data in files})
        phase("bare_folders", bare, total, lambda: [raw.put(data, name) for name, data in files])
        big_md5 = phase("big", workbench, len(big), lambda: upload_file(wb, big_path))
        phase("bare_big", bare, len(big), lambda: [raw.put(c, f"big.part{i}") for i, c in enumerate(chunks)])
        info = wb.get_sample_info(big_md5)
        assert info["length"] == len(big) and wb.info()["samples"] == len(md5s) + 1, "parts left behind"
        print(f"round {rep + 1}: " + ", ".join(f"{k} {v[-1]:,.1f} MB/s" for k, v in figures.items()))

    med = {k: median(v) for k, v in figures.items()}
    paired = {k: median([a / b for a, b in zip(figures[k], figures[f"bare_{k}"], strict=True)])
              for k in ("folders", "big")}
    print_rows(f"medians of {args.reps} rounds ({os.cpu_count()} cores, server --procs 1)", [
        ("upload", "MB/s", "vs baseline", "median round ratio"),
        (f"store_sample, every sample-folder file ({len(files)} files)", f"{med['folders']:.1f}",
         f"{med['folders'] / med['bare_folders']:.2f}x", f"{paired['folders']:.2f}x"),
        ("  bare zerorpc put() of the same files", f"{med['bare_folders']:.1f}", "baseline", ""),
        (f"upload_file, {len(big) // 2**20} MB in {len(chunks)} parts (hashed by the server)", f"{med['big']:.1f}",
         f"{med['big'] / med['bare_big']:.2f}x", f"{paired['big']:.2f}x"),
        ("  bare zerorpc put() of the same chunks", f"{med['bare_big']:.1f}", "baseline", ""),
    ])
    print_rows("CPU seconds per phase, medians (server process / this client; bare = the baseline server)", [
        ("phase", "server CPU s", "client CPU s"),
        *[(name, f"{median([c[0] for c in cpu[name]]):.3f}", f"{median([c[1] for c in cpu[name]]):.3f}")
          for name in figures],
    ])
    print(f"RESULT folders={med['folders']:.1f} MB/s ({med['folders'] / med['bare_folders']:.2f}x bare, "
          f"{paired['folders']:.2f}x by round), big_file={med['big']:.1f} MB/s "
          f"({med['big'] / med['bare_big']:.2f}x bare, {paired['big']:.2f}x by round)")
    workbench.stop()
    bare.stop()


if __name__ == "__main__":
    main()
