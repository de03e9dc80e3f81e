"""Executable-format workers (issue 15) against their bare libraries, per file, in one process.

For each worker the time of ``execute`` (dependencies computed beforehand) is printed beside the bare library
call it wraps, measured side by side in the same run: lief's parse (elf, macho), dnfile's parse (pe_dotnet),
signify's full verification (pe_authenticode). Also what pe_authenticode adds to pe_indicators: pe_features
alone vs pe_features + pe_authenticode on signed and unsigned PEs.

    python3 bench/bench_binaries.py [--reps 3]
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dnfile
import lief
from harness import machine_line, median, pe_files, print_rows

from workbench.analysis.authenticode import SignedPEFile
from workbench.testing import REPO_ROOT
from workbench.workers.elf import ELF
from workbench.workers.macho import MachO
from workbench.workers.pe_authenticode import PEAuthenticode
from workbench.workers.pe_dotnet import PEDotNet
from workbench.workers.pe_features import PEFeatures

ELFS = [Path(p) for p in ("/bin/ls", "/usr/bin/python3.11", "/lib/x86_64-linux-gnu/libc.so.6",
                          "/lib/x86_64-linux-gnu/libz.so.1") if Path(p).exists()]
MACHOS = sorted((REPO_ROOT / "tests" / "data" / "macho").glob("*.so"))


def per_file_ms(fn: Callable[[bytes], Any], files: list[bytes], reps: int) -> float:
    """Median over ``reps`` rounds of the mean milliseconds per file."""
    rounds = []
    for _ in range(reps):
        started = time.perf_counter()
        for raw in files:
            fn(raw)
        rounds.append((time.perf_counter() - started) / len(files) * 1000)
    return median(rounds)


def sample(raw: bytes) -> dict:
    return {"sample": {"raw_bytes": raw}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    print(machine_line())
    features = PEFeatures()
    pes = {p: p.read_bytes() for p in pe_files()}
    with_features = {p: {**sample(raw), "pe_features": features.execute(sample(raw))} for p, raw in pes.items()}
    signed = [p for p, d in with_features.items() if d["pe_features"]["dense_features"]["datadir_SECURITY_size"]]
    dotnet = [p for p, d in with_features.items() if d["pe_features"]["dense_features"]["is_dotnet"]]
    elfs = [p.read_bytes() for p in ELFS]
    machos = [p.read_bytes() for p in MACHOS]
    authenticode, net = PEAuthenticode(), PEDotNet()

    def verify(raw: bytes) -> None:
        try:
            SignedPEFile(io.BytesIO(raw)).verify()
        except Exception:  # noqa: BLE001 - a bad signature still costs its verification; only time counts here
            pass

    rows = []
    for name, worker_ms, bare_ms, count in (
        ("elf", per_file_ms(lambda r: ELF().execute(sample(r)), elfs, args.reps),
         per_file_ms(lief.ELF.parse, elfs, args.reps), len(elfs)),
        ("macho", per_file_ms(lambda r: MachO().execute(sample(r)), machos, args.reps),
         per_file_ms(lief.MachO.parse, machos, args.reps), len(machos)),
        ("pe_dotnet", per_file_ms(lambda p: net.execute(with_features[p]), dotnet, args.reps),
         per_file_ms(lambda p: dnfile.dnPE(data=pes[p]), dotnet, args.reps), len(dotnet)),
        ("pe_authenticode", per_file_ms(lambda p: authenticode.execute(with_features[p]), signed, args.reps),
         per_file_ms(lambda p: verify(pes[p]), signed, args.reps), len(signed)),
    ):
        rows.append((name, str(count), f"{worker_ms:.2f}", f"{bare_ms:.2f}", f"{worker_ms / bare_ms:.2f}"))
    print_rows("worker execute vs bare library, ms per file", [("worker", "files", "worker ms", "bare ms", "ratio"),
                                                              *rows])
    unsigned = [p for p in pes if p not in signed]
    chain_rows = []
    for label, group in (("signed", signed), ("unsigned", unsigned)):
        base = per_file_ms(lambda p: features.execute(sample(pes[p])), group, args.reps)
        extra = per_file_ms(lambda p: authenticode.execute(with_features[p]), group, args.reps)
        total = base + extra
        chain_rows.append((label, str(len(group)), f"{base:.2f}", f"{total:.2f}", f"{total / base:.2f}"))
    print_rows("pe_indicators' inputs: pe_features alone vs + pe_authenticode, ms per file",
               [("PEs", "files", "pe_features", "+ pe_authenticode", "ratio"), *chain_rows])


if __name__ == "__main__":
    main()
