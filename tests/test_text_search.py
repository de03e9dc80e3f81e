"""Full-text search over worker outputs through a real server (issue 10 part 4): index the ``url`` outputs of
../shared/data, find a domain, index subfields, resume a batch, and the ``workbench index/search`` commands.

The reference is computed independently: from the url outputs themselves (work_request), the samples having a
domain equal to the query or ending in ``.query``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
import zerorpc
from conftest import RunningServer, start_server

from workbench.clients.client_helper import flatten, upload_file
from workbench.server.data_store import open_store
from workbench.testing import REPO_ROOT, require_data

DOMAIN = "crl.microsoft.com"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("text_search"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def wb(server: RunningServer) -> zerorpc.Client:
    return server.client(timeout=120)


@pytest.fixture(scope="module")
def md5s(wb: zerorpc.Client) -> list[str]:
    """Every shared sample but the signature files, uploaded once."""
    paths = [p for p in sorted(require_data().rglob("*")) if p.is_file() and "signatures" not in p.parts
             and p.name != "README.md"]
    return sorted({upload_file(wb, p) for p in paths})


@pytest.fixture(scope="module")
def url_outputs(wb: zerorpc.Client, md5s: list[str]) -> dict[str, dict]:
    results = flatten(wb.batch_work_request("url", {"md5_list": md5s, "batch_size": 50}))
    return {r["md5"]: r for r in results if not r.get("error")}  # each item is the output itself


def _with_domain(outputs: dict[str, dict], domain: str) -> set[str]:
    return {md5 for md5, out in outputs.items()
            if any(d["value"].lower() == domain or d["value"].lower().endswith("." + domain) for d in out["domains"])}


def _index(wb: zerorpc.Client, worker: str, index: str, subfields: object = None, **kwargs: object) -> list[dict]:
    return list(flatten(wb.index_worker_outputs(worker, index, subfields, {**kwargs, "batch_size": 50})))


def test_indexed_url_outputs_find_a_domain_in_the_domains_field(wb: zerorpc.Client, md5s: list[str],
                                                                 url_outputs: dict[str, dict]) -> None:
    records = _index(wb, "url", "urls_all")
    assert sorted(r["md5"] for r in records) == md5s
    assert all("indexed" in r for r in records if r["md5"] in url_outputs)
    expected = _with_domain(url_outputs, DOMAIN)
    assert len(expected) >= 5, "the shared data should hold several samples naming crl.microsoft.com"
    hits = wb.search_index("urls_all", DOMAIN)
    assert {h["md5"] for h in hits if h["field"] == "domains.value"} == expected
    assert {h["field"] for h in hits} <= {"domains.value", "urls.value", "emails.value", "url_list"}
    for hit in hits:
        assert hit["worker"] == "url" and DOMAIN in hit["snippet"].lower()
    assert wb.search_index("urls_all", "no-such-domain-anywhere.example") == []
    assert wb.list_text_indexes()["urls_all"] == len(md5s)


def test_subfields_index_only_those_fields_as_a_string_or_a_list(wb: zerorpc.Client, md5s: list[str],
                                                                  url_outputs: dict[str, dict]) -> None:
    _index(wb, "url", "domains_only", ["domains.value"])
    hits = wb.search_index("domains_only", DOMAIN)
    assert {h["field"] for h in hits} == {"domains.value"}
    assert {h["md5"] for h in hits} == _with_domain(url_outputs, DOMAIN)
    assert wb.search_index("domains_only", "http") == [], "urls were not indexed, so no 'http' anywhere"
    md5 = next(iter(_with_domain(url_outputs, DOMAIN)))
    one = wb.index_worker_output("url", md5, "one_sample", "domains")  # the original's single dotted string
    assert one == {"md5": md5, "worker": "url", "index_name": "one_sample", "fields": ["domains.value"]}
    assert [h["md5"] for h in wb.search_index("one_sample", DOMAIN)] == [md5]
    with pytest.raises(zerorpc.RemoteError, match="subfield 'no_such' not found in the 'url' output"):
        wb.index_worker_output("url", md5, "one_sample", "no_such")


def test_batch_indexing_resumes_and_redoes_entries_made_from_an_older_output(wb: zerorpc.Client,
                                                                             server: RunningServer,
                                                                             md5s: list[str]) -> None:
    first = _index(wb, "url", "resumed", md5_list=md5s[:40])
    assert len(first) == 40 and all("indexed" in r or "error" in r for r in first)
    again = _index(wb, "url", "resumed")
    skipped = {r["md5"] for r in again if "skipped" in r}
    assert skipped == {r["md5"] for r in first if "indexed" in r}
    assert {r["md5"] for r in again} == set(md5s)
    # an entry made from another version of the output (e.g. before a recompute) is indexed again
    store = open_store(server.datastore)
    try:
        store.index_texts("resumed", [(md5s[0], "url", "an-older-chain-version", [])])
    finally:
        store.close()
    third = _index(wb, "url", "resumed")
    assert [r["md5"] for r in third if "skipped" not in r] == [md5s[0]]
    assert len(_index(wb, "url", "resumed", reindex=True, md5_list=md5s[:3])) == 3
    with pytest.raises(zerorpc.RemoteError, match="unknown batch options"):
        _index(wb, "url", "resumed", typetag="exe")


def test_search_refuses_an_empty_query_and_a_bad_limit(wb: zerorpc.Client) -> None:
    with pytest.raises(zerorpc.RemoteError, match="no letters or digits"):
        wb.search_index("urls_all", " ... ")
    with pytest.raises(zerorpc.RemoteError, match="limit must be a whole number"):
        wb.search_index("urls_all", "microsoft", 0)


def test_cli_index_then_search_prints_the_matching_samples(server: RunningServer, md5s: list[str],
                                                           url_outputs: dict[str, dict]) -> None:
    cli = [sys.executable, "-m", "workbench.clients.workbench_cli", "-p", str(server.port)]
    done = subprocess.run([*cli, "index", "url", "cli_urls", "--subfields", "domains,urls"], capture_output=True,
                          text=True, timeout=240, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    assert f"cli_urls: {len(url_outputs)} indexed, 0 already indexed" in done.stderr
    found = subprocess.run([*cli, "search", "cli_urls", DOMAIN, "--json"], capture_output=True, text=True,
                           timeout=60, cwd=REPO_ROOT)
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert {h["md5"] for h in hits if h["field"] == "domains.value"} == _with_domain(url_outputs, DOMAIN)


def test_an_indexed_import_list_answers_which_samples_import_a_function(wb: zerorpc.Client,
                                                                          md5s: list[str]) -> None:
    field = "sparse_features.imported_symbols"
    records = _index(wb, "pe_features", "imports", field, type_tag="exe")
    indexed = {r["md5"] for r in records if "indexed" in r}
    assert indexed, "the shared PE samples should be indexed"
    outputs = {r["md5"]: r for r in flatten(wb.batch_work_request(
        "pe_features", {"md5_list": sorted(indexed), "batch_size": 50}))}
    expected = {md5 for md5, out in outputs.items()
                if "kernel32.dll:virtualalloc" in [s.casefold() for s in out["sparse_features"]["imported_symbols"]]}
    assert expected, "some shared PE sample imports kernel32.dll:VirtualAlloc"
    hits = wb.search_index("imports", "kernel32.dll:VirtualAlloc")
    assert {h["md5"] for h in hits} == expected, "VirtualAllocEx must not count as VirtualAlloc"
    assert {h["field"] for h in hits} == {field}
