"""Issue 13: the web view inside a real workbench-server: off unless asked, on by --web-port or the
WORKBENCH_SERVER_WEB_PORT layer, same bind address as RPC, and with CURVE only behind web_token (else off, logged).
"""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from conftest import free_port, start_server

from workbench.testing import REPO_ROOT


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003 - urllib's signature
        return None


def fetch(url: str) -> tuple[int, str, dict]:
    """(status, body, headers) of a GET, redirects not followed."""
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=30) as answer:
            return answer.status, answer.read().decode(), dict(answer.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


def test_off_by_default_and_on_by_env_layer(tmp_path: Path) -> None:
    plain = start_server(tmp_path, procs=0)
    try:
        assert "web view" not in plain.log()
    finally:
        plain.stop()
    port = free_port()
    server = start_server(tmp_path, procs=0, extra_env={"WORKBENCH_SERVER_WEB_PORT": str(port)})
    try:
        md5 = server.client().store_sample(b"hello web\n", "hello.txt", "txt")
        status, body, headers = fetch(f"http://127.0.0.1:{port}/")
        assert status == 200 and md5 in body and "hello.txt" in body
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        status, body, _ = fetch(f"http://127.0.0.1:{port}/sample/{md5}")
        assert status == 200 and "hello.txt" in body
        status, js, _ = fetch(f"http://127.0.0.1:{port}/static/htmx.min.js")
        assert status == 200 and "htmx 2.0.11" in js[:200]
    finally:
        server.stop()


def _curve_config(tmp_path: Path, web_token: str) -> Path:
    for name in ("server", "alice"):
        made = subprocess.run([sys.executable, "-m", "workbench.server.keygen", "--dir", str(tmp_path / "keys"),
                               name], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
        assert made.returncode == 0, made.stderr
    (tmp_path / "authorized").mkdir()
    (tmp_path / "authorized" / "alice.key").write_bytes((tmp_path / "keys" / "alice.key").read_bytes())
    path = tmp_path / "server.ini"
    path.write_text("[server]\ncurve_secret_key = ./keys/server.key_secret\n"
                    f"curve_authorized_keys_dir = ./authorized\nweb_token = {web_token}\n")
    return path


def test_with_curve_and_no_web_token_the_view_stays_off_and_says_why(tmp_path: Path) -> None:
    port = free_port()
    server = start_server(tmp_path, procs=0, extra_args=["--config", str(_curve_config(tmp_path, "")),
                                                          "--web-port", str(port)])
    try:
        assert "web view off: the server runs with CURVE and [server] web_token is empty" in server.log()
        try:
            fetch(f"http://127.0.0.1:{port}/")
            raise AssertionError("the web port answered")
        except urllib.error.URLError as exc:
            assert "refused" in str(exc.reason).lower()
    finally:
        server.stop()


def test_with_curve_and_a_web_token_every_page_asks_for_it(tmp_path: Path) -> None:
    port = free_port()
    server = start_server(tmp_path, procs=0, extra_args=["--config", str(_curve_config(tmp_path, "tok3n")),
                                                          "--web-port", str(port)])
    try:
        status, _, headers = fetch(f"http://127.0.0.1:{port}/workers")
        assert status == 302 and "/login" in headers["Location"]
        request = urllib.request.Request(f"http://127.0.0.1:{port}/workers", headers={"Authorization": "Bearer tok3n"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200 and "pe_features" in answer.read().decode()
    finally:
        server.stop()
