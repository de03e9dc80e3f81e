"""Plugin loading and validation (issue 2): broken workers are reported and skipped, never fatal."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from workbench.exceptions import UnknownWorker
from workbench.server.plugin_manager import PluginManager

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
