"""Test harness shipped with the package: run workers with no server, and find the shared test data.

``run_worker('pe_features', path)`` runs a worker with its whole chain in this process on a throw-away
sqlite store. ``make_workbench(tmp_path)`` gives an in-process Workbench with the RPC method names.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from workbench.config import Config, load_config
from workbench.server.data_store import open_store
from workbench.server.planning.chain_plan import ChainPlan, ChainPlanner
from workbench.server.planning.plugin_manager import PluginManager
from workbench.server.workbench import Workbench

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("WORKBENCH_TEST_DATA", REPO_ROOT.parent / "shared" / "data"))

_plugin_cache: dict[str, PluginManager] = {}


def require_data(relative: str = "") -> Path:
    """The path of ../shared/data/<relative>, or skip the calling test with a clear message if absent."""
    path = DATA_DIR / relative
    if not path.exists():
        import pytest

        pytest.skip(f"test data {path} is absent: these tests need the shared sample folder ../shared/data "
                    "(set WORKBENCH_TEST_DATA to point elsewhere)")
    return path


def make_config(datastore: str, options: dict[str, dict[str, Any]] | None = None) -> Config:
    """The project's config with a given datastore and ``{worker: {option: value}}`` overrides."""
    config = load_config()
    config.set("server", "datastore", datastore)
    for worker, values in (options or {}).items():
        config.values.setdefault(f"worker.{worker}", {}).update({k: v for k, v in values.items()})
    return config


def _plugins(config: Config, options: dict | None, plugin_dirs: list[str] | None) -> PluginManager:
    key = json.dumps([options or {}, plugin_dirs or []], sort_keys=True, default=str)
    plugins = _plugin_cache.get(key)
    if plugins is None:
        plugins = _plugin_cache[key] = PluginManager(plugin_dirs, config)
    else:
        plugins.refresh()
    return plugins


def make_workbench(tmp_path: str | Path, options: dict[str, dict[str, Any]] | None = None,
                   plugin_dirs: list[str] | None = None) -> Workbench:
    """An in-process Workbench (chains run here, procs=0) on a sqlite file in ``tmp_path``."""
    config = make_config(f"sqlite:///{Path(tmp_path).resolve()}/workbench.db", options)
    return Workbench(config, procs=0, plugins=_plugins(config, options, plugin_dirs))


def run_worker(name: str, data: bytes | str | Path, *, filename: str | None = None, type_tag: str | None = None,
               options: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Run worker ``name`` (and its chain) on bytes or a file; return its output or raise WorkerFailed."""
    if isinstance(data, str | Path):
        filename = filename or Path(data).name
        data = Path(data).read_bytes()
    with tempfile.TemporaryDirectory(prefix="workbench-test-") as tmp:
        workbench = make_workbench(tmp, options)
        try:
            md5 = workbench.store_sample(data, filename or "sample", type_tag or "")
            return workbench.front.work(name, md5)[name]  # the worker's own output (the API adds md5)
        finally:
            workbench.close()


_pool_plugins: dict[str, PluginManager] = {}


def plan_for(init: dict[str, Any], worker: str, md5: str, timeout: float) -> ChainPlan:
    """The front's chain plan for ``worker`` on ``md5`` with the pool's settings ``init``, its time budget set
    to ``timeout``: what a ProcessPool runs."""
    key = repr(init["plugin_dirs"])
    plugins = _pool_plugins.get(key)
    if plugins is None:
        plugins = _pool_plugins[key] = PluginManager(init["plugin_dirs"])
    plugins.refresh()
    store = open_store(init["datastore"])
    try:
        plan = ChainPlanner(store, plugins, 60.0).plan(worker, md5)
    finally:
        store.close()
    plan.timeout = timeout
    return plan


def build_scale_store(datastore: str, count: int, chunk: int = 20_000) -> list[str]:
    """A store of ``count`` small samples through the bulk path (issue 17's scale tests and bench_scale.py):
    every 10th tagged ``t1``, every 100th ``t2``, each with a valid cached ``meta`` output. Returns the md5s,
    oldest first."""
    chain_version, versions = PluginManager().chain_version("meta")
    store = open_store(datastore)
    md5s: list[str] = []
    try:
        for start in range(0, count, chunk):
            samples, outputs = [], []
            for i in range(start, min(count, start + chunk)):
                data = b"scale sample %09d " % i + bytes(range(i % 200, i % 200 + 40))
                md5 = hashlib.md5(data).hexdigest()
                samples.append((data, md5, f"s{i}.bin", "data"))
                outputs.append((md5, "meta", chain_version, versions,
                                {"md5": md5, "length": len(data), "file_type": "data", "type_tag": "data"}))
            store.store_samples(samples)
            store.store_outputs(outputs)
            md5s.extend(s[1] for s in samples)
        for i in range(0, count, 10):
            store.add_tags(md5s[i], ["t1", "t2"] if i % 100 == 0 else ["t1"])
    finally:
        store.close()
    return md5s


LOOPER = """
import json, os, sys, time, zerorpc
client = zerorpc.Client(timeout=30, heartbeat=5)
client.connect(sys.argv[1])
stop, method, cycle, calls = sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), []
getattr(client, method)(*cycle[0])
print("ready", flush=True)
while not (len(calls) % 50 == 0 and os.path.exists(stop)):
    started = time.time()
    getattr(client, method)(*cycle[len(calls) % len(cycle)])
    calls.append((started, time.time() - started))
print("\\n".join(f"{s} {d}" for s, d in calls), flush=True)
"""


class CallLooper:
    """Another client, in a process of its own, making one cheap call back to back (``version()``, or a cached
    ``work_request`` cycling over ``cycle``'s argument lists). What each call waited is judged afterwards over
    the time span of each measured call, so the measuring client (decoding results) cannot delay it."""

    def __init__(self, endpoint: str, folder: Path, method: str = "version",
                 cycle: list[list[Any]] | None = None) -> None:
        self._stop = Path(folder) / f"looper-{os.getpid()}-{id(self)}.stop"
        self._proc = subprocess.Popen([sys.executable, "-c", LOOPER, endpoint, str(self._stop), method,
                                       json.dumps(cycle or [[]])], stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None and self._proc.stdout.readline().strip() == "ready"
        self.spans: dict[str, tuple[float, float]] = {}

    def during(self, name: str, call: Any) -> Any:
        """Run ``call()`` here, noting the span of time the looper's waits are judged over."""
        time.sleep(0.05)
        started = time.time()
        result = call()
        self.spans[name] = (started, time.time())
        return result

    def calls(self) -> dict[str, list[float]]:
        """Stop the looper: ``{name: [seconds each call overlapping that span waited]}``."""
        self._stop.touch()
        out, _ = self._proc.communicate(timeout=60)
        made = [tuple(map(float, line.split())) for line in out.splitlines() if line.strip()]
        return {name: [took for started, took in made if started < end and started + took > begin]
                for name, (begin, end) in self.spans.items()}

    def kill(self) -> None:
        """Stop the looper process if it still runs (a test that failed half way)."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
