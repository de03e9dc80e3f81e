"""Issue 3: every worker against every file in ../shared/data (wrong types included) through a real server.

Each pair returns an output or a clean per-worker error from a closed vocabulary; nothing hangs, the server and
its worker processes survive all of it.
"""

from __future__ import annotations

import time
from pathlib import Path

from document_samples import OFFICE_DATA, built_samples

from workbench.clients.client_helper import batch_results
from workbench.testing import REPO_ROOT, require_data

CLEAN_ERRORS = {"not_applicable", "raised", "bad_output", "timed_out", "crashed"}
# Issue 15: the samples shipped in tests/data (ELF, Mach-O...; not their README/LICENSE texts) and two of the
# operating system's own ELFs.
EXTRA_FILES = [p for p in (REPO_ROOT / "tests" / "data").rglob("*") if p.is_file() and p.suffix not in (".md", ".txt")]
EXTRA_FILES += [p for p in (Path("/bin/ls"), Path("/lib/x86_64-linux-gnu/libz.so.1")) if p.exists()]


def test_every_worker_on_every_sample_gives_output_or_clean_error(server) -> None:
    files = sorted(p for p in require_data().rglob("*") if p.is_file()) + sorted(EXTRA_FILES)
    client = server.client(timeout=300)
    md5s = [client.store_sample(path.read_bytes(), path.name, "") for path in files]
    names = {path.name: md5 for path, md5 in zip(files, md5s, strict=True)}
    # issue 15: Office, RTF and e-mail samples (oletools' test documents and those built by the tests)
    documents = [(p.name, p.read_bytes()) for p in sorted(OFFICE_DATA.glob("*")) if p.suffix != ".md"]
    md5s += [client.store_sample(raw, name, "") for name, raw in documents + sorted(built_samples().items())]
    workers = [w["name"] for w in client.list_all_workers() if w["status"] == "ok"]
    assert len(workers) >= 10
    started = time.monotonic()
    outcomes: dict[str, dict[str, int]] = {}
    for worker in workers:
        counts = outcomes.setdefault(worker, {"ok": 0})
        seen = set()
        for result in batch_results(client, worker, md5_list=sorted(set(md5s))):
            seen.add(result["md5"])
            if result.get("error") is None:
                assert isinstance(result[worker], dict)
                counts["ok"] += 1
            else:
                kind = result["error"]["kind"]
                assert kind in CLEAN_ERRORS, result
                assert worker in result["error"]["message"], result
                counts[kind] = counts.get(kind, 0) + 1
        assert seen == set(md5s), f"{worker}: a result is missing from the stream"
    elapsed = time.monotonic() - started
    print(f"\ncross product: {len(workers)} workers x {len(set(md5s))} samples in {elapsed:.1f} s")
    for worker, counts in sorted(outcomes.items()):
        print(f"  {worker:<20} {counts}")
    assert not any(c.get("timed_out") or c.get("crashed") for c in outcomes.values()), outcomes
    for generic in ("meta", "strings", "view"):
        assert outcomes[generic]["ok"] == len(set(md5s)), f"{generic} must handle every file: {outcomes[generic]}"
    info = client.info()
    assert info["procs_alive"] == info["procs"]
    assert client.work_request("meta", names[files[0].name])["meta"]["length"] == files[0].stat().st_size
