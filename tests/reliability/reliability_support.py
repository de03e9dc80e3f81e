"""Helpers shared by the reliability tests: fixture workers, /proc readings, waiting, fuzz seeds."""

from __future__ import annotations

import os
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import gevent
from document_samples import OFFICE_DATA, built_samples

from workbench.testing import DATA_DIR

# Small real samples to mutate (benign ones only: pe/bad, pdf/bad and zip/bad.zip are never used here),
# with the type_tag each is stored under so the workers for that type really parse the mutants.
FUZZ_SEEDS: dict[str, tuple[str, ...]] = {
    "exe": ("pe/good/abdfc692d9fe43e2ba8fe6cb5a8cb95a", "pe/good/ee7c82b0d69f038245cecbce9ec45a9a",
            "pe/good/12fd4ef8f2cbbf98e0a5ced88258ddf3"),
    "pdf": ("pdf/good/3b48469a80749ca4cd35e5569a28b110", "pdf/good/ec79923155af9a21f57b76d3d6f15dc5"),
    "pcap": ("pcap/http.pcap",),
    "zip": ("zip/good.zip",),
    "swf": ("swf/unknown.swf",),
    "bro": ("bro/dhcp.log", "bro/weird.log", "bro/ssl.log"),
    "json": ("json/generated.json",),
    "log": ("log/system.log",),
}
# issue 15: Office, RTF and e-mail seeds (oletools' test documents and samples the tests build)
DOCUMENT_SEEDS: dict[str, tuple[str, ...]] = {
    "doc": ("embedded-simple-2007.doc", "autostart-encrypt-standardpassword.xls", "built-default-password.docm"),
    "ooxml": ("built-macro.docm", "embedded-simple-2007.docx"),
    "rtf": ("built-objects.rtf",),
    "email": ("built-attachments.eml", "built-outlook.msg"),
}
SEED_PREFIX_BYTES = 64 * 1024  # long text seeds are cut here (a truncation is a mutation anyway)


def write_worker(folder: Path, name: str, source: str) -> Path:
    """A worker file in a plugin folder."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(source).lstrip())
    return path


def failing_worker(class_name: str, body: str, imports: str = "", timeout: float | None = 1) -> str:
    """Source of a fixture worker whose execute() runs ``body`` (a few statements)."""
    attribute = f"    timeout = {timeout}\n" if timeout is not None else ""
    indented = textwrap.indent(textwrap.dedent(body).strip(), " " * 8)
    return (f"{imports}\n\nclass {class_name}:\n    \"\"\"Reliability fixture: misbehaves on purpose.\"\"\"\n\n"
            f"    dependencies = [\"sample\"]\n{attribute}\n    def execute(self, input_data):\n{indented}\n"
            "        return {\"done\": True}\n")


def proc_status(pid: int) -> dict[str, str]:
    """/proc/PID/status as a dict ({} if the process is gone)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


def memory_mib(pid: int) -> dict[str, float]:
    """Resident memory now (VmRSS) and at its peak (VmHWM), in MiB."""
    status = proc_status(pid)
    return {key: int(status[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM")}


def children_of(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (the server's pool processes)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and proc_status(int(entry)).get("PPid") == str(pid):
            found.append(int(entry))
    return found


def is_running(pid: int) -> bool:
    """True unless the process is gone or a zombie waiting to be reaped."""
    state = proc_status(pid).get("State", "")
    return bool(state) and not state.startswith(("Z", "X"))


def wait_until(condition: Callable[[], object], seconds: float, what: str) -> None:
    """Poll ``condition`` every 50 ms (letting client greenlets run); fail naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds:g} s")
        gevent.sleep(0.05)


def fuzz_seeds() -> dict[str, list[bytes]]:
    """The seed files' bytes by type_tag (missing files skipped)."""
    seeds: dict[str, list[bytes]] = {}
    for type_tag, paths in FUZZ_SEEDS.items():
        for relative in paths:
            path = DATA_DIR / relative
            if path.is_file():
                data = path.read_bytes()
                seeds.setdefault(type_tag, []).append(data[:SEED_PREFIX_BYTES] if type_tag in
                                                      ("json", "log", "bro") else data)
    for type_tag, names in DOCUMENT_SEEDS.items():
        for name in names:
            shipped = OFFICE_DATA / name
            seeds.setdefault(type_tag, []).append(shipped.read_bytes() if shipped.is_file() else built_samples()[name])
    return seeds

