"""The Node.js client: `npm ci` from the committed lock file, then `node` against a live server, compared with the
Python client's answers to the same calls."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import RunningServer

from workbench.clients.client_helper import batch_results, flatten
from workbench.testing import REPO_ROOT, require_data

NODE_DIR = REPO_ROOT / "workbench" / "clients" / "node"
needs_node = pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                                reason="node/npm are not installed (install.sh installs nodejs and npm)")


@pytest.fixture(scope="module")
def node_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the client folder (no node_modules) with its dependencies installed by `npm ci`."""
    folder = tmp_path_factory.mktemp("node") / "client"
    shutil.copytree(NODE_DIR, folder, ignore=shutil.ignore_patterns("node_modules"))
    # zeromq 5.2.8 links the system libzmq instead of downloading one; the registry is the only network used.
    env = {**os.environ, "npm_config_zmq_external": "true", "npm_config_audit": "false", "npm_config_fund": "false"}
    done = subprocess.run(["npm", "ci", "--no-progress"], cwd=folder, capture_output=True, text=True, timeout=600,
                          env=env)
    assert done.returncode == 0, f"npm ci failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return folder


def test_package_pins_zeromq_and_commits_its_lock_file() -> None:
    package = json.loads((NODE_DIR / "package.json").read_text())
    assert package["overrides"]["zeromq"] == "5.2.8" and "zerorpc" in package["dependencies"]
    lock = json.loads((NODE_DIR / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/zeromq"]["version"] == "5.2.8"
    assert "node_modules/" in (REPO_ROOT / ".gitignore").read_text().splitlines()


@pytest.mark.slow
@needs_node
def test_node_client_uploads_works_and_streams_like_the_python_client(node_client: Path, server: RunningServer,
                                                                      ) -> None:
    data = require_data()
    files = [data / "pe" / "bad" / "033d91aae8ad29ed9fbb858179271232", data / "log" / "system.log",
             data / "pcap" / "http.pcap"]
    done = subprocess.run(["node", "workbench_client.js", "--server", "127.0.0.1", "--port", str(server.port),
                           "--worker", "meta", "--batch-size", "2", *map(str, files)],
                          cwd=node_client, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    md5s = [hashlib.md5(path.read_bytes()).hexdigest() for path in files]
    assert [u["md5"] for u in report["uploads"]] == md5s
    python = server.client()
    for md5 in md5s:
        assert python.get_sample_info(md5)["length"] == (files[md5s.index(md5)]).stat().st_size
    assert report["work"] == [python.work_request("meta", md5) for md5 in md5s]
    expected = sorted(flatten(python.batch_work_request("meta", {"md5_list": md5s, "batch_size": 2})),
                      key=lambda r: r["md5"])  # the original's items: each output itself, carrying md5
    assert sorted(report["batch"], key=lambda r: r["md5"]) == expected
    assert {r["md5"] for r in batch_results(python, "meta", md5_list=md5s)} == set(md5s)


@pytest.mark.slow
@needs_node
def test_node_client_without_a_server_says_so_and_exits_3(node_client: Path) -> None:
    from conftest import free_port

    done = subprocess.run(["node", "workbench_client.js", "--port", str(free_port()), "package.json"],
                          cwd=node_client, capture_output=True, text=True, timeout=60)
    assert done.returncode == 3 and "no Workbench server answered" in done.stderr and not done.stdout
