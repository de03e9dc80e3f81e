"""Issue 13 in a real browser: Debian's chromium driven by Playwright against a real workbench-server started
with --web-port on a free port. Search a prefix, open a PE, press "run", follow a zip's child link; every page
is saved as a screenshot under the test's tmp_path (look at them: they are how the pages read).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import RunningServer, free_port, start_server

from workbench.testing import require_data

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
HOSTILE = "<script>alert(1)</script>.exe"

sync_api = pytest.importorskip("playwright.sync_api", reason="pip playwright is missing: run ./install.sh")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing: run ./install.sh (apt-get install chromium)", allow_module_level=True)


@pytest.fixture
def web_server(tmp_path: Path) -> tuple[RunningServer, str]:
    web_port = free_port()
    server = start_server(tmp_path, procs=1, extra_args=["--web-port", str(web_port)])
    assert f"web view on http://127.0.0.1:{web_port}/" in server.log()
    yield server, f"http://127.0.0.1:{web_port}"
    server.stop()


@pytest.fixture
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def test_search_sample_run_and_child_link_in_chromium(web_server, browser, tmp_path: Path) -> None:
    server, base = web_server
    rpc = server.client()
    pes = sorted(require_data("pe/good").iterdir())[:4]
    pe_md5s = [rpc.store_sample(p.read_bytes(), p.name, "") for p in pes]
    zip_md5 = rpc.store_sample(require_data("zip/good.zip").read_bytes(), "good.zip", "")
    hostile = rpc.store_sample(b"plain text\n", HOSTILE, "txt")
    raw = pes[0].read_bytes()
    variant = rpc.store_sample(raw[:-64] + b"\x00" * 64, "variant.exe", "")  # ssdeep finds it similar
    pe_md5s.append(variant)
    rpc.add_tags(pe_md5s[0], ["demo"])
    for md5 in pe_md5s:
        rpc.work_request("meta_deep", md5)
    rpc.work_request("view", pe_md5s[0])
    target = pe_md5s[0]
    shots = tmp_path / "screenshots"
    shots.mkdir()
    dialogs: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)

    page.goto(base + "/")
    assert page.get_by_text(HOSTILE).count() == 1, "the hostile filename shows as text"
    page.screenshot(path=shots / "1_search.png", full_page=True)

    page.fill('input[name="q"]', target[:1])
    page.click('header button[type="submit"]')
    page.wait_for_url(f"**/search?q={target[:1]}")
    links = page.locator("a.md5")
    shown = links.all_inner_texts()
    assert target in shown and all(m.startswith(target[:1]) for m in shown)
    page.screenshot(path=shots / "2_search_prefix.png", full_page=True)

    page.click(f'a.md5[href="/sample/{target}"]')
    page.wait_for_url(f"**/sample/{target}")
    assert page.locator("h1.filename").inner_text() == pes[0].name
    panel = page.locator("#panel-url")
    assert panel.locator(".badge").inner_text() == "not run"
    panel.locator("button.run").click()
    panel = page.locator("#panel-url")
    panel.locator(".badge", has_text="ran now").wait_for(timeout=60_000)
    assert panel.locator("details").get_attribute("open") is not None
    assert panel.locator(".body table.kv").count() >= 1
    expected = rpc.work_request("url", target)["url"]
    for key in expected:
        assert panel.locator(".body table.kv th", has_text=key).count() >= 1, key
    page.locator("#panel-pe_peid button.link", has_text="explain").click()
    page.locator("#explain-pe_peid table.plan").wait_for()
    page.screenshot(path=shots / "3_sample_pe.png", full_page=True)

    page.goto(f"{base}/sample/{zip_md5}")
    page.locator("#panel-unzip button.run").click()
    page.locator("#panel-unzip .badge", has_text="ran now").wait_for(timeout=60_000)
    children = rpc.get_children(zip_md5)
    assert len(children) == 3
    page.reload()
    page.screenshot(path=shots / "4_sample_zip.png", full_page=True)
    page.click(f'section.family a.md5[href="/sample/{children[0]}"]')
    page.wait_for_url(f"**/sample/{children[0]}")
    assert page.locator(f'section.family a.md5[href="/sample/{zip_md5}"]').count() == 1, "parent links back"
    page.screenshot(path=shots / "5_child.png", full_page=True)

    page.goto(f"{base}/sample/{target}/similar")
    page.locator("#similar-pe_deep_sim .similar").wait_for(timeout=60_000)
    assert page.locator(f'#similar-pe_deep_sim a.md5[href="/sample/{variant}"]').count() == 1
    page.screenshot(path=shots / "6_similar.png", full_page=True)

    page.goto(f"{base}/workers")
    assert page.locator("tr#worker-pe_features .badge").inner_text() == "ok"
    page.screenshot(path=shots / "7_workers.png", full_page=True)

    page.goto(f"{base}/sample/{hostile}")
    assert page.locator("h1.filename").inner_text() == HOSTILE
    page.screenshot(path=shots / "8_hostile.png", full_page=True)
    time.sleep(0.2)
    assert dialogs == [], "no script from a sample ran"
    assert not [e for e in errors if "Content Security Policy" in e], errors
    for name in ("1_search", "2_search_prefix", "3_sample_pe", "4_sample_zip", "5_child", "6_similar",
                 "7_workers", "8_hostile"):
        assert (shots / f"{name}.png").stat().st_size > 5000, name
    keep = os.environ.get("WORKBENCH_WEB_SCREENSHOTS")  # a folder to copy them to, for a human to look at
    if keep:
        shutil.copytree(shots, keep, dirs_exist_ok=True)
