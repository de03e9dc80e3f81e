"""ChainLeases over a real sqlite store: one store write a chain, renewal of long chains, leases given up."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import gevent
import pytest

from workbench.server.data_store import open_store
from workbench.server.data_store.base import DataStore
from workbench.server.group.leases import RELEASE_AFTER_S, ChainLeases


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DataStore]:
    """A sqlite store whose lease writes are counted in ``store.writes``."""
    opened = open_store(f"sqlite:///{tmp_path}/workbench.db")
    opened.writes = Counter()

    def counting(name: str) -> Callable[..., object]:
        method = getattr(opened, name)

        def counted(*args: object, **kwargs: object) -> object:
            opened.writes[name] += 1
            return method(*args, **kwargs)
        return counted

    for name in ("take_lease", "release_leases", "renew_leases"):
        setattr(opened, name, counting(name))
    yield opened
    opened.close()


def test_chain_after_chain_costs_one_store_write_each_and_every_lease_is_given_up(store: DataStore) -> None:
    leases = ChainLeases(store, "wb1", seconds=30)
    held_while_running = []

    def compute(key: str) -> str:
        held_while_running.append(store.lease_holder(key) == leases.holder)
        return f"output of {key}"

    keys = [f"md5-{i}:pe_features:v1" for i in range(20)]
    for key in keys:
        assert leases.run_once(key, lambda k=key: compute(k), lambda: None, budget=60) == (f"output of {key}", None)
        assert store.lease_holder(key) == leases.holder  # given up with the next write, or a moment later
    assert held_while_running == [True] * 20
    assert [store.lease_holder(k) for k in keys[:-1]] == [None] * 19
    assert store.writes == {"take_lease": 20}
    gevent.sleep(RELEASE_AFTER_S * 3)
    assert store.lease_holder(keys[-1]) is None
    assert store.writes == {"take_lease": 20, "release_leases": 1}


def test_a_chain_longer_than_its_lease_keeps_it_and_a_second_server_waits_for_its_output(store: DataStore) -> None:
    first, second = ChainLeases(store, "wb1", seconds=0.3), ChainLeases(store, "wb2", seconds=0.3)
    key, runs, outputs = "md5:pe_features:v1", [], {}

    def compute(server: str) -> str:
        runs.append(server)
        gevent.sleep(1.0)  # more than three lease lengths: only renewal keeps the lease
        outputs[key] = f"computed by {server}"
        return outputs[key]

    running = gevent.spawn(first.run_once, key, lambda: compute("wb1"), lambda: outputs.get(key), 10)
    gevent.sleep(0.05)
    waiting = gevent.spawn(second.run_once, key, lambda: compute("wb2"), lambda: outputs.get(key), 10)
    gevent.sleep(0.7)
    assert store.lease_holder(key) == first.holder
    assert running.get(timeout=5) == ("computed by wb1", None)
    assert waiting.get(timeout=5) == (None, "computed by wb1")
    assert runs == ["wb1"] and second.waits == 1
    assert store.writes["renew_leases"] >= 2


def test_a_failed_chain_gives_its_lease_up_so_a_waiting_server_computes(store: DataStore) -> None:
    first, second = ChainLeases(store, "wb1", seconds=30), ChainLeases(store, "wb2", seconds=30)
    key = "md5:pe_features:v1"

    def fail() -> None:
        gevent.sleep(0.1)
        raise RuntimeError("worker failed")

    failing = gevent.spawn(first.run_once, key, fail, lambda: None, 10)
    gevent.sleep(0.02)
    assert second.run_once(key, lambda: "computed by wb2", lambda: None, 10) == ("computed by wb2", None)
    with pytest.raises(RuntimeError):
        failing.get()


def test_close_gives_up_ended_leases_at_once(store: DataStore) -> None:
    leases = ChainLeases(store, "wb1", seconds=30)
    leases.run_once("k1", lambda: 1, lambda: None, 10)
    leases.close()
    assert store.lease_holder("k1") is None
    leases.run_once("k2", lambda: 2, lambda: None, 10)  # a chain ending after close leaves its lease to run out
    gevent.sleep(RELEASE_AFTER_S * 3)
    assert store.writes["release_leases"] == 1
