"""YARA retrohunt through a real server with 2 worker processes (issue 10 part 5).

The reference is yara-python run directly, in this process, over the same files read from ../shared/data.
Samples are only read and matched, never executed.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yara
import zerorpc
from conftest import RunningServer, start_server

from workbench.clients.client_helper import flatten, upload_file
from workbench.testing import REPO_ROOT, require_data

TIMEOUT_S = 2  # [server] worker_timeout of this module's server: the hostile rule's bound

WRITTEN_RULES = """
rule mz_header : pe
{
    condition:
        uint16(0) == 0x5A4D
}

rule dos_stub : pe stub
{
    strings:
        $stub = "This program cannot be run in DOS mode"
    condition:
        $stub
}

rule pdf_header : pdf
{
    strings:
        $pdf = "%PDF-"
    condition:
        $pdf at 0
}

rule microsoft_crl
{
    strings:
        $crl = "crl.microsoft.com" nocase wide ascii
    condition:
        $crl
}

rule pcap_magic
{
    condition:
        uint32(0) == 0xa1b2c3d4 or uint32(0) == 0xd4c3b2a1
}
"""


def _reference(sources: dict[str, str] | str, files: dict[str, bytes]) -> dict[str, list[tuple]]:
    """{md5: sorted (namespace, rule, tags)} for every file the rules match, by yara-python directly."""
    rules = yara.compile(source=sources) if isinstance(sources, str) else yara.compile(sources=sources)
    found = {}
    for md5, data in files.items():
        matches = rules.match(data=data)
        if matches:
            found[md5] = sorted((m.namespace, m.rule, tuple(m.tags)) for m in matches)
    return found


def _as_found(records: list[dict]) -> dict[str, list[tuple]]:
    return {r["md5"]: sorted((m["namespace"], m["rule"], tuple(m["tags"])) for m in r["matches"])
            for r in records if r["matches"]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("retrohunt"),
                           extra_env={"WORKBENCH_SERVER_WORKER_TIMEOUT": str(TIMEOUT_S)})
    yield running
    running.stop()


@pytest.fixture(scope="module")
def wb(server: RunningServer) -> zerorpc.Client:
    return server.client(timeout=120)


@pytest.fixture(scope="module")
def files(wb: zerorpc.Client) -> dict[str, bytes]:
    """{md5: bytes} of every shared sample but the signature files, all uploaded."""
    found = {}
    for path in sorted(require_data().rglob("*")):
        if path.is_file() and "signatures" not in path.parts and path.name != "README.md":
            data = path.read_bytes()
            found[hashlib.md5(data).hexdigest()] = data
            upload_file(wb, path)
    return found


def _signature_sources() -> dict[str, str]:
    """The shared YARA files that compile with this YARA (as the yara_sigs worker keeps them), by file stem."""
    sources = {}
    for path in sorted(require_data("signatures/yara").rglob("*.yar")):
        try:
            yara.compile(filepath=str(path))
        except yara.Error:
            continue
        sources[path.stem] = path.read_text(errors="replace")
    return sources


def test_retrohunt_over_shared_data_equals_yara_python_run_directly(wb: zerorpc.Client,
                                                                     files: dict[str, bytes]) -> None:
    sources = {**_signature_sources(), "written": WRITTEN_RULES}
    expected = _reference(sources, files)
    assert len(expected) >= 40, "the written rules alone should match dozens of the shared samples"
    assert any(ns != "written" for matches in expected.values() for ns, _, _ in matches), \
        "some shared signature should match the shared malware"
    records = list(flatten(wb.retrohunt(sources, {"batch_size": 20})))
    assert not [r for r in records if r.get("error")]
    assert _as_found(records) == expected
    assert len(records) == len(expected), "each matching sample is reported once"


def test_one_rules_text_uses_the_default_namespace_and_type_tag_selects(wb: zerorpc.Client,
                                                                         files: dict[str, bytes]) -> None:
    exe = {md5 for md5 in files if wb.get_sample_info(md5)["type_tag"] == "exe"}
    assert exe
    expected = _reference(WRITTEN_RULES, {md5: files[md5] for md5 in exe})
    records = list(wb.retrohunt(WRITTEN_RULES, {"type_tag": "exe"}))
    assert _as_found(records) == expected
    assert {ns for matches in expected.values() for ns, _, _ in matches} == {"default"}


def test_a_rule_that_does_not_compile_is_refused_naming_its_line(wb: zerorpc.Client, files: dict) -> None:
    broken = "rule fine { condition: true }\n\nrule broken\n{\n    condition:\n        no_such_thing\n}\n"
    with pytest.raises(zerorpc.RemoteError, match=r'line 6: undefined identifier "no_such_thing"') as caught:
        list(wb.retrohunt(broken))
    assert caught.value.name == "BadArgument"
    with pytest.raises(zerorpc.RemoteError, match=r"rules 'second', line 2: syntax error"):
        list(wb.retrohunt({"first": "rule a { condition: true }", "second": "rule b\n{ condition true }"}))
    with pytest.raises(zerorpc.RemoteError, match="includes are disabled"):
        list(wb.retrohunt('include "/etc/passwd"\nrule a { condition: true }'))
    with pytest.raises(zerorpc.RemoteError, match="rules must be YARA rules text"):
        list(wb.retrohunt(42))


def test_a_hostile_rule_is_stopped_by_the_timeout_and_the_hunt_and_server_go_on(wb: zerorpc.Client,
                                                                                 files: dict[str, bytes]) -> None:
    victims = sorted(files)[:6]
    target = victims[2]
    hostile = ('import "hash"\nrule forever { condition: hash.md5(0, filesize) == "TARGET" and '
               "for all i in (0..4000000000) : (uint8(i % filesize) != 0x100) }\n"
               "rule everything { condition: filesize > 0 }").replace("TARGET", target)
    records = list(wb.retrohunt(hostile, {"md5_list": victims}))
    by_md5 = {r["md5"]: r for r in records}
    assert set(by_md5) == set(victims)
    assert by_md5[target]["error"]["kind"] == "timed_out"
    assert f"past {TIMEOUT_S} s on sample {target}" in by_md5[target]["error"]["message"]
    for md5 in set(victims) - {target}:
        assert [m["rule"] for m in by_md5[md5]["matches"]] == ["everything"] and "error" not in by_md5[md5]
    info = wb.info()
    assert info["procs_alive"] == 2
    assert info["retrohunts"][-1]["state"] == "done" and info["retrohunts"][-1]["timeouts"] == 1
    assert _as_found(list(wb.retrohunt(WRITTEN_RULES))) == _reference(WRITTEN_RULES, files)


def test_info_shows_a_running_retrohunt_with_its_progress(server: RunningServer, wb: zerorpc.Client,
                                                          files: dict[str, bytes]) -> None:
    slowish = "rule slowish { condition: for any i in (0..300000) : (uint8(i % filesize) == 0x100) }"
    stream = wb.retrohunt(slowish, {"progress": True, "batch_size": 1})
    first = next(r for r in stream if "progress" in r)["progress"]
    assert first["total"] == len(files) and 0 < first["done"] < first["total"]
    running = [h for h in server.client().info()["retrohunts"] if h["state"] == "running"]
    assert len(running) == 1
    assert running[0]["total"] == len(files) and first["done"] <= running[0]["done"] < len(files)
    rest = list(stream)
    assert [r for r in rest if "progress" in r][-1]["progress"]["done"] == len(files)
    assert not [r for r in rest if r.get("md5")], "no sample has a byte equal to 0x100"
    finished = wb.info()["retrohunts"][-1]
    assert finished["state"] == "done" and finished["done"] == finished["total"] == len(files)


def test_cli_retrohunt_prints_the_matching_samples(server: RunningServer, files: dict[str, bytes],
                                                   tmp_path: Path) -> None:
    rules = tmp_path / "written.yar"
    rules.write_text(WRITTEN_RULES)
    cli = [sys.executable, "-m", "workbench.clients.workbench_cli", "-p", str(server.port)]
    done = subprocess.run([*cli, "retrohunt", str(rules), "--json"], capture_output=True, text=True, timeout=240,
                          cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert _as_found(records) == _reference(WRITTEN_RULES, files)
    assert f"retrohunt: {len(records)} samples match, 0 could not be scanned" in done.stderr
    broken = tmp_path / "broken.yar"
    broken.write_text("rule b {\n condition: nope\n}\n")
    failed = subprocess.run([*cli, "retrohunt", str(broken)], capture_output=True, text=True, timeout=60,
                            cwd=REPO_ROOT)
    assert failed.returncode == 2 and 'line 2: undefined identifier "nope"' in failed.stderr


def test_retrohunt_runs_in_process_when_procs_is_0(tmp_path: Path, files: dict[str, bytes]) -> None:
    from workbench.testing import make_workbench

    workbench = make_workbench(tmp_path)
    try:
        for path in sorted(require_data("pdf").rglob("*")):
            if path.is_file():
                workbench.store_sample(path.read_bytes(), path.name)
        stored = {md5: data for md5, data in files.items() if workbench.has_sample(md5)}
        assert stored
        records = list(workbench.retrohunt(WRITTEN_RULES, {}))
        assert _as_found(records) == _reference(WRITTEN_RULES, stored)
        assert workbench.info()["retrohunts"][-1]["done"] == len(stored)
    finally:
        workbench.close()


def test_a_tag_selection_is_hunted_as_the_store_walks_it_with_its_count_as_total(workbench) -> None:  # noqa: ANN001
    """In process (procs 0): the hunt walks the store's tag pages as it goes; progress counts the selection."""
    md5s = [workbench.store_sample(b"MZ hunted %d" % i, f"s{i}", "data") for i in range(40)]
    for md5 in md5s[::4]:
        workbench.add_tags(md5, "hunt")
    records = list(workbench.retrohunt('rule mz { condition: uint16(0) == 0x5A4D }',
                                       {"tags": ["hunt"], "progress": True}))
    hits = {r["md5"] for r in records if "md5" in r}
    last = [r["progress"] for r in records if "progress" in r][-1]
    assert hits == set(md5s[::4])
    assert last == {"done": 10, "total": 10, "matched": 10}
    finished = workbench.info()["retrohunts"][-1]
    assert finished["state"] == "done" and finished["total"] == finished["done"] == 10
