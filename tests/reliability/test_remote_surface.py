"""Issue 6, remote surface: only the public API is callable, nothing imports or evaluates what a client names, and
filenames from clients (and from archives) are data, never paths."""

from __future__ import annotations

import ast
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import zerorpc
from conftest import RunningServer, start_server

from workbench.testing import REPO_ROOT

HOSTILE_WORKER_NAMES = ["../../etc/passwd", "/etc/passwd", "os", "sys", "__import__", "eval", "__builtins__",
                        "workbench_workers.meta", "meta.py", "../workbench/server/cli", "meta; rm -rf /", "",
                        "x" * 5000, "meta\x00", 123, None]
NAMED_WORKER_CALLS = {
    "work_request": lambda c, name, md5: c.work_request(name, md5),
    "explain": lambda c, name, md5: c.explain(name, md5),
    "test_worker": lambda c, name, md5: c.test_worker(name),
    "batch_work_request": lambda c, name, md5: list(c.batch_work_request(name, {"md5_list": [md5]})),
    "batch_arrow": lambda c, name, md5: list(c.batch_arrow(name, {"md5_list": [md5]})),
}


@pytest.fixture(scope="module")
def surface_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One plain server for the whole module."""
    server = start_server(tmp_path_factory.mktemp("surface"), procs=1)
    yield server
    server.stop()


@pytest.mark.parametrize("call", sorted(NAMED_WORKER_CALLS))
def test_worker_names_are_looked_up_among_loaded_workers_only(surface_server, call) -> None:
    client = surface_server.client(timeout=30)
    md5 = client.store_sample(b"name games", "n.txt", "")
    loaded = {w["name"] for w in client.list_all_workers()}
    for name in HOSTILE_WORKER_NAMES:
        with pytest.raises(zerorpc.RemoteError) as refused:
            NAMED_WORKER_CALLS[call](client, name, md5)
        assert refused.value.name in ("UnknownWorker", "BadArgument"), (name, refused.value.name, refused.value.msg)
        assert "loaded workers:" in refused.value.msg or refused.value.name == "BadArgument"
    assert {w["name"] for w in client.list_all_workers()} == loaded, "no name may load anything new"
    assert client.work_request("meta", md5)["meta"]["length"] == 10


def test_worker_names_of_the_wrong_type_get_a_clean_error(surface_server) -> None:
    client = surface_server.client(timeout=30)
    md5 = client.store_sample(b"type games", "t.txt", "")
    for name in (["meta"], {"meta": 1}):
        with pytest.raises(zerorpc.RemoteError) as refused:
            client.work_request(name, md5)
        assert refused.value.name in ("UnknownWorker", "BadArgument"), refused.value.name


def test_private_and_builtin_names_are_not_callable(surface_server) -> None:
    client = surface_server.client(timeout=30)
    for name in ("_wb", "_commands", "batched", "__init__", "__class__", "__getattribute__", "store", "plugins",
                 "_print_traceback", "_async_task", "_methods"):
        with pytest.raises(zerorpc.RemoteError) as refused:
            client(name)  # the raw call: the name goes over the wire as given
        assert refused.value.name == "NameError", name


def test_server_code_never_unpickles_evaluates_or_imports_by_name() -> None:
    """No pickle/marshal/shelve import and no eval/exec/__import__/import_module call anywhere in the package."""
    found = []
    for path in sorted((REPO_ROOT / "workbench").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                found += [f"{path.name}: import {m}" for m in modules if m.split(".")[0] in ("pickle", "marshal",
                                                                                              "shelve", "dill")]
            elif isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name in ("eval", "exec", "__import__", "import_module"):
                    found.append(f"{path.name}:{node.lineno}: {name}()")
    assert not found, found


def test_filenames_are_stored_as_data_and_never_used_as_paths(surface_server) -> None:
    client = surface_server.client(timeout=30)
    escape = Path("/x")  # where '../../x' would land from the server's working directory (the repo)
    assert not escape.exists()
    names = {
        "../../x": "../../x",
        "/etc/passwd": "/etc/passwd",
        "evil\x00name\n.exe": "evilname.exe",
        "line\r\nbreak\ttab\x1b[31m": "linebreaktab[31m",
        "y" * 5000: "y" * 1024,
    }
    for index, (given, kept) in enumerate(names.items()):
        md5 = client.store_sample(f"filename test {index}".encode(), given, "")
        assert client.get_sample_info(md5)["filename"] == kept
        assert client.work_request("meta", md5)["meta"]["filename"] == kept
    assert not escape.exists() and not (REPO_ROOT.parent / "x").exists()
    with pytest.raises(zerorpc.RemoteError, match="filename must be a string") as refused:
        client.store_sample(b"number as a name", 123, "")
    assert refused.value.name == "BadArgument"


def test_zip_member_names_are_data_too(surface_server, tmp_path: Path) -> None:
    client = surface_server.client(timeout=60)
    target = tmp_path / "escaped_member"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(f"../../../../../../..{target}", b"I tried to escape")
        zf.writestr("/etc/cron.d/evil", b"absolute member")
    md5 = client.store_sample(archive.getvalue(), "slip.zip", "zip")
    unzipped = client.work_request("unzip", md5)["unzip"]
    names = sorted(child["filename"] for child in unzipped["children"])
    assert names == sorted([f"../../../../../../..{target}", "/etc/cron.d/evil"])
    assert not target.exists() and not Path("/etc/cron.d/evil").exists()
    for child in client.get_children(md5):
        info = client.get_sample_info(child)
        assert info["filename"].startswith("slip.zip!/")
        assert client.get_sample(child)["sample"]["raw_bytes"] in (b"I tried to escape", b"absolute member")
