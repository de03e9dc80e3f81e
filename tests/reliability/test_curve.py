"""Issue 6, must-show 5: a CURVE group server. Keys come from `workbench-keygen` and are named in config.ini.

An allowed key works; no key or an unknown key gets nothing while the allowed client keeps being served; a key
added to the authorized folder works without a restart, and a removed key stops working, on new connections and
on the one it already had open.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zerorpc
from conftest import RunningServer, free_port, start_server
from reliability_support import wait_until

from workbench.clients.client_helper import ServerUnavailable, connect
from workbench.config import load_config
from workbench.testing import REPO_ROOT

REFUSED_WAIT = 2.0  # seconds a refused client waits for an answer that never comes


def keygen(folder: Path, name: str) -> None:
    """Make a key pair with the real command."""
    made = subprocess.run([sys.executable, "-m", "workbench.server.keygen", "--dir", str(folder), name],
                          capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert made.returncode == 0, made.stderr
    assert f"{name}.key_secret" in made.stdout and (folder / f"{name}.key").is_file()
    assert (folder / f"{name}.key_secret").stat().st_mode & 0o077 == 0, "a secret key must be private"


def client_config(tmp_path: Path, name: str, server_key: str = "server") -> Path:
    """A client config.ini naming its key files relative to itself (as a user would write it)."""
    path = tmp_path / f"{name}.ini"
    path.write_text(f"[client]\ncurve_secret_key = ./keys/{name}.key_secret\n"
                    f"curve_server_key = ./keys/{server_key}.key\n")
    return path


@pytest.fixture(scope="module")
def curve_server(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunningServer, Path]:
    """A server whose config.ini names its secret key and a folder holding only alice's public key."""
    tmp_path = tmp_path_factory.mktemp("curve")
    for name in ("server", "alice", "bob", "mallory"):
        keygen(tmp_path / "keys", name)
    (tmp_path / "authorized").mkdir()
    shutil.copy(tmp_path / "keys" / "alice.key", tmp_path / "authorized")
    for name in ("alice", "bob", "mallory"):
        client_config(tmp_path, name)
    (tmp_path / "server.ini").write_text("[server]\ncurve_secret_key = ./keys/server.key_secret\n"
                                         "curve_authorized_keys_dir = ./authorized\n")
    server = start_server(tmp_path, procs=1, extra_args=["--config", str(tmp_path / "server.ini")])
    yield server, tmp_path
    server.stop()


def open_as(server: RunningServer, tmp_path: Path, name: str | None, timeout: float = 30) -> zerorpc.Client:
    """connect() with the named client's config.ini (None: a client with no keys at all)."""
    config_path = client_config(tmp_path, name) if name else tmp_path / "nokeys.ini"
    if name is None:
        config_path.write_text("[client]\n")
    return connect("127.0.0.1", server.port, timeout=timeout, heartbeat=None, config=load_config(str(config_path)))


def test_allowed_key_works_and_clients_without_an_allowed_key_get_nothing(curve_server) -> None:
    server, tmp_path = curve_server
    alice = open_as(server, tmp_path, "alice")
    md5 = alice.store_sample(b"for the team only", "team.txt", "")
    for stranger in (None, "mallory"):
        started = time.monotonic()
        with pytest.raises(ServerUnavailable, match="no Workbench server answered"):
            open_as(server, tmp_path, stranger, timeout=REFUSED_WAIT)
        assert time.monotonic() - started >= REFUSED_WAIT * 0.9, "refused clients get no answer at all"
        assert alice.work_request("meta", md5)["meta"]["length"] == 17, "the allowed client keeps being served"
    plain = zerorpc.Client(timeout=REFUSED_WAIT, heartbeat=None)  # the stock client, no CURVE
    plain.connect(f"tcp://127.0.0.1:{server.port}")
    with pytest.raises(zerorpc.TimeoutExpired):
        plain.has_sample(md5)
    plain.close()
    assert alice.has_sample(md5)
    assert "CURVE: refused" in server.log() and "CURVE on" in server.log()
    alice.close()


def test_a_key_added_at_runtime_works_and_a_removed_key_stops_working_without_restart(curve_server) -> None:
    server, tmp_path = curve_server
    with pytest.raises(ServerUnavailable):
        open_as(server, tmp_path, "bob", timeout=REFUSED_WAIT)
    shutil.copy(tmp_path / "keys" / "bob.key", tmp_path / "authorized")
    bob: list[zerorpc.Client] = []

    def bob_gets_in() -> bool:
        try:
            bob.append(open_as(server, tmp_path, "bob", timeout=1))
            return True
        except ServerUnavailable:
            return False

    wait_until(bob_gets_in, 8, "bob's newly added key being accepted")
    bob_client = bob[0]
    md5 = bob_client.store_sample(b"bob was let in", "bob.txt", "")
    alice = open_as(server, tmp_path, "alice", timeout=REFUSED_WAIT)
    assert alice.has_sample(md5)

    (tmp_path / "authorized" / "alice.key").unlink()
    time.sleep(1.5)  # the server re-reads the folder every second

    with pytest.raises((zerorpc.TimeoutExpired, zerorpc.LostRemote)):
        alice.has_sample(md5)  # the connection opened while the key was allowed gets nothing now
    with pytest.raises(ServerUnavailable):
        open_as(server, tmp_path, "alice", timeout=REFUSED_WAIT)
    assert bob_client.work_request("meta", md5)["meta"]["length"] == len(b"bob was let in")
    assert server.proc.poll() is None
    alice.close()
    bob_client.close()


def test_half_configured_curve_stops_the_server_with_a_clear_error(tmp_path: Path) -> None:
    keygen(tmp_path / "keys", "server")
    (tmp_path / "server.ini").write_text("[server]\ncurve_secret_key = ./keys/server.key_secret\n")
    started = subprocess.run([sys.executable, "-m", "workbench.server.cli", "--config", str(tmp_path / "server.ini"),
                              "--port", str(free_port()), "--datastore", f"sqlite:///{tmp_path}/wb.db"],
                             capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert started.returncode == 2
    assert "curve_authorized_keys_dir" in started.stderr and "any client key would be accepted" in started.stderr
