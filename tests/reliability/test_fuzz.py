"""Issue 6, must-show 2: random bytes and mutated real samples go to every loaded worker through a real server.

No hang (every request answers within the client timeout), no server crash (same process, full pool, still
serving), and every failure a clean error of the WorkerFailed family. The counts tried are printed (run with -s)
and go in the issue's closing note. WORKBENCH_FUZZ_EXAMPLES raises the number of samples for a longer run.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import pytest
import zerorpc
from conftest import start_server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_support import fuzz_seeds

from workbench.server.intake.type_tagger import TYPE_TAGS

EXAMPLES = int(os.environ.get("WORKBENCH_FUZZ_EXAMPLES", "12"))  # per seed type, plus random
CLEAN_ERRORS = {"WorkerFailed", "WorkerNotApplicable", "BadOutput", "WorkerTimeout", "WorkerCrashed"}
CLIENT_TIMEOUT = 150  # above the longest worker timeout (unzip: 120 s), so a hang shows as TimeoutExpired


def bit_flips(data: bytes, bits: list[int]) -> bytes:
    """``data`` with each listed bit (0 .. 8 * len - 1) flipped."""
    mutated = bytearray(data)
    for bit in bits:
        mutated[bit // 8] ^= 1 << (bit % 8)
    return bytes(mutated)


def mutants(seeds: list[bytes], everything: list[bytes]) -> st.SearchStrategy[tuple[str, bytes]]:
    """(mutation, bytes): one of ``seeds`` bit-flipped, truncated, or spliced with any other seed."""
    flipped = st.sampled_from(seeds).flatmap(lambda data: st.lists(st.integers(0, 8 * len(data) - 1), min_size=1,
                                                                   max_size=64).map(
        lambda bits: ("bit_flips", bit_flips(data, bits))))
    truncated = st.sampled_from(seeds).flatmap(lambda data: st.integers(0, len(data) - 1).map(
        lambda cut: ("truncated", data[:cut])))
    spliced = st.tuples(st.sampled_from(seeds), st.sampled_from(everything), st.floats(0, 1), st.floats(0, 1)).map(
        lambda t: ("spliced", t[0][:int(t[2] * len(t[0]))] + t[1][int(t[3] * len(t[1])):]))
    return st.one_of(flipped, truncated, spliced)


def random_bytes() -> st.SearchStrategy[tuple[str, bytes]]:
    """(kind, bytes): random bytes up to 4 KiB, or nothing at all."""
    return st.one_of(st.binary(min_size=1, max_size=4096).map(lambda b: ("random", b)), st.just(("empty", b"")))


def _cause(message: str) -> str:
    """The exception class named in a WorkerFailed message ('... (pdf): ValueError: ...'), for grouping."""
    return message.split("): ", 1)[-1].split(":", 1)[0][:40]


@pytest.mark.slow
def test_hostile_samples_give_every_worker_a_clean_error_or_a_result(tmp_path: Path) -> None:
    seeds = fuzz_seeds()
    if not seeds:
        pytest.skip("no seed samples in ../shared/data")
    server = start_server(tmp_path, procs=2, extra_env={"WORKBENCH_SERVER_WORKER_TIMEOUT": "20"})
    try:
        client = server.client(timeout=CLIENT_TIMEOUT)
        workers = sorted(w["name"] for w in client.list_all_workers() if w["status"] == "ok")
        outcomes: Counter = Counter()
        by_worker: dict[str, Counter] = {w: Counter() for w in workers}
        kinds: Counter = Counter()
        unclean: list[str] = []
        failures: Counter = Counter()
        started = time.monotonic()

        def feed(kind: str, type_tag: str, data: bytes) -> None:
            kinds[kind] += 1
            md5 = client.store_sample(data, f"fuzz.{type_tag}", type_tag)
            for worker in workers:
                try:
                    client.work_request(worker, md5)
                    outcome = "ok"
                except zerorpc.RemoteError as exc:
                    outcome = exc.name
                    if exc.name not in CLEAN_ERRORS:
                        unclean.append(f"{worker} on {kind} {type_tag} {md5}: {exc.name}: {exc.msg[:300]}")
                    elif exc.name != "WorkerNotApplicable":
                        failures[(worker, exc.name, _cause(exc.msg))] += 1
                outcomes[outcome] += 1
                by_worker[worker][outcome] += 1

        everything = [data for group in seeds.values() for data in group]
        fuzz_settings = settings(max_examples=EXAMPLES, deadline=None, database=None,
                                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

        def fuzz_type(type_tag: str) -> None:
            @fuzz_settings
            @given(mutants(seeds[type_tag], everything))
            def one(sample: tuple[str, bytes]) -> None:
                feed(sample[0], type_tag, sample[1])

            one()

        @fuzz_settings
        @given(random_bytes(), st.sampled_from(TYPE_TAGS))
        def random_one(sample: tuple[str, bytes], type_tag: str) -> None:
            feed(sample[0], type_tag, sample[1])

        for type_tag in sorted(seeds):  # every type gets its share (hypothesis alone favours the first choices)
            fuzz_type(type_tag)
        random_one()
        info = client.info()
        elapsed = time.monotonic() - started
        requests = sum(v for k, v in outcomes.items() if k != "store_refused")
        print(f"\nfuzz: {sum(kinds.values())} samples ({dict(kinds)}) x {len(workers)} workers = {requests} "
              f"work requests in {elapsed:.1f} s; outcomes {dict(outcomes)}")
        for worker, counts in sorted(by_worker.items()):
            causes = {f"{name}/{cause}": n for (w, name, cause), n in sorted(failures.items()) if w == worker}
            print(f"fuzz:   {worker:16} {dict(counts)} {causes or ''}")
        assert not unclean, "unclean errors:\n" + "\n".join(unclean)
        assert server.proc.poll() is None, "the server process died"
        assert info["procs_alive"] == info["procs"] == 2
        assert client.work_request("meta", client.store_sample(b"still here", "s.txt", ""))["meta"]["length"] == 10
    finally:
        server.stop()
