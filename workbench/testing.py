"""Test harness shipped with the package: run workers with no server, and find the shared test data.

``run_worker('pe_features', path)`` runs a worker with its whole chain in this process on a throw-away
sqlite store. ``make_workbench(tmp_path)`` gives an in-process Workbench with the RPC method names.
"""

from __future__ import annotations

import json
import os
import tempfile
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
