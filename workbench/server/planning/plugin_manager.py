"""Loads worker modules from plugin folders, validates them, and reloads them when their files change.

A worker that fails to import or validate is recorded with the reason and skipped; loading never fails.
Modules are imported under a private package name (``workbench_workers.NAME``), never via sys.path.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import importlib.util
import inspect
import logging
import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench import contract
from workbench.config import Config
from workbench.exceptions import BadArgument, UnknownWorker
from workbench.server.planning import data_files

log = logging.getLogger(__name__)

BUILTIN_DIR = Path(__file__).resolve().parents[2] / "workers"
HELPER_DIR = Path(__file__).resolve().parents[2] / "analysis"
HELPER_PACKAGE = "workbench.analysis"
PRIVATE_PACKAGE = "workbench_workers"


def helper_imports(source: bytes) -> set[str]:
    """Names of the ``workbench.analysis`` modules a source file imports directly."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == HELPER_PACKAGE:
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(HELPER_PACKAGE + "."):
            found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[2] for a in node.names if a.name.startswith(HELPER_PACKAGE + "."))
    return {name for name in found if (HELPER_DIR / f"{name}.py").is_file()}


@dataclass
class LoadedWorker:
    """One worker module as loaded: its instance and declared attributes, or why it failed."""

    name: str
    path: Path
    source_hash: str
    instance: Any = None
    dependencies: list[str] = field(default_factory=list)
    doc: str = ""
    error: str | None = None
    applies_to: tuple[str, ...] = ()
    dispatch: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None
    cacheable: bool = True
    helpers: set[str] = field(default_factory=set)
    data_files: tuple[str, ...] = ()
    data_stamp: tuple = ()
    data_hash: str = ""

    @property
    def ok(self) -> bool:
        """Loaded and valid."""
        return self.error is None

    @property
    def summary(self) -> str:
        """The class docstring's first line: the worker's help summary (``doc`` adds the module docstring)."""
        return self.doc.strip().splitlines()[0] if self.doc.strip() else ""

    def version(self) -> str:
        """The worker's own version: its ``version`` attribute, else the hash of its source and helper modules;
        with the content hash of its declared data files appended."""
        declared = getattr(self.instance, "version", None)
        own = str(declared) if declared is not None else self.source_hash
        return f"{own}:{self.data_hash}" if self.data_files else own

    def data_paths(self) -> list[str]:
        """The paths its ``data_files`` options name (as configured; empty when unset)."""
        options = getattr(self.instance, "options", None) or {}
        return [str(options.get(key) or "") for key in self.data_files]

    def check_data_files(self) -> bool:
        """Re-hash the declared data files if their stamp changed; True when the hash changed."""
        if not self.data_files:
            return False
        paths = self.data_paths()
        current = data_files.stamp(paths)
        if current == self.data_stamp:
            return False
        self.data_stamp = current
        before, self.data_hash = self.data_hash, data_files.content_hash(paths)
        return before != self.data_hash


def _file_signature(path: Path) -> tuple[int, int]:
    st = path.stat()
    return (st.st_mtime_ns, st.st_size)


class PluginManager:
    """The set of loaded workers, kept in step with the plugin folders by ``refresh()``."""

    def __init__(self, plugin_dirs: list[str | Path] | None = None, config: Config | None = None,
                 include_builtin: bool = True) -> None:
        dirs = [BUILTIN_DIR] if include_builtin else []
        dirs += [Path(d).expanduser().resolve() for d in plugin_dirs or []]
        self.dirs = dirs
        self.config = config
        self._workers: dict[str, LoadedWorker] = {}
        self._signatures: dict[Path, tuple[int, int]] = {}
        self._helpers: dict[str, tuple[tuple[int, int], bytes, set[str]]] = {}
        self.generation = 0
        self.data_checked_at = 0.0  # time.monotonic() of the last data-file check (refresh() does one too)
        if PRIVATE_PACKAGE not in sys.modules:
            package = types.ModuleType(PRIVATE_PACKAGE)
            package.__path__ = []
            sys.modules[PRIVATE_PACKAGE] = package
        self.refresh()

    # --- loading -----------------------------------------------------------------------------------
    def _scan(self) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for folder in self.dirs:
            if not folder.is_dir():
                log.warning("plugin folder %s does not exist; skipped", folder)
                continue
            for path in sorted(folder.glob("*.py")):
                if not path.name.startswith("_"):
                    found[path.stem] = path  # a later folder overrides a worker of the same name
        return found

    def _refresh_helpers(self) -> set[str]:
        """Reload changed ``workbench/analysis`` modules (dependencies first); return the changed names."""
        changed: set[str] = set()
        for path in HELPER_DIR.glob("*.py"):
            signature = _file_signature(path)
            known = self._helpers.get(path.stem)
            if known is None or known[0] != signature:
                source = path.read_bytes()
                self._helpers[path.stem] = (signature, source, helper_imports(source))
                if known is not None:
                    changed.add(path.stem)
        stale = {name for name in self._helpers if self._helper_closure({name}) & changed}
        for name in self._helper_order(stale):
            module = sys.modules.get(f"{HELPER_PACKAGE}.{name}")
            if module is not None:
                try:
                    importlib.reload(module)
                except Exception:  # the workers importing it will fail to load and say why
                    sys.modules.pop(f"{HELPER_PACKAGE}.{name}", None)
        return stale

    def _helper_closure(self, names: set[str]) -> set[str]:
        seen: set[str] = set()
        stack = list(names)
        while stack:
            name = stack.pop()
            if name not in seen and name in self._helpers:
                seen.add(name)
                stack.extend(self._helpers[name][2])
        return seen

    def _helper_order(self, names: set[str]) -> list[str]:
        """``names`` with each module after the modules it imports (reload order)."""
        order: list[str] = []
        visiting: set[str] = set()

        def visit(name: str) -> None:
            if name in order or name in visiting or name not in names:
                return
            visiting.add(name)
            for dep in sorted(self._helpers[name][2]):
                visit(dep)
            order.append(name)

        for name in sorted(names):
            visit(name)
        return order

    def _source_hash(self, source: bytes) -> str:
        """A hash of the worker's file and every analysis module it imports, directly or not."""
        digest = hashlib.sha1(source)
        for name in sorted(self._helper_closure(helper_imports(source))):
            digest.update(self._helpers[name][1])
        return digest.hexdigest()[:12]

    def refresh(self) -> bool:
        """Load new or changed worker files (or workers whose analysis modules changed), drop deleted ones."""
        changed_helpers = self._refresh_helpers()
        found = self._scan()
        changed = False
        for name in list(self._workers):
            if name not in found:
                del self._workers[name]
                sys.modules.pop(f"{PRIVATE_PACKAGE}.{name}", None)
                changed = True
        for name, path in found.items():
            try:
                signature = _file_signature(path)
            except OSError:
                continue
            current = self._workers.get(name)
            if (current is not None and current.path == path and self._signatures.get(path) == signature
                    and not (changed_helpers and changed_helpers & current.helpers)):
                continue
            self._signatures[path] = signature
            self._workers[name] = self._load(name, path)
            changed = True
        changed = self.check_data_files(bump=False) or changed
        if changed:
            self._validate_graph()
            self.generation += 1
            failed = {n: w.error for n, w in self._workers.items() if w.error}
            log.info("workers loaded: %d ok, %d failed", len(self._workers) - len(failed), len(failed))
            for name, error in failed.items():
                log.warning("worker %s skipped: %s", name, error)
        return changed

    def check_data_files(self, bump: bool = True) -> bool:
        """Stat the data files workers declare (a few ``stat`` calls, no reload); when one's contents changed,
        fold the new hash into that worker's version and start a new generation. True if anything changed."""
        changed = False
        self.data_checked_at = time.monotonic()
        for worker in self._workers.values():
            if worker.ok and worker.data_files:
                changed = worker.check_data_files() or changed
        if changed and bump:
            self.generation += 1
        return changed

    def _load(self, name: str, path: Path) -> LoadedWorker:
        source = path.read_bytes()
        loaded = LoadedWorker(name=name, path=path, source_hash=self._source_hash(source),
                              helpers=self._helper_closure(helper_imports(source)))
        where = f"(from {path})"
        if name in contract.RESERVED_NAMES:
            loaded.error = f"the name {name!r} is reserved; rename the file {where}"
            return loaded
        module_name = f"{PRIVATE_PACKAGE}.{name}"
        try:
            spec = importlib.util.spec_from_file_location(module_name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
            cls = self._find_class(module)
            instance = cls()
            if isinstance(getattr(cls, "options", None), dict):
                options = dict(cls.options)
                instance.options = self.config.worker_options(name, options) if self.config else options
        except Exception as exc:  # a broken worker must never break loading
            sys.modules.pop(module_name, None)
            loaded.error = f"{type(exc).__name__}: {exc} {where}"
            return loaded
        loaded.instance = instance
        class_doc, module_doc = inspect.getdoc(cls) or "", inspect.getdoc(module) or ""
        loaded.doc = class_doc if module_doc in class_doc else f"{class_doc}\n\n{module_doc}".strip()
        loaded.dependencies = list(getattr(cls, "dependencies", []))
        loaded.applies_to = tuple(getattr(cls, "applies_to", ()) or ())
        loaded.dispatch = dict(getattr(cls, "dispatch", {}) or {})
        loaded.timeout = getattr(cls, "timeout", None)
        loaded.cacheable = bool(getattr(cls, "cacheable", True))
        loaded.data_files = tuple(getattr(cls, "data_files", ()) or ())
        loaded.error = self._check_shape(cls, where) or self._check_data_files(cls, where)
        return loaded

    @staticmethod
    def _check_data_files(cls: type, where: str) -> str | None:
        declared = getattr(cls, "data_files", ())
        options = getattr(cls, "options", None)
        if not declared:
            return None
        if not isinstance(declared, list | tuple) or not all(isinstance(k, str) for k in declared):
            return f"TypeError: 'data_files' must be a tuple of option names, got {declared!r} {where}"
        missing = [k for k in declared if not isinstance(options, dict) or k not in options]
        if missing:
            return f"TypeError: 'data_files' names {missing}, which are not keys of 'options' {where}"
        return None

    @staticmethod
    def _find_class(module: types.ModuleType) -> type:
        classes = [obj for obj in vars(module).values()
                   if inspect.isclass(obj) and obj.__module__ == module.__name__ and hasattr(obj, "execute")]
        if len(classes) != 1:
            names = [c.__name__ for c in classes]
            raise TypeError(f"expected one class with an execute() method, found {len(classes)}: {names}")
        return classes[0]

    @staticmethod
    def _check_shape(cls: type, where: str) -> str | None:
        deps = getattr(cls, "dependencies", None)
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            return f"TypeError: 'dependencies' must be a list of worker names, got {deps!r} {where}"
        execute = getattr(cls, "execute", None)
        if not callable(execute):
            return f"TypeError: 'execute' is not callable {where}"
        try:
            inspect.signature(execute).bind(None, {})
        except TypeError:
            return f"TypeError: execute() must take one argument, input_data {where}"
        return None

    def _validate_graph(self) -> None:
        """Mark workers with unknown, failed or cyclic dependencies as failed (repeat until stable)."""
        for worker in self._workers.values():
            if worker.error and worker.error.startswith("DependencyError"):
                worker.error = None
        changed = True
        while changed:
            changed = False
            for worker in self._workers.values():
                if worker.error or worker.instance is None:
                    continue
                reason = self._dependency_problem(worker)
                if reason:
                    worker.error = f"DependencyError: {reason} (from {worker.path})"
                    changed = True

    def _dependency_problem(self, worker: LoadedWorker) -> str | None:
        for dep in worker.dependencies:
            if dep in contract.PSEUDO_DEPENDENCIES:
                continue
            target = self._workers.get(dep)
            if target is None:
                return f"depends on unknown worker {dep!r}"
            if target.error:
                return f"depends on worker {dep!r}, which failed to load"
        if self._on_cycle(worker.name):
            return "its dependencies form a cycle"
        return None

    def _on_cycle(self, start: str) -> bool:
        stack, seen = list(self._workers[start].dependencies), set()
        while stack:
            name = stack.pop()
            if name == start:
                return True
            if name in seen or name not in self._workers:
                continue
            seen.add(name)
            stack.extend(self._workers[name].dependencies)
        return False

    # --- queries -----------------------------------------------------------------------------------
    def all(self) -> dict[str, LoadedWorker]:
        """Every worker found, loaded or failed."""
        return dict(self._workers)

    def get(self, name: str) -> LoadedWorker:
        """A loaded, valid worker, or UnknownWorker naming the loaded ones and the closest match."""
        if not isinstance(name, str):
            raise BadArgument(f"a worker name is a string, got {type(name).__name__} {name!r:.80}")
        worker = self._workers.get(name)
        if worker is not None and worker.ok:
            return worker
        if worker is not None:
            raise UnknownWorker(f"worker {name!r} failed to load: {worker.error}; fix the file and retry")
        if name in contract.RETIRED_WORKERS:
            raise UnknownWorker(f"worker {name!r} was one of the original Workbench's Rekall memory-image workers; "
                                "memory images are out of scope here (see README, 'Coming from the original')")
        loaded = sorted(n for n, w in self._workers.items() if w.ok)
        close = difflib.get_close_matches(str(name), loaded, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UnknownWorker(f"unknown worker {name!r}{hint} loaded workers: {', '.join(loaded)}")

    def closure(self, name: str, type_tag: str | None = None) -> list[str]:
        """``name`` and every worker below it, dependencies first (dispatch targets for ``type_tag`` included)."""
        order: list[str] = []

        def visit(current: str) -> None:
            if current in order or current in contract.PSEUDO_DEPENDENCIES:
                return
            for dep in self.dependencies_of(current, type_tag):
                visit(dep)
            order.append(current)

        visit(name)
        return order

    def dependencies_of(self, name: str, type_tag: str | None) -> list[str]:
        """Declared dependencies plus the dispatch target for ``type_tag`` when that worker is loaded."""
        worker = self.get(name)
        deps = list(worker.dependencies)
        target = worker.dispatch.get(type_tag or "")
        if target and target not in deps and target in self._workers and self._workers[target].ok:
            deps.append(target)
        return deps

    def chain_version(self, name: str, type_tag: str | None = None) -> tuple[str, dict[str, str]]:
        """A hash over the versions of every worker in the chain, and those versions by worker name (the chain
        plan works these out once per generation for every step: see planning/chain_plan.py)."""
        versions = {w: self.get(w).version() for w in self.closure(name, type_tag)}
        return chain_hash(versions), versions


def chain_hash(versions: dict[str, str]) -> str:
    """The chain version: a hash over the versions of every worker in a chain, by name."""
    text = "|".join(f"{w}={v}" for w, v in sorted(versions.items()))
    return hashlib.sha1(text.encode()).hexdigest()[:16]
