"""Issue 13: the web view through Flask's test client, over a real in-process Workbench on a real sqlite file.

Every page, the run/explain fragments, tag editing, the encrypted download, the token gate, and hostile input:
filenames, tags and worker outputs carrying markup must come back as text, and state changes need POST + CSRF.
"""

from __future__ import annotations

import hashlib
import io
import re
import sqlite3
import textwrap
from pathlib import Path

import pytest
import pyzipper

from workbench.server.web import create_app
from workbench.testing import make_workbench, require_data

HOSTILE = "<script>alert(1)</script>.exe"


@pytest.fixture
def plugins(tmp_path: Path) -> Path:
    """A worker whose output carries markup, and one that fails to import."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "hostile_out.py").write_text(textwrap.dedent('''
        class HostileOut:
            """Hostile out: returns markup in keys and values."""

            dependencies = ["sample"]

            def execute(self, input_data):
                return {"<b>key</b>": "<img src=x onerror=alert(2)>", "list": ["<i>a</i>"] * 30,
                        "rows": [{"<u>col</u>": "<script>alert(3)</script>", "n": i} for i in range(40)]}
    '''))
    (folder / "broken_web.py").write_text("class Broken:\n    dependencies = [\n")
    return folder


@pytest.fixture
def bench(tmp_path: Path, plugins: Path):
    wb = make_workbench(tmp_path, plugin_dirs=[str(plugins)])
    yield wb
    wb.close()


@pytest.fixture
def client(bench):
    app = create_app(bench)
    app.config["TESTING"] = True
    return app.test_client()


def csrf(client, path: str = "/") -> str:
    """The CSRF token a page hands the browser (from the htmx headers on <body>)."""
    page = client.get(path).get_data(as_text=True)
    return re.search(r'"X-CSRF-Token": "([^"]+)"', page).group(1)


def store_pe(bench, name: str = "") -> tuple[str, bytes]:
    path = sorted(require_data("pe/good").iterdir())[0]
    raw = path.read_bytes()
    return bench.store_sample(raw, name or path.name, ""), raw


def test_search_page_lists_recent_samples_with_counts_and_escapes_filenames(bench, client) -> None:
    pe, _ = store_pe(bench, "calc.exe")
    bad = bench.store_sample(b"just text\n", HOSTILE, "txt")
    bench.add_tags(bad, ["<b>tag</b>"])
    page = client.get("/").get_data(as_text=True)
    assert pe in page and bad in page and "calc.exe" in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;.exe" in page
    assert "<b>tag</b>" not in page and "&lt;b&gt;tag&lt;/b&gt;" in page
    for type_tag in ("exe", "txt"):
        assert re.search(rf'>{type_tag}</a></td><td class="num">1<', page), type_tag
    assert page.index(bad) < page.index(pe), "most recent first"


def test_search_by_prefix_filename_type_and_tag_with_paging(bench, client) -> None:
    md5s = [bench.store_sample(b"sample number %d" % i, f"{'report' if i % 2 else 'memo'}_{i}.txt", "txt")
            for i in range(60)]
    pe, _ = store_pe(bench)
    bench.add_tags(md5s[5], ["apt1"])
    first = client.get(f"/search?q={pe[:12]}")  # a unique prefix goes straight to the sample
    assert first.status_code == 302 and first.headers["Location"].endswith(f"/sample/{pe}")
    prefix = "a"
    page = client.get(f"/search?q={prefix}").get_data(as_text=True)
    expected = [m for m in [*md5s, pe] if m.startswith(prefix)]
    shown = re.findall(r'class="md5" href="/sample/([0-9a-f]{32})"', page)
    assert sorted(shown) == sorted(expected)
    page1 = client.get("/search?q=report").get_data(as_text=True)
    page2 = client.get("/search?q=report&page=2").get_data(as_text=True)
    reports = [m for i, m in enumerate(md5s) if i % 2]
    on1 = re.findall(r'class="md5" href="/sample/([0-9a-f]{32})"', page1)
    assert on1 == reports[::-1] and "older &rarr;" not in page1  # 30 fit one page of 50
    assert re.findall(r'class="md5" href="/sample/([0-9a-f]{32})"', page2) == []
    all1 = re.findall(r'class="md5" href="/sample/([0-9a-f]{32})"', client.get("/search?q=type:txt").get_data(True))
    all2 = re.findall(r'class="md5" href="/sample/([0-9a-f]{32})"',
                      client.get("/search?q=type:txt&page=2").get_data(True))
    assert len(all1) == 50 and all1 + all2 == md5s[::-1]
    assert re.findall(r'class="md5" href="/sample/([0-9a-f]{32})"', client.get("/search?q=apt1").get_data(True)) == [
        md5s[5]]
    assert re.findall(r'class="md5" href="/sample/([0-9a-f]{32})"',
                      client.get("/search?q=exe").get_data(True)) == [pe]  # a type_tag in use
    nothing = client.get("/search?q=md5:xyz").get_data(as_text=True)
    assert "not an md5 prefix" in nothing


def test_sample_page_shows_cached_outputs_and_run_fills_a_panel(bench, client) -> None:
    pe, raw = store_pe(bench)
    bench.work_request("meta", pe)
    page = client.get(f"/sample/{pe}").get_data(as_text=True)
    assert hashlib.sha256(raw).hexdigest() in page  # the cached meta output, drawn
    assert 'id="panel-pe_indicators"' in page and "No stored output for this sample yet" in page
    assert 'id="panel-pdf"' not in page, "only workers that apply to an exe"
    token = csrf(client, f"/sample/{pe}")
    fragment = client.post(f"/sample/{pe}/run/pe_indicators", headers={"X-CSRF-Token": token}).get_data(True)
    expected = bench.work_request("pe_indicators", pe)["pe_indicators"]
    assert 'id="panel-pe_indicators"' in fragment and "ran now" in fragment
    for key in expected:
        assert f"<th>{key}</th>" in fragment
    assert bench.cached_output("pe_indicators", pe) == expected
    assert client.get(f"/sample/{pe}/output/pe_indicators.json").get_json()["pe_indicators"] == expected
    plan = client.get(f"/sample/{pe}/explain/pe_indicators").get_data(as_text=True)
    assert "pe_indicators" in plan and "cached" in plan


def test_run_reports_errors_as_the_api_does(bench, client, tmp_path: Path) -> None:
    md5 = bench.store_sample(b"not a pe at all", "fake.exe", "exe")
    token = csrf(client, f"/sample/{md5}")
    fragment = client.post(f"/sample/{md5}/run/pe_features", headers={"X-CSRF-Token": token}).get_data(True)
    with pytest.raises(Exception) as raised:
        bench.work_request("pe_features", md5)
    assert "failed" in fragment and type(raised.value).__name__ in fragment
    assert str(raised.value).split(":")[0].replace("'", "&#39;") in fragment


def test_state_changes_need_post_and_a_csrf_token(bench, client) -> None:
    md5 = bench.store_sample(b"tag me", "t.txt", "txt")
    assert client.get(f"/sample/{md5}/run/meta").status_code == 405
    assert client.post(f"/sample/{md5}/run/meta").status_code == 400
    assert client.post(f"/sample/{md5}/tags", data={"tags": "x"}).status_code == 400
    assert client.post(f"/sample/{md5}/tags", data={"tags": "x", "csrf_token": "forged"}).status_code == 400
    assert bench.get_tags(md5) == [] and bench.cached_output("meta", md5) is None
    token = csrf(client, f"/sample/{md5}")
    done = client.post(f"/sample/{md5}/tags", data={"tags": "alpha, <b>beta</b> gamma", "csrf_token": token})
    assert done.status_code == 302
    assert bench.get_tags(md5) == sorted(["alpha", "<b>beta</b>", "gamma"])
    page = client.get(f"/sample/{md5}").get_data(as_text=True)
    assert "<b>beta</b>" not in page and "&lt;b&gt;beta&lt;/b&gt;" in page


def test_hostile_outputs_render_as_text(bench, client) -> None:
    md5 = bench.store_sample(b"anything", HOSTILE, "data")
    bench.work_request("hostile_out", md5)
    page = client.get(f"/sample/{md5}").get_data(as_text=True)
    assert "&lt;b&gt;key&lt;/b&gt;" in page and "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in page and "25 more rows" in page  # 40 rows, 15 shown
    for raw in ("<script>alert", "<img src=x", "<b>key", "<u>col", "<i>a</i>"):
        assert raw not in page
    assert "default-src 'self'" in client.get(f"/sample/{md5}").headers["Content-Security-Policy"]


def test_zip_children_and_parents_are_links(bench, client) -> None:
    archive = require_data("zip/good.zip").read_bytes()
    md5 = bench.store_sample(archive, "good.zip", "")
    token = csrf(client, f"/sample/{md5}")
    client.post(f"/sample/{md5}/run/unzip", headers={"X-CSRF-Token": token})
    children = bench.get_children(md5)
    assert len(children) == 3
    page = client.get(f"/sample/{md5}").get_data(as_text=True)
    for child in children:
        assert f'href="/sample/{child}"' in page
    child_page = client.get(f"/sample/{children[0]}").get_data(as_text=True)
    assert f'href="/sample/{md5}"' in child_page and "good.zip" in child_page


def test_similar_page_links_what_pe_deep_sim_finds(bench, client) -> None:
    pes = sorted(require_data("pe/good").iterdir())[:6]
    md5s = [bench.store_sample(p.read_bytes(), p.name, "") for p in pes]
    for md5 in md5s:
        bench.work_request("meta_deep", md5)
    page = client.get(f"/sample/{md5s[0]}/similar").get_data(as_text=True)
    assert f'hx-get="/sample/{md5s[0]}/similar/pe_deep_sim"' in page
    fragment = client.get(f"/sample/{md5s[0]}/similar/pe_deep_sim").get_data(as_text=True)
    found = bench.work_request("pe_deep_sim", md5s[0])["pe_deep_sim"]["sim_list"]
    linked = re.findall(r'class="md5" href="/sample/([0-9a-f]{32})"', fragment)
    assert linked == [e["md5"] for e in found]
    assert ("No similar sample found" in fragment) == (not found)
    assert client.get(f"/sample/{md5s[0]}/similar/meta").status_code == 404


def test_workers_page_lists_status_help_and_stored_counts(bench, client, tmp_path: Path) -> None:
    md5s = [bench.store_sample(b"count %d" % i, f"c{i}.txt", "txt") for i in range(3)]
    for md5 in md5s:
        bench.work_request("meta", md5)
    bench.work_request("strings", md5s[0])
    page = client.get("/workers").get_data(as_text=True)
    with sqlite3.connect(tmp_path / "workbench.db") as db:  # the reference: count the rows directly
        counted = dict(db.execute("SELECT worker, COUNT(*) FROM outputs GROUP BY worker").fetchall())
    for row in bench.list_all_workers():
        cells = re.search(rf'<tr id="worker-{row["name"]}">(.*?)</tr>', page, re.S).group(1)
        assert f'<td class="num">{counted.get(row["name"], 0)}</td>' in cells
        assert (">ok<" in cells) == (row["status"] == "ok")
    broken = re.search(r'<tr id="worker-broken_web">(.*?)</tr>', page, re.S).group(1)
    assert "failed" in broken and "SyntaxError" in broken


def test_download_is_an_aes_zip_with_password_infected(bench, client) -> None:
    md5 = bench.store_sample(b"MZ pretend malware \x00\x01", "../../evil name.exe", "exe")
    answer = client.get(f"/sample/{md5}/download")
    assert answer.status_code == 200 and answer.mimetype == "application/zip"
    assert b"MZ pretend malware" not in answer.data
    assert answer.headers["Content-Disposition"] == f'attachment; filename="{md5}_evil_name.exe.zip"'
    with pyzipper.AESZipFile(io.BytesIO(answer.data)) as archive:
        (member,) = archive.infolist()
        assert member.filename == f"{md5}_evil_name.exe"
        with pytest.raises(RuntimeError):
            archive.read(member)  # no password, no bytes
        archive.setpassword(b"infected")
        assert archive.read(member) == b"MZ pretend malware \x00\x01"


def test_unknown_and_malformed_md5s_get_clear_error_pages(client) -> None:
    missing = client.get("/sample/" + "0" * 32)
    assert missing.status_code == 404 and "UnknownMD5" in missing.get_data(as_text=True)
    bad = client.get("/sample/<b>x")
    assert bad.status_code == 400 and "<b>x" not in bad.get_data(as_text=True)
    assert client.get(f"/sample/{'0' * 32}/run/meta").status_code == 405
    md5 = hashlib.md5(b"x").hexdigest()
    hostile = client.get(f"/sample/{md5}/explain/<img src=x onerror=alert(4)>")
    assert hostile.status_code in (400, 404) and "<img" not in hostile.get_data(as_text=True)
    search = client.get("/search?q=%3Cscript%3Ealert(5)%3C/script%3E").get_data(as_text=True)
    assert "<script>alert(5)" not in search and "&lt;script&gt;alert(5)&lt;/script&gt;" in search


def test_web_token_gates_every_page(bench) -> None:
    app = create_app(bench, token="s3cret")
    client = app.test_client()
    md5 = bench.store_sample(b"gated", "g.txt", "txt")
    gate = client.get(f"/sample/{md5}")
    assert gate.status_code == 302 and "/login" in gate.headers["Location"]
    assert client.get(f"/sample/{md5}/download").status_code == 302
    login = client.get(gate.headers["Location"]).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
    wrong = client.post(gate.headers["Location"], data={"token": "guess", "csrf_token": token})
    assert wrong.status_code == 401
    right = client.post(gate.headers["Location"], data={"token": "s3cret", "csrf_token": token})
    assert right.status_code == 302 and right.headers["Location"].startswith(f"/sample/{md5}")
    assert client.get(f"/sample/{md5}").status_code == 200
    script = app.test_client()
    assert script.get("/workers", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert script.get("/workers", headers={"Authorization": "Bearer nope"}).status_code == 302
    offsite = client.get("/login?next=//evil.example/")  # already in: goes home, never off-site
    assert offsite.status_code == 302 and offsite.headers["Location"] == "/"
