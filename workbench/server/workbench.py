"""The Workbench service in-process: samples, tags, sets and work, with no RPC in the way.

The RPC service wraps this class; tests and notebooks can use it directly (``procs=0`` runs chains here).
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterator
from itertools import islice
from typing import Any

from workbench import __version__, contract
from workbench.analysis.bro_parsing import read_log
from workbench.config import Config
from workbench.exceptions import BadArgument, UnknownMD5, UnknownSampleSet, WorkbenchError
from workbench.server import arrow_slabs
from workbench.server.chain_runner import ChainRunner
from workbench.server.data_store import DataStore, open_store
from workbench.server.plugin_manager import PluginManager
from workbench.server.process_pool import LocalExecutor, ProcessPool
from workbench.server.sample_intake import check_md5, check_size, store_bytes
from workbench.server.work_dispatcher import WorkDispatcher

TEXT_TAGS = ("log", "bro", "txt", "json")


def resolve_procs(value: str | int) -> int:
    """``auto`` -> the number of cores; 0 -> run chains in the server process."""
    if str(value).strip().lower() == "auto":
        return os.cpu_count() or 1
    procs = int(value)
    if procs < 0:
        raise BadArgument(f"procs must be 'auto' or a number >= 0, got {value!r}")
    return procs


def _tags(tags: Any) -> list[str]:
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list | tuple) or not all(isinstance(t, str) and t for t in tags):
        raise BadArgument(f"tags must be a list of non-empty strings, got {tags!r}")
    return list(tags)


class Workbench:
    """Everything the API offers, as plain method calls."""

    def __init__(self, config: Config, store: DataStore | None = None, procs: int | str | None = None,
                 plugins: PluginManager | None = None) -> None:
        self.config = config
        self.store = store or open_store(config.get("server", "datastore"))
        plugin_dirs = [d.strip() for d in config.get("server", "plugin_dirs").split(",") if d.strip()]
        self.plugin_dirs = [os.path.expanduser(config.resolve_path(d)) for d in plugin_dirs]
        self.plugins = plugins or PluginManager(self.plugin_dirs, config)
        self.max_bytes = config.get("server", "max_sample_size_mb") * 2**20
        self.procs = resolve_procs(config.get("server", "procs") if procs is None else procs)
        if self.procs and self.store.uri.startswith("mongomock://"):
            raise BadArgument("mongomock:// is an in-memory stand-in that worker processes cannot share; "
                              "use --procs 0 with it, or a real mongodb:// server")
        timeout = config.get("server", "worker_timeout")
        if self.procs == 0:
            executor: Any = LocalExecutor(ChainRunner(self.store, self.plugins, timeout, self.max_bytes))
        else:
            executor = ProcessPool(self.procs, {
                "config_path": str(config.path) if config.path else None, "config": config.as_dict(),
                "datastore": self.store.uri, "plugin_dirs": [str(d) for d in self.plugin_dirs]},
                prefetch=config.get("server", "prefetch"))
        self.work = WorkDispatcher(self.store, self.plugins, executor, timeout, max(4, 2 * self.procs),
                                   config.get("server", "stream_linger_ms") / 1000)
        self.started = time.time()

    def close(self) -> None:
        """Stop worker processes and close the store."""
        self.work.executor.close()
        self.store.close()

    # --- samples -----------------------------------------------------------------------------------
    def _info(self, md5: str) -> dict[str, Any]:
        info = self.store.get_sample_info(check_md5(md5))
        if info is None:
            raise UnknownMD5(f"no sample with md5 {md5}; store it first with store_sample")
        return info

    def store_sample(self, input_bytes: bytes, filename: str, type_tag: str = "") -> str:
        """Store bytes once (keyed by md5), guessing type_tag when empty; expire old samples past the cap."""
        md5 = store_bytes(self.store, input_bytes, filename, type_tag, self.max_bytes)
        cap = self.config.get("server", "samples_cap_mb") * 2**20
        while cap and self.store.total_sample_bytes() > cap and self.store.count_samples() > 1:
            oldest = self.store.oldest_md5s(1)[0]
            if oldest == md5:
                break
            self.store.remove_sample(oldest)
        return md5

    def get_sample(self, md5: str) -> dict[str, Any]:
        """``{'sample': {...metadata..., 'raw_bytes': bytes}}``."""
        info = self._info(md5)
        return {"sample": {**info, "raw_bytes": self.store.get_sample_bytes(info["md5"])}}

    def get_sample_info(self, md5: str) -> dict[str, Any]:
        """The sample's metadata and tags, without its bytes."""
        info = self._info(md5)
        return {**info, "tags": self.store.get_tags(info["md5"])}

    def has_sample(self, md5: str) -> bool:
        """Whether the sample is stored (clients ask this before sending bytes)."""
        return self.store.has_sample(check_md5(md5))

    def complete_md5(self, prefix: str, limit: int = 10) -> list[str]:
        """Stored md5s starting with ``prefix`` (1-32 hex digits), sorted, at most ``limit`` (1-1000)."""
        if not isinstance(prefix, str) or not re.fullmatch(r"[0-9a-fA-F]{1,32}", prefix):
            raise BadArgument(f"bad md5 prefix {prefix!r}: expected 1 to 32 hex digits, e.g. '033d91'")
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise BadArgument(f"limit must be a whole number from 1 to 1000, got {limit!r}")
        return self.store.md5s_with_prefix(prefix.lower(), limit)

    def remove_sample(self, md5: str) -> bool:
        """Remove a sample and everything computed from it."""
        return self.store.remove_sample(check_md5(md5))

    def combine_samples(self, md5_list: list[str], filename: str, type_tag: str = "") -> str:
        """Join stored chunks (in order) into one sample, then drop the parts stored as type_tag 'chunk'.

        A part whose bytes equal a sample stored in its own right keeps that sample: only chunks are dropped.
        """
        infos = [self._info(m) for m in self._md5_list(md5_list)]
        check_size(sum(i["length"] for i in infos), self.max_bytes)
        joined = b"".join(self.store.get_sample_bytes(i["md5"]) or b"" for i in infos)
        md5 = self.store_sample(joined, filename, type_tag)
        for info in infos:
            if info["md5"] != md5 and info["type_tag"] == "chunk":
                self.store.remove_sample(info["md5"])
        return md5

    def stream_sample(self, md5: str, max_rows: int | None = None) -> Iterator[Any]:
        """Bro/Zeek logs as typed records, other text samples line by line, the rest in 1 MiB chunks of bytes."""
        info = self._info(md5)
        raw = self.store.get_sample_bytes(info["md5"]) or b""
        if info["type_tag"] == "bro":
            yield from islice(read_log(raw)[1], max_rows)
        elif info["type_tag"] in TEXT_TAGS:
            for count, line in enumerate(raw.decode("utf-8", "replace").splitlines()):
                if max_rows is not None and count >= max_rows:
                    return
                yield line
        else:
            for start in range(0, len(raw), 1 << 20):
                yield raw[start:start + (1 << 20)]

    def stream_sample_arrow(self, md5: str, max_rows: int | None = None) -> Iterator[bytes]:
        """A Zeek log (typed from #types) or JSON / JSON-lines sample as Arrow IPC messages (arrow_slabs)."""
        info = self._info(md5)
        if info["type_tag"] not in ("bro", "json"):
            raise BadArgument(f"sample {md5} is {info['type_tag']!r}: only Zeek logs ('bro') and JSON samples "
                              "stream as Arrow; use format 'records' for the rest")
        raw = self.store.get_sample_bytes(info["md5"]) or b""
        return (arrow_slabs.zeek_messages if info["type_tag"] == "bro" else arrow_slabs.json_messages)(raw, max_rows)

    @staticmethod
    def _md5_list(md5_list: Any) -> list[str]:
        if not isinstance(md5_list, list | tuple):
            raise BadArgument(f"md5_list must be a list of md5s, got {type(md5_list).__name__}")
        return [check_md5(m) for m in md5_list]

    # --- sample sets, tags, links ------------------------------------------------------------------
    def store_sample_set(self, md5_list: list[str]) -> str:
        """Store a list of (stored) md5s; the id is a hash of the list, so the same list gives the same id."""
        md5s = self._md5_list(md5_list)
        for md5 in md5s:
            self._info(md5)
        set_id = hashlib.md5(",".join(md5s).encode()).hexdigest()
        self.store.store_sample_set(set_id, md5s)
        return set_id

    def get_sample_set(self, set_id: str) -> list[str]:
        """The md5s of a stored set."""
        md5s = self.store.get_sample_set(str(set_id))
        if md5s is None:
            raise UnknownSampleSet(f"no sample set {set_id!r}; make one with store_sample_set or generate_sample_set")
        return md5s

    def generate_sample_set(self, tags: list[str] | str | None = None, type_tag: str | None = None) -> str:
        """A set of every sample carrying all ``tags`` and/or of ``type_tag``."""
        md5s = list(self.store.iter_md5s(type_tag=type_tag or None, tags=_tags(tags) if tags else None))
        return self.store_sample_set(md5s)

    def add_tags(self, md5: str, tags: list[str] | str) -> None:
        """Add tags to a sample."""
        self.store.add_tags(self._info(md5)["md5"], _tags(tags))

    def set_tags(self, md5: str, tags: list[str] | str) -> None:
        """Replace a sample's tags."""
        self.store.set_tags(self._info(md5)["md5"], _tags(tags))

    def get_tags(self, md5: str) -> list[str]:
        """A sample's tags."""
        return self.store.get_tags(self._info(md5)["md5"])

    def get_all_tags(self) -> dict[str, int]:
        """Every tag in use with its sample count."""
        return self.store.get_all_tags()

    def get_children(self, md5: str) -> list[str]:
        """Samples extracted from this one (zip members, files carried over HTTP)."""
        return self.store.get_children(self._info(md5)["md5"])

    def get_parents(self, md5: str) -> list[str]:
        """Samples this one was extracted from."""
        return self.store.get_parents(self._info(md5)["md5"])

    def select_md5s(self, kwargs: dict[str, Any]) -> Iterator[str]:
        """Samples chosen by ``md5_list``, ``type_tag`` and/or ``tags`` (all samples when none is given)."""
        known = {"md5_list", "type_tag", "tags", "subkeys", "batch_size"}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise BadArgument(f"unknown batch options {unknown}; use {sorted(known)}")
        if kwargs.get("md5_list") is not None:
            return iter(self._md5_list(kwargs["md5_list"]))
        tags = _tags(kwargs["tags"]) if kwargs.get("tags") else None
        return self.store.iter_md5s(type_tag=kwargs.get("type_tag") or None, tags=tags)

    # --- work --------------------------------------------------------------------------------------
    def work_request(self, worker_name: str, md5: str, subkeys: list[str] | None = None) -> dict[str, Any]:
        """``{'md5': md5, worker_name: output}``; cached outputs are served without running anything."""
        self.plugins.get(worker_name)
        return self.work.work(worker_name, check_md5(md5), subkeys)

    def batch_work_request(self, worker_name: str, kwargs: dict[str, Any] | None = None) -> Iterator[dict]:
        """One result per selected sample, streamed as they finish."""
        kwargs = dict(kwargs or {})
        self.plugins.get(worker_name)
        return self.work.stream(worker_name, self.select_md5s(kwargs), kwargs.get("subkeys"))

    def batch_arrow(self, worker_name: str, kwargs: dict[str, Any] | None = None) -> Iterator[bytes]:
        """batch_work_request as Arrow IPC messages, ``batch_size`` rows each (see server/arrow_slabs.py)."""
        kwargs = dict(kwargs or {})
        return arrow_slabs.slab_messages(self.work, worker_name, self.select_md5s(kwargs), kwargs.get("subkeys"),
                                         kwargs.get("batch_size", arrow_slabs.ROWS_PER_MESSAGE))

    def set_work_request(self, worker_name: str, sample_set: str, subkeys: list[str] | None = None) -> Iterator[dict]:
        """One result per sample of a stored set, streamed as they finish."""
        self.plugins.get(worker_name)
        return self.work.stream(worker_name, self.get_sample_set(sample_set), subkeys)

    def explain(self, worker_name: str, md5: str) -> dict[str, Any]:
        """Why each worker of the chain would or would not run for this sample."""
        self.plugins.get(worker_name)
        return self.work.explain(worker_name, self._info(md5)["md5"])

    def test_worker(self, worker_name: str) -> dict[str, Any]:
        """Run a worker afresh on the first stored sample it applies to and report output or error."""
        worker = self.plugins.get(worker_name)
        md5 = None
        for type_tag in worker.applies_to or (None,):
            md5 = md5 or next(iter(self.store.iter_md5s(type_tag=type_tag)), None)
        if md5 is None:
            raise BadArgument(f"no stored sample for worker {worker_name!r} to run on; store a "
                              f"{'/'.join(worker.applies_to) or 'any'} sample first")
        started = time.perf_counter()
        try:
            result = self.work.work(worker_name, md5, force=True)
            return {"worker": worker_name, "md5": md5, "ok": True, "output": result[worker_name],
                    "seconds": round(time.perf_counter() - started, 4)}
        except WorkbenchError as exc:
            return {"worker": worker_name, "md5": md5, "ok": False, "error": f"{type(exc).__name__}: {exc}",
                    "seconds": round(time.perf_counter() - started, 4)}

    def list_all_workers(self) -> list[dict[str, Any]]:
        """Every worker found: name, status (ok/failed), summary, dependencies, applies_to, error."""
        rows = []
        for name, w in sorted(self.plugins.all().items()):
            rows.append({"name": name, "status": "ok" if w.ok else "failed", "summary": w.summary,
                         "dependencies": w.dependencies, "applies_to": list(w.applies_to),
                         "error": w.error, "path": str(w.path)})
        return rows

    def clear_db(self) -> None:
        """Drop every sample, set, tag and output."""
        self.store.clear()

    def clear_worker_output(self, worker_name: str | None = None) -> int:
        """Drop stored outputs of one worker (or all), so they are recomputed on the next request."""
        if worker_name is not None and worker_name not in self.plugins.all():
            self.plugins.get(worker_name)
        return self.store.clear_worker_output(worker_name)

    def info(self) -> dict[str, Any]:
        """Version, store, sample count, workers, worker processes and what was served."""
        workers = self.plugins.all()
        return {
            "version": __version__, "datastore": self.store.uri, "samples": self.store.count_samples(),
            "workers_ok": sum(1 for w in workers.values() if w.ok),
            "workers_failed": sorted(n for n, w in workers.items() if not w.ok),
            "procs": self.procs, "procs_alive": self.work.executor.alive(),
            "procs_replaced": self.work.executor.replaced, "procs_load": self.work.executor.load(),
            "uptime_s": round(time.time() - self.started, 1),
            "counters": dict(self.work.counters), "workers_run": dict(self.work.workers_run),
            "pseudo_dependencies": list(contract.PSEUDO_DEPENDENCIES),
        }
