"""RPC calls on running workers: one sample, a set, a selection (streams), Arrow slabs, plans and tests.

One of the groups WorkbenchRPC (rpc_service.py) is made of: each method validates and delegates to Workbench."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import zerorpc

from workbench.server.rpc.stream_messages import batched

if TYPE_CHECKING:
    from workbench.server.workbench import Workbench


class WorkCalls:
    """Running workers: one sample, a set, a selection (streams), Arrow slabs, plans and tests."""

    _wb: Workbench

    def work_request(self, worker_name: str, md5: str, subkeys: Any = None) -> dict:
        """Run a worker (and its dependencies) on a sample: {'md5': md5, worker_name: output}; with subkeys (a
        dotted path or a list of them; 'foo.*' for all of foo) a flat {last_key: value}. Cached when valid."""
        return self._wb.work_request(worker_name, md5, subkeys)

    @zerorpc.stream
    def set_work_request(self, worker_name: str, sample_set: str, subkeys: Any = None) -> Iterator[Any]:
        """Stream a worker's outputs over a stored sample set (with subkeys, flat dicts); the third argument is
        subkeys (a dotted path or a list) or kwargs {subkeys, batch_size}."""
        kwargs = subkeys if isinstance(subkeys, dict) else {"subkeys": subkeys}
        results = self._wb.set_work_request(worker_name, sample_set, kwargs.get("subkeys"))
        return batched(results, kwargs.get("batch_size", 1))

    @zerorpc.stream
    def batch_work_request(self, worker_name: str, kwargs: dict | None = None) -> Iterator[Any]:
        """Stream a worker's outputs (with subkeys, flat dicts) over samples chosen by kwargs (type_tag, md5_list,
        tags; subkeys, batch_size)."""
        kwargs = dict(kwargs or {})
        results = self._wb.batch_work_request(worker_name, kwargs)
        return batched(results, kwargs.get("batch_size", 1))

    @zerorpc.stream
    def batch_arrow(self, worker_name: str, kwargs: dict | None = None) -> Iterator[Any]:
        """batch_work_request as Arrow IPC messages (typed columns, rows = samples; batch_size rows each)."""
        return self._wb.batch_arrow(worker_name, dict(kwargs or {}))

    def explain(self, worker_name: str, md5: str) -> dict:
        """The chain plan for a sample: for each worker, cached, stale (and why), not applicable or to run."""
        return self._wb.explain(worker_name, md5)

    def test_worker(self, worker_name: str) -> dict:
        """Run a worker's whole chain afresh on a stored sample it applies to; report its output or error and time."""
        return self._wb.test_worker(worker_name)

    def group_compute(self, worker_name: str, md5_list: list) -> list:
        """Internal to a group: compute a chunk of another server's batch here (results in md5_list order)."""
        return self._wb.group_compute(worker_name, md5_list)
