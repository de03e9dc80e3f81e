"""Issue 15: hostile ELF, Mach-O, .NET and Authenticode inputs through a real server fail cleanly.

Real seeds (an i386 and an x86-64 ELF, a thin and a fat Mach-O, a signed native PE, a signed .NET PE) are cut
short, bit-flipped at random (seeded, so a failure reproduces) and doctored where their parsers are most
exposed: header counts and table offsets, Mach-O load command sizes and fat slice offsets, the PKCS#7 blob and
length of an Authenticode certificate table, the .NET metadata root. Every request to the new workers answers
with an output or a WorkerFailed-family error naming the worker, within the client timeout; the server and its
worker processes stay up. A doctored signature gives pe_authenticode an output whose verdict says so
(PARSE_ERROR, INVALID_DIGEST...), not an error. Counts are printed (run with -s).
"""

from __future__ import annotations

import random
import struct
import time
from collections import Counter
from pathlib import Path

import pefile
import pytest
import zerorpc
from conftest import start_server

from workbench.testing import REPO_ROOT, require_data

WORKERS = ("elf", "view_elf", "macho", "view_macho", "pe_authenticode", "pe_indicators", "pe_dotnet", "view")
CLEAN_ERRORS = {"WorkerFailed", "WorkerNotApplicable", "BadOutput", "WorkerTimeout", "WorkerCrashed"}
RANDOM_MUTANTS = 12  # per seed, each of truncation and bit flips
SECURITY = pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_SECURITY"]


def put(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    """``data`` with ``value`` packed at ``offset``."""
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def elf_mutants(raw: bytes) -> list[tuple[str, bytes]]:
    """Doctored ELF header fields: huge or zero table counts and offsets, a bad string table index."""
    wide = raw[4] == 2
    shoff, phnum, shnum, shstrndx = (0x28, 0x38, 0x3C, 0x3E) if wide else (0x20, 0x2C, 0x30, 0x32)
    offset_fmt = "<Q" if wide else "<I"
    return [("elf_shnum_max", put(raw, shnum, "<H", 0xFFFF)), ("elf_phnum_max", put(raw, phnum, "<H", 0xFFFF)),
            ("elf_shoff_huge", put(raw, shoff, offset_fmt, 2 ** (63 if wide else 31))),
            ("elf_shstrndx_bad", put(raw, shstrndx, "<H", 0xFFFE)), ("elf_class_bad", put(raw, 4, "<B", 9)),
            ("elf_shoff_into_header", put(raw, shoff, offset_fmt, 8))]


def macho_mutants(raw: bytes) -> list[tuple[str, bytes]]:
    """Doctored Mach-O headers: huge ncmds/sizeofcmds, a zero cmdsize, fat slices pointing past the end."""
    if raw[:4] == b"\xca\xfe\xba\xbe":
        return [("fat_slice_offset_past_end", put(raw, 16, ">I", 0x7FFFFFF0)),
                ("fat_slice_size_huge", put(raw, 20, ">I", 0xFFFFFFFF)),
                ("fat_nfat_arch_30", put(raw, 4, ">I", 30)),
                ("fat_slices_overlap", put(raw, 36, ">I", struct.unpack_from(">I", raw, 16)[0]))]
    return [("macho_ncmds_max", put(raw, 16, "<I", 0xFFFFFFFF)),
            ("macho_sizeofcmds_max", put(raw, 20, "<I", 0xFFFFFFFF)),
            ("macho_cmdsize_zero", put(raw, 32 + 4, "<I", 0)),
            ("macho_cmdsize_huge", put(raw, 32 + 4, "<I", 0x7FFFFFFF))]


def signature_mutants(raw: bytes, rng: random.Random) -> list[tuple[str, bytes]]:
    """A doctored Authenticode certificate table: flipped PKCS#7 bytes, bad lengths, a directory past the end."""
    pe = pefile.PE(data=raw, fast_load=True)
    directory = pe.OPTIONAL_HEADER.DATA_DIRECTORY[SECURITY]
    start, size = directory.VirtualAddress, directory.Size
    entry = directory.get_file_offset() + 4
    mutants = [("cert_length_tiny", put(raw, start, "<I", 9)),
               ("cert_length_huge", put(raw, start, "<I", 0x7FFFFFFF)),
               ("cert_revision_bad", put(raw, start + 4, "<H", 0x0100)),
               ("cert_directory_past_end", put(raw, entry, "<I", 0x7FFFFFFF)),
               ("cert_blob_cut", raw[:start + size // 2])]
    for n in range(6):
        blob = bytearray(raw)
        for _ in range(1 + n * 3):
            blob[rng.randrange(start + 8, start + size)] ^= 1 << rng.randrange(8)
        mutants.append((f"cert_blob_flips_{n}", bytes(blob)))
    return mutants


def dotnet_mutants(raw: bytes, rng: random.Random) -> list[tuple[str, bytes]]:
    """A doctored .NET metadata root: stream count, version length and stream headers."""
    root = raw.index(b"BSJB")
    version_length = struct.unpack_from("<I", raw, root + 12)[0]
    streams = root + 16 + version_length + 2
    mutants = [("dotnet_stream_count_max", put(raw, streams, "<H", 0xFFFF)),
               ("dotnet_version_length_huge", put(raw, root + 12, "<I", 0x7FFFFFF0)),
               ("dotnet_stream_offset_huge", put(raw, streams + 2, "<I", 0x7FFFFFF0)),
               ("dotnet_root_cut", raw[:root + 40])]
    for n in range(6):
        data = bytearray(raw)
        for _ in range(1 + n * 4):
            data[rng.randrange(root, min(len(raw), root + 1024))] ^= 1 << rng.randrange(8)
        mutants.append((f"dotnet_metadata_flips_{n}", bytes(data)))
    return mutants


def random_mutants(raw: bytes, rng: random.Random) -> list[tuple[str, bytes]]:
    """Cuts at random lengths and 1-64 random bit flips."""
    mutants = [("truncated", raw[:rng.randrange(len(raw))]) for _ in range(RANDOM_MUTANTS)]
    for _ in range(RANDOM_MUTANTS):
        data = bytearray(raw)
        for _ in range(rng.randint(1, 64)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        mutants.append(("bit_flips", bytes(data)))
    return mutants


def seeds() -> list[tuple[str, str, bytes]]:
    """(name, type_tag, bytes) of the real files the mutants start from."""
    pe_good, data = require_data("pe/good"), REPO_ROOT / "tests" / "data"
    return [("elf_i386", "elf", (data / "elf/markupsafe-3.0.2-i686-speedups.so").read_bytes()),
            ("elf_x86_64", "elf", Path("/bin/ls").read_bytes()),
            ("macho_thin", "macho", (data / "macho/markupsafe-3.0.4-arm64-speedups.so").read_bytes()),
            ("macho_fat", "macho", (data / "macho/markupsafe-2.1.5-universal2-speedups.so").read_bytes()),
            ("pe_signed", "exe", (pe_good / "0dd74786d22edff0ce5b8e1b1e398618").read_bytes()),
            ("dotnet_signed", "exe", (pe_good / "dd79a6b15c2f28de98df4852aaf6b13b").read_bytes())]


@pytest.mark.slow
def test_hostile_binaries_get_an_output_or_a_clean_error_and_the_server_survives(tmp_path: Path) -> None:
    rng = random.Random(15)
    samples: list[tuple[str, str, bytes]] = []
    for name, type_tag, raw in seeds():
        mutants = random_mutants(raw, rng)
        mutants += elf_mutants(raw) if type_tag == "elf" else macho_mutants(raw) if type_tag == "macho" else []
        mutants += signature_mutants(raw, rng) if type_tag == "exe" else []
        mutants += dotnet_mutants(raw, rng) if name.startswith("dotnet") else []
        samples += [(f"{name}/{kind}", type_tag, data) for kind, data in mutants]
    server = start_server(tmp_path, procs=2, extra_env={"WORKBENCH_SERVER_WORKER_TIMEOUT": "20"})
    try:
        client = server.client(timeout=150)
        outcomes: Counter = Counter()
        unclean, causes, verdicts = [], Counter(), Counter()
        started = time.monotonic()
        for label, type_tag, data in samples:
            md5 = client.store_sample(data, label.replace("/", "_"), type_tag)
            for worker in WORKERS:
                try:
                    output = client.work_request(worker, md5)[worker]
                    outcome = "ok"
                    if worker == "pe_authenticode":
                        verdicts[output["verification"]] += 1
                except zerorpc.RemoteError as exc:
                    outcome = exc.name
                    if exc.name not in CLEAN_ERRORS or worker not in exc.msg:
                        unclean.append(f"{worker} on {label}: {exc.name}: {exc.msg[:300]}")
                    elif exc.name != "WorkerNotApplicable":
                        causes[(worker, exc.name, exc.msg.split("): ", 1)[-1][:60])] += 1
                outcomes[(worker, outcome)] += 1
        elapsed = time.monotonic() - started
        print(f"\nhostile binaries: {len(samples)} samples x {len(WORKERS)} workers in {elapsed:.1f} s")
        for (worker, outcome), count in sorted(outcomes.items()):
            print(f"  {worker:16} {outcome:20} {count}")
        for (worker, name, cause), count in causes.most_common(25):
            print(f"  cause {worker:16} {name:14} {count:4} {cause}")
        assert not unclean, "unclean errors:\n" + "\n".join(unclean)
        assert not any(o in ("WorkerTimeout", "WorkerCrashed") for _, o in outcomes), outcomes
        print(f"  pe_authenticode verdicts: {dict(verdicts)}")
        for worker in ("elf", "macho", "pe_dotnet"):
            assert outcomes[(worker, "ok")] > 0 and outcomes[(worker, "WorkerFailed")] > 0, (worker, outcomes)
        # A doctored signature is a finding, not a failure: it shows in the verdict (and in pe_indicators).
        assert {"PARSE_ERROR", "INVALID_DIGEST"} <= set(verdicts), verdicts  # every mutant changed the file
        info = client.info()
        assert server.proc.poll() is None and info["procs_alive"] == info["procs"] == 2
        assert client.work_request("meta", client.store_sample(b"still here", "s.txt", ""))["meta"]["length"] == 10
    finally:
        server.stop()
