"""help_formatter: help(topic) is served by a worker formatting documents built from docstrings."""

from __future__ import annotations

import inspect

import pytest

from workbench.exceptions import BadArgument, WorkerFailed
from workbench.server.rpc.rpc_service import WorkbenchRPC
from workbench.testing import make_workbench


@pytest.fixture
def rpc(tmp_path):
    workbench = make_workbench(tmp_path)
    yield WorkbenchRPC(workbench)
    workbench.close()


def test_help_on_a_worker_prints_its_whole_docstring_and_dependencies(rpc) -> None:
    worker = rpc._wb.plugins.get("strings")
    text = rpc.help("strings")
    assert text.startswith("worker strings  [ok]")
    assert "dependencies: sample" in text
    for line in worker.doc.splitlines():
        assert line.strip() in text


def test_help_on_a_command_prints_signature_and_docstring(rpc) -> None:
    text = rpc.help("work_request")
    assert text.splitlines()[0] == "work_request(worker_name: str, md5: str, subkeys: Any = None) -> dict"
    assert all(f"    {line}" in text for line in inspect.getdoc(WorkbenchRPC.work_request).splitlines())


def test_help_index_lists_every_command_and_worker(rpc) -> None:
    text = rpc.help()
    for name in ("work_request", "batch_work_request", "meta", "strings", "help_formatter"):
        assert f"  {name} " in text


def test_unknown_topic_suggests_close_names(rpc) -> None:
    with pytest.raises(BadArgument, match="no help topic 'work_reqest'. Did you mean work_request"):
        rpc.help("work_reqest")


def test_help_formatter_never_runs_on_a_sample(rpc) -> None:
    md5 = rpc.store_sample(b"{}", "h.json", "json")
    with pytest.raises(WorkerFailed, match="'help_formatter' applies to type_tag help"):
        rpc.work_request("help_formatter", md5)


def test_every_worker_help_says_what_it_returns(rpc) -> None:
    for name in rpc._wb.plugins.all():
        if name == "help_formatter":
            continue
        text = rpc.help(name)
        assert "Returns" in text or "returns" in text, f"help({name!r}) does not say what it returns"
    pe_help = rpc.help("pe_features")
    assert "dense_features" in pe_help and "sparse_features" in pe_help
