"""Plugin loading and validation (issue 2): broken workers are reported and skipped, never fatal."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from workbench.exceptions import UnknownWorker
from workbench.server.planning.plugin_manager import PluginManager

GOOD = '''
class {cls}:
    """{cls} worker."""

    dependencies = {deps!r}

    def execute(self, input_data):
        return {{"ok": True}}
'''


def write(folder: Path, name: str, source: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.py").write_text(textwrap.dedent(source))


def good(name: str, deps: list[str]) -> str:
    return GOOD.format(cls=name.title().replace("_", ""), deps=deps)


def load(folder: Path) -> PluginManager:
    return PluginManager([folder], include_builtin=False)


def test_dependency_cycle_marks_every_worker_on_it_failed(tmp_path: Path) -> None:
    write(tmp_path, "a", good("a", ["b"]))
    write(tmp_path, "b", good("b", ["a"]))
    write(tmp_path, "c", good("c", ["sample"]))
    workers = load(tmp_path).all()
    assert "cycle" in workers["a"].error and "cycle" in workers["b"].error
    assert workers["c"].ok


def test_unknown_dependency_and_dependents_of_failed_workers_are_reported(tmp_path: Path) -> None:
    write(tmp_path, "lonely", good("lonely", ["no_such_worker"]))
    write(tmp_path, "above", good("above", ["lonely"]))
    workers = load(tmp_path).all()
    assert "depends on unknown worker 'no_such_worker'" in workers["lonely"].error
    assert "depends on worker 'lonely', which failed to load" in workers["above"].error


@pytest.mark.parametrize(("source", "reason"), [
    ("class A:\n    dependencies = 'sample'\n    def execute(self, d):\n        return {}\n", "must be a list"),
    ("class A:\n    dependencies = []\n    execute = 3\n", "not callable"),
    ("class A:\n    dependencies = []\n    def execute(self):\n        return {}\n", "must take one argument"),
    ("class A:\n    dependencies = []\n    def execute(self, d):\n        return {}\n"
     "class B:\n    dependencies = []\n    def execute(self, d):\n        return {}\n", "found 2"),
    ("raise RuntimeError('boom at import')\n", "RuntimeError: boom at import"),
    ("import no_such_module_anywhere\n", "ModuleNotFoundError"),
    ("class A:\n    dependencies = []\n    def __init__(self):\n        raise ValueError('bad init')\n"
     "    def execute(self, d):\n        return {}\n", "ValueError: bad init"),
])
def test_invalid_worker_module_is_skipped_with_its_reason(tmp_path: Path, source: str, reason: str) -> None:
    write(tmp_path, "broken", source)
    write(tmp_path, "fine", good("fine", ["sample"]))
    plugins = load(tmp_path)
    assert reason in plugins.all()["broken"].error
    assert str(tmp_path / "broken.py") in plugins.all()["broken"].error
    assert plugins.get("fine").ok
    with pytest.raises(UnknownWorker, match="'broken' failed to load"):
        plugins.get("broken")


def test_reserved_names_cannot_be_workers(tmp_path: Path) -> None:
    write(tmp_path, "sample", good("sample", []))
    assert "reserved" in load(tmp_path).all()["sample"].error


def test_chain_version_changes_when_any_worker_below_changes(tmp_path: Path) -> None:
    write(tmp_path, "low", good("low", ["sample"]))
    write(tmp_path, "high", good("high", ["low"]))
    plugins = load(tmp_path)
    before, versions = plugins.chain_version("high")
    assert set(versions) == {"low", "high"}
    write(tmp_path, "low", good("low", ["sample"]) + "\n# edited\n")
    assert plugins.refresh()
    after, _ = plugins.chain_version("high")
    assert after != before
    assert not plugins.refresh(), "an unchanged folder must not count as a change"


def test_declared_version_replaces_the_source_hash(tmp_path: Path) -> None:
    write(tmp_path, "pinned", good("pinned", ["sample"]).replace('dependencies', 'version = "7"\n    dependencies'))
    plugins = load(tmp_path)
    assert plugins.get("pinned").version() == "7"
    write(tmp_path, "pinned", good("pinned", ["sample"]).replace('dependencies', 'version = "7"\n    dependencies')
          + "\n# a comment does not change a pinned version\n")
    plugins.refresh()
    assert plugins.chain_version("pinned")[1] == {"pinned": "7"}


def test_unknown_worker_error_suggests_the_closest_name(tmp_path: Path) -> None:
    write(tmp_path, "pe_features", good("pe_features", ["sample"]))
    with pytest.raises(UnknownWorker, match=r"unknown worker 'pe_featres'; did you mean 'pe_features'\?"):
        load(tmp_path).get("pe_featres")


def test_workers_are_constructed_once_per_load_not_per_request(tmp_path: Path) -> None:
    write(tmp_path, "counted", '''
    import itertools
    BUILT = itertools.count()


    class Counted:
        """Counts constructions."""

        dependencies = ["sample"]

        def __init__(self):
            self.number = next(BUILT)

        def execute(self, input_data):
            return {"instance": self.number}
    ''')
    from workbench.testing import make_workbench

    workbench = make_workbench(tmp_path / "store", plugin_dirs=[str(tmp_path)])
    try:
        numbers = set()
        for index in range(100):
            md5 = workbench.store_sample(f"sample {index}".encode(), f"s{index}", "")
            numbers.add(workbench.work_request("counted", md5)["counted"]["instance"])
        assert numbers == {0}
    finally:
        workbench.close()


def test_editing_an_analysis_module_reloads_and_revalidates_the_workers_using_it(tmp_path: Path) -> None:
    from workbench.server.planning import plugin_manager as pm

    helpers = tmp_path / "analysis_copy"
    helpers.mkdir()
    (helpers / "shared_rule.py").write_text("ANSWER = 1\n")
    (helpers / "indirect.py").write_text("from workbench.analysis.shared_rule import ANSWER\n\nDOUBLE = ANSWER * 2\n")
    write(tmp_path / "workers", "uses_helper", '''
    from workbench.analysis import indirect


    class UsesHelper:
        """Reads a value from an analysis module."""

        dependencies = ["sample"]

        def execute(self, input_data):
            return {"double": indirect.DOUBLE}
    ''')
    original_dir, original_path = pm.HELPER_DIR, list(__import__("workbench.analysis").analysis.__path__)
    import workbench.analysis

    pm.HELPER_DIR = helpers
    workbench.analysis.__path__.insert(0, str(helpers))
    try:
        plugins = PluginManager([tmp_path / "workers"], include_builtin=False)
        worker = plugins.get("uses_helper")
        assert worker.helpers == {"indirect", "shared_rule"}
        assert worker.instance.execute({}) == {"double": 2}
        version = worker.version()
        (helpers / "shared_rule.py").write_text("ANSWER = 21\n# longer file, new size\n")
        assert plugins.refresh()
        worker = plugins.get("uses_helper")
        assert worker.instance.execute({}) == {"double": 42}, "both modules must be reloaded, in import order"
        assert worker.version() != version, "cached outputs made with the old helper must go stale"
    finally:
        pm.HELPER_DIR = original_dir
        workbench.analysis.__path__[:] = original_path
        for name in ("shared_rule", "indirect"):
            sys.modules.pop(f"workbench.analysis.{name}", None)
