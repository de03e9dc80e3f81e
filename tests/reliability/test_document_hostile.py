"""Issue 15, must-show 3: truncated and mutated Office, RTF and e-mail samples fail the request cleanly.

Each seed (oletools' test documents, samples built by the tests) is cut at several lengths and bit-flipped
with fixed seeds, stored under its own type_tag so the new parsers really run, and sent to every new worker
through a real server: each request gives an output or a WorkerFailed-family error naming the worker (never a
timeout, a crashed process or an unclean exception), and the server keeps its pool. Counts print with -s.
"""

from __future__ import annotations

import random
from collections import Counter

import zerorpc
from reliability_support import DOCUMENT_SEEDS, fuzz_seeds

DOCUMENT_WORKERS = {
    "doc": ("office_meta", "office_vba", "office_objects", "view_office", "view"),
    "ooxml": ("office_meta", "office_vba", "office_objects", "view_office", "view"),
    "rtf": ("rtf_objects", "view_rtf", "view"),
    "email": ("email_meta", "view_email", "view"),
}
CLEAN = {"WorkerFailed", "WorkerNotApplicable", "BadOutput"}  # no WorkerTimeout, no WorkerCrashed


def mutants(data: bytes, rng: random.Random) -> list[tuple[str, bytes]]:
    """Truncations at 1%, 10%, 50%, 90% and 99.9%, 64 random bit flips (three times), the header alone."""
    cuts = [("truncated", data[:max(1, int(len(data) * f))]) for f in (0.01, 0.1, 0.5, 0.9, 0.999)]
    flips = []
    for _ in range(3):
        mutated = bytearray(data)
        for bit in rng.sample(range(8 * len(data)), 64):
            mutated[bit // 8] ^= 1 << (bit % 8)
        flips.append(("bit_flips", bytes(mutated)))
    return [*cuts, *flips, ("header_only", data[:512])]


def test_mutated_documents_and_mails_fail_cleanly_through_a_real_server(server) -> None:
    seeds = {tag: data for tag, data in fuzz_seeds().items() if tag in DOCUMENT_SEEDS}
    client = server.client(timeout=200)
    rng = random.Random(15)
    outcomes: Counter = Counter()
    unclean, messages = [], Counter()
    for type_tag, group in sorted(seeds.items()):
        for seed in group:
            for kind, data in mutants(seed, rng):
                md5 = client.store_sample(data, f"hostile.{type_tag}", type_tag)
                for worker in DOCUMENT_WORKERS[type_tag]:
                    try:
                        client.work_request(worker, md5)
                        outcomes[(worker, "ok")] += 1
                    except zerorpc.RemoteError as exc:
                        outcomes[(worker, exc.name)] += 1
                        if exc.name not in CLEAN or worker not in exc.msg:
                            unclean.append(f"{worker} on {kind} {type_tag} {md5}: {exc.name}: {exc.msg[:300]}")
                        messages[f"{worker}: {exc.msg.split('): ', 1)[-1][:150]}"] += 1
    print(f"\ndocument mutants: {sum(outcomes.values())} requests; {dict(sorted(outcomes.items()))}")
    for message, count in messages.most_common(40):
        print(f"  {count:4} x {message}")
    assert not unclean, "unclean failures:\n" + "\n".join(unclean)
    assert sum(n for (_, outcome), n in outcomes.items() if outcome == "WorkerFailed") > 0, "no mutant failed"
    assert sum(n for (_, outcome), n in outcomes.items() if outcome == "ok") > 0
    info = client.info()
    assert server.proc.poll() is None and info["procs_alive"] == info["procs"]
