"""Conventions that keep the codebase livable (../shared/STYLE.md): checked, not hoped for."""

from __future__ import annotations

import ast
import configparser
import re
from pathlib import Path

import pytest

from workbench.config import DEFAULTS
from workbench.testing import REPO_ROOT

WORKERS = sorted(p for p in (REPO_ROOT / "workbench" / "workers").glob("*.py") if not p.name.startswith("_"))


@pytest.mark.parametrize("path", WORKERS, ids=lambda p: p.stem)
def test_worker_is_small_plain_and_documented(path: Path) -> None:
    source = path.read_text()
    tree = ast.parse(source)
    assert len(source.splitlines()) <= 150, f"{path.name}: move parsing code to workbench/analysis/"
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    workers = [c for c in classes if any(isinstance(f, ast.FunctionDef) and f.name == "execute" for f in c.body)]
    assert len(workers) == 1
    worker = workers[0]
    assert worker.bases == [], f"{path.name}: workers have no base class"
    assert ast.get_docstring(worker), f"{path.name}: the docstring is the worker's help"
    execute = next(f for f in worker.body if isinstance(f, ast.FunctionDef) and f.name == "execute")
    assert execute.end_lineno - execute.lineno + 1 <= 40, f"{path.name}: execute() over 40 lines"
    assert "workbench.server" not in source, f"{path.name}: workers never import the server"


@pytest.mark.parametrize("path", WORKERS, ids=lambda p: p.stem)
def test_every_worker_has_a_test_that_names_it(path: Path) -> None:
    tests = "\n".join(p.read_text() for p in (REPO_ROOT / "tests").rglob("test_*.py"))
    own = REPO_ROOT / "tests" / "workers" / f"test_{path.stem}.py"
    assert own.exists() or re.search(rf"['\"]{path.stem}['\"]", tests), f"no test exercises worker {path.stem}"


def test_every_config_ini_key_is_a_known_setting_with_its_default() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    text = (REPO_ROOT / "config.ini").read_text()
    parser.read_string(text)
    for section, keys in DEFAULTS.items():
        for key, default in keys.items():
            assert re.search(rf"^# {key} =\s?{re.escape(str(default))}$", text, re.M) or \
                parser.has_option(section, key), f"config.ini does not show [{section}] {key} = {default}"
    commented = re.findall(r"^# (\w+) = ", text, re.M)
    known = {k for keys in DEFAULTS.values() for k in keys}
    assert set(commented) <= known, f"config.ini shows settings nothing reads: {set(commented) - known}"


def test_every_setting_is_read_by_the_code() -> None:
    code = "\n".join(p.read_text() for p in (REPO_ROOT / "workbench").rglob("*.py") if p.name != "config.py")
    for section, keys in DEFAULTS.items():
        for key in keys:
            assert f'"{key}"' in code, f"setting [{section}] {key} is never read"
