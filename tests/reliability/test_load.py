"""Issue 6, must-show 3: 16 clients x 200 mixed operations at once against one server (loopback): no error, and
every result checked against the sample it is about (md5, length, a per-sample marker string, tags)."""

from __future__ import annotations

import hashlib
import random
import time
from collections import Counter
from pathlib import Path

import gevent
import pytest
import zerorpc
from conftest import RunningServer

from workbench.clients.client_helper import batch_results
from workbench.testing import require_data

CLIENTS = 16
OPERATIONS = 200
OPERATION_WEIGHTS = {"upload": 30, "work": 35, "batch": 10, "tags": 25}


class LoadClient:
    """One client: its own connection, its own samples, and what each of them must look like."""

    def __init__(self, server: RunningServer, number: int, shared: list[bytes]) -> None:
        self.number = number
        self.client: zerorpc.Client = server.client(timeout=120)
        self.random = random.Random(number)
        self.shared = shared
        self.samples: dict[str, bytes] = {}
        self.markers: dict[str, str] = {}
        self.done: Counter = Counter()

    def run(self) -> None:
        """200 operations, the first an upload; any wrong or mixed-up answer raises AssertionError."""
        operations = ["upload"] + self.random.choices(list(OPERATION_WEIGHTS), list(OPERATION_WEIGHTS.values()),
                                                      k=OPERATIONS - 1)
        for step, operation in enumerate(operations):
            getattr(self, operation)(step)
            self.done[operation] += 1

    def upload(self, step: int) -> None:
        if self.random.random() < 0.2:  # a real PE that other clients upload too: stored once, same md5 for all
            data, marker = self.random.choice(self.shared), None
        else:
            marker = f"marker-client{self.number:02d}-step{step:03d}-{self.random.getrandbits(48):012x}"
            data = marker.encode() + b"\n" + self.random.randbytes(self.random.randint(16, 4096))
        md5 = self.client.store_sample(data, f"c{self.number}-{step}.bin", "")
        assert md5 == hashlib.md5(data).hexdigest()
        self.samples[md5] = data
        if marker:
            self.markers[md5] = marker

    def _pick(self) -> str:
        return self.random.choice(list(self.samples))

    def work(self, step: int) -> None:
        md5 = self._pick()
        if md5 in self.markers and self.random.random() < 0.5:
            strings = self.client.work_request("strings", md5)
            assert strings["md5"] == md5
            assert self.markers[md5] in strings["strings"]["string_list"], f"strings of another sample for {md5}"
            return
        result = self.client.work_request("meta", md5)
        self._check_meta(md5, result)

    def _check_meta(self, md5: str, result: dict) -> None:
        assert result["md5"] == md5
        assert result["meta"]["md5"] == md5, f"meta of {result['meta']['md5']} returned for {md5}"
        assert result["meta"]["length"] == len(self.samples[md5])
        assert result["meta"]["sha256"] == hashlib.sha256(self.samples[md5]).hexdigest()

    def batch(self, step: int) -> None:
        chosen = self.random.sample(list(self.samples), min(len(self.samples), self.random.randint(1, 12)))
        results = list(batch_results(self.client, "meta", batch_size=5, md5_list=chosen))
        assert sorted(r["md5"] for r in results) == sorted(chosen), "a batch lost or added results"
        for result in results:
            self._check_meta(result["md5"], result)

    def tags(self, step: int) -> None:
        md5 = self._pick()
        tag = f"client{self.number:02d}"
        self.client.add_tags(md5, [tag, f"step{step}"])
        assert {tag, f"step{step}"} <= set(self.client.get_tags(md5))


@pytest.mark.slow
def test_sixteen_clients_doing_mixed_operations_at_once_get_only_their_own_correct_results(server_factory,
                                                                                         tmp_path: Path) -> None:
    shared = [p.read_bytes() for p in sorted(require_data("pe/good").iterdir())[:6]]
    server = server_factory(procs=2)
    clients = [LoadClient(server, number, shared) for number in range(CLIENTS)]
    started = time.monotonic()
    runs = [gevent.spawn(c.run) for c in clients]
    gevent.joinall(runs, timeout=170)
    elapsed = time.monotonic() - started
    errors = [f"client {c.number}: {type(r.exception).__name__}: {r.exception}" for c, r in zip(clients, runs,
                                                                                                   strict=True)
              if r.exception is not None or not r.dead]
    assert not errors, "\n".join(errors)
    done: Counter = sum((c.done for c in clients), Counter())
    assert sum(done.values()) == CLIENTS * OPERATIONS
    print(f"\nload: {CLIENTS} clients x {OPERATIONS} operations = {sum(done.values())} in {elapsed:.1f} s "
          f"({sum(done.values()) / elapsed:.0f}/s): {dict(done)}")
    client = server.client()
    stored = {md5 for c in clients for md5 in c.samples}
    assert client.info()["samples"] == len(stored), "every uploaded sample stored exactly once"
    tags = client.get_all_tags()
    for c in clients:
        assert tags.get(f"client{c.number:02d}", 0) >= 1 or c.done["tags"] == 0
