"""The chain plan: everything a request for (worker, md5) needs decided, decided once, in the front.

For each worker of the chain (dependencies first) the plan holds its chain version and one status, given by
``judge`` (the only place that rule is written): ``cached`` (a stored output made by the same code),
``stale`` (a stored output made by other code, and which workers changed), ``not_applicable`` (the sample's
type_tag is not one the worker accepts) or ``to_run``. A cache hit is the plan with nothing to run, ``explain``
prints the plan, ``test_worker`` is the plan with every step marked to run, and the executor runs the steps
marked to run (``ChainRunner.run``), trusting the plan.

The shape of a chain (closure, versions, chain versions, timeout) depends only on the worker, the sample's
type_tag and the plugin generation, so ``ChainPlanner`` works it out once per generation; a plan adds what the
store holds for this sample (one query for the whole chain, outputs left unread).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from workbench.exceptions import UnknownMD5, WorkerNotApplicable
from workbench.server.data_store.base import DataStore
from workbench.server.planning.plugin_manager import PluginManager, chain_hash

CACHED, STALE, NOT_APPLICABLE, TO_RUN = "cached", "stale", "not_applicable", "to_run"
DATA_FILE_CHECK_S = 1.0  # how often the front stats the data files workers declare (an edit is seen within this)
TIMEOUT_SLACK_S = 10.0  # a chain's time budget: its workers' timeouts plus this, for process start-up


@dataclass(frozen=True, slots=True)
class StepShape:
    """One worker of a chain for one type_tag and plugin generation: all that judging it needs but the store."""

    worker: str
    version: str
    dependencies: tuple[str, ...]
    versions: dict[str, str]  # every worker this step's output depends on (stored beside the output)
    chain_version: str
    cacheable: bool
    applies_to: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ChainShape:
    """A chain for one type_tag and plugin generation: its steps (dependencies first) and time budget."""

    worker: str
    type_tag: str | None
    steps: tuple[StepShape, ...]
    timeout: float
    generation: int


def judge(step: StepShape, type_tag: str | None, stored: dict[str, Any] | None, run_all: bool) -> tuple[str, str]:
    """Cached, stale, not applicable, or to run: ``(status, reason)`` for one step. The rule, written once.

    ``stored`` is the stored output's ``chain_version``/``versions``/``time`` (None: nothing stored);
    ``type_tag`` None means it was not read (a stored output then proves the worker applied)."""
    if type_tag is not None and step.applies_to and type_tag not in step.applies_to:
        return NOT_APPLICABLE, f"applies to {'/'.join(step.applies_to)}, sample is {type_tag!r}"
    if run_all:
        return TO_RUN, "test_worker runs every step afresh"
    if not step.cacheable:
        return TO_RUN, "not cacheable: its output depends on other samples"
    if stored is None:
        return TO_RUN, "no stored output for this sample yet"
    if stored["chain_version"] == step.chain_version:
        return CACHED, f"stored {stored['time']}, code unchanged"
    changed = sorted(w for w in step.versions if stored["versions"].get(w) != step.versions[w])
    return STALE, f"code changed since {stored['time']} in: {', '.join(changed)}"


@dataclass(slots=True)
class Step:
    """One judged step of a plan."""

    shape: StepShape
    status: str
    reason: str
    stored: str | None = None  # when the stored output was made (cached or stale steps)

    @property
    def worker(self) -> str:
        """The step's worker name."""
        return self.shape.worker


@dataclass(slots=True)
class ChainPlan:
    """What to do for (worker, md5): each step judged, the time budget, and the sample's info read once.

    ``output`` is the top worker's stored output when it is cached: then there is nothing to run."""

    worker: str
    md5: str
    type_tag: str | None
    steps: list[Step]
    timeout: float
    generation: int
    sample: dict[str, Any] | None = None
    output: dict[str, Any] | None = None
    _by_name: dict[str, Step] | None = field(default=None, repr=False)

    @property
    def to_run(self) -> list[str]:
        """The workers this plan runs, in order (empty for a cache hit)."""
        return [s.worker for s in self.steps if s.status in (TO_RUN, STALE)]

    def step(self, name: str) -> Step:
        """The step of worker ``name``."""
        if self._by_name is None:
            self._by_name = {s.worker: s for s in self.steps}
        return self._by_name[name]

    def check_runnable(self) -> None:
        """WorkerNotApplicable when a step cannot run on this sample (named for the requested worker)."""
        for step in self.steps:
            if step.status == NOT_APPLICABLE:
                message = (f"worker {step.worker!r} applies to type_tag {'/'.join(step.shape.applies_to)}; sample "
                           f"{self.md5} is {self.type_tag!r}. Pick a worker for {self.type_tag!r} (see "
                           "list_all_workers) or re-tag the sample")
                if step.worker != self.worker:
                    message += f" (needed by {self.worker!r})"
                raise WorkerNotApplicable(message)

    def explain(self) -> dict[str, Any]:
        """The plan as a document: for each worker, its version, dependencies, status and why."""
        rows = []
        for step in self.steps:
            row = {"worker": step.worker, "version": step.shape.version,
                   "dependencies": list(step.shape.dependencies), "status": step.status, "reason": step.reason}
            if step.status == CACHED:
                row["stored"] = step.stored
            rows.append(row)
        return {"worker": self.worker, "md5": self.md5, "type_tag": self.type_tag, "plan": rows}

    def to_wire(self) -> dict[str, Any]:
        """What a worker process needs to run the plan (msgpack types): steps, their versions, the sample info."""
        return {"worker": self.worker, "md5": self.md5, "type_tag": self.type_tag, "timeout": self.timeout,
                "generation": self.generation, "sample": self.sample,
                "steps": [[s.worker, s.status, s.shape.version, list(s.shape.dependencies), s.shape.versions,
                           s.shape.chain_version, s.shape.cacheable] for s in self.steps]}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> ChainPlan:
        """The plan a worker process received."""
        steps = [Step(StepShape(name, version, tuple(deps), versions, chain_version, cacheable, ()), status, "")
                 for name, status, version, deps, versions, chain_version, cacheable in wire["steps"]]
        return cls(wire["worker"], wire["md5"], wire["type_tag"], steps, wire["timeout"], wire["generation"],
                   wire["sample"])


class ChainPlanner:
    """Makes chain plans: chain shapes once per plugin generation, then one look at the store per request."""

    def __init__(self, store: DataStore, plugins: PluginManager, default_timeout: float) -> None:
        self.store, self.plugins = store, plugins
        self.default_timeout = default_timeout
        self._generation = -1
        self._shapes: dict[tuple[str, str | None], ChainShape] = {}
        self._dispatches: dict[str, bool] = {}
        self._versions: dict[str, str] = {}

    def _current(self) -> None:
        """Forget shapes and versions of an older plugin generation (after stat-ing data files if due)."""
        self._check_data_files()
        if self._generation != self.plugins.generation or len(self._shapes) > 4096:
            self._generation = self.plugins.generation
            self._shapes.clear()
            self._dispatches.clear()
            self._versions.clear()

    def needs_type_tag(self, worker: str) -> bool:
        """Whether some worker of the chain dispatches on the sample's type_tag (then the shape depends on it)."""
        self._current()
        return self._needs_type_tag(worker)

    def _needs_type_tag(self, worker: str) -> bool:
        found = self._dispatches.get(worker)
        if found is None:
            found = self._dispatches[worker] = any(self.plugins.get(w).dispatch for w in self.plugins.closure(worker))
        return found

    def shape(self, worker: str, type_tag: str | None) -> ChainShape:
        """The chain of ``worker`` for ``type_tag`` (None: without dispatch targets), made once per generation.

        The closure is walked once (dependencies first, so a step's own closure is the union of its
        dependencies'), every worker's version read once per generation, every step's chain version hashed once."""
        self._current()
        return self._shape(worker, type_tag)

    def _shape(self, worker: str, type_tag: str | None) -> ChainShape:
        shape = self._shapes.get((worker, type_tag))
        if shape is not None:
            return shape
        plugins = self.plugins
        closure = plugins.closure(worker, type_tag)
        loaded = {name: plugins.get(name) for name in closure}
        for name in closure:
            if name not in self._versions:
                self._versions[name] = loaded[name].version()
        below: dict[str, set[str]] = {}
        steps = []
        for name in closure:
            deps = tuple(plugins.dependencies_of(name, type_tag))
            below[name] = {name}.union(*(below[d] for d in deps if d in below))
            versions = {w: self._versions[w] for w in closure if w in below[name]}
            steps.append(StepShape(name, versions[name], deps, versions, chain_hash(versions),
                                   loaded[name].cacheable, loaded[name].applies_to))
        timeout = sum(w.timeout or self.default_timeout for w in loaded.values()) + TIMEOUT_SLACK_S
        shape = ChainShape(worker, type_tag, tuple(steps), timeout, plugins.generation)
        self._shapes[(worker, type_tag)] = shape
        return shape

    def _check_data_files(self) -> None:
        """Stat declared data files about once a second (unless the server's reload loop just did): an edited
        rule file starts a new generation."""
        if time.monotonic() - self.plugins.data_checked_at >= DATA_FILE_CHECK_S:
            self.plugins.check_data_files()

    def _sample(self, md5: str) -> dict[str, Any]:
        info = self.store.get_sample_info(md5)
        if info is None:
            raise UnknownMD5(f"no sample with md5 {md5}; store it first with store_sample")
        return info

    def plan(self, worker: str, md5: str, run_all: bool = False, every_step: bool = False,
             top_missed: bool = False) -> ChainPlan:
        """The plan for ``worker`` on ``md5``.

        A cached top worker ends planning at once (one point read; the sample is read only when the chain
        dispatches on its type_tag). Otherwise the sample's info is read once and every step judged from one
        query for the chain's stored versions. ``every_step`` judges every step even when the top is cached
        (``explain``); ``run_all`` marks every step to run (``test_worker``); ``top_missed`` says the caller's
        batch query found no valid stored output of the top worker already (no second look: a one-step chain is
        planned from the sample's info alone)."""
        self._current()
        dispatches = self._needs_type_tag(worker)
        sample = self._sample(md5) if dispatches or every_step or run_all else None
        shape = self._shape(worker, sample["type_tag"] if dispatches else None)
        top = shape.steps[-1]
        if top.cacheable and not (run_all or every_step or top_missed):
            doc = self.store.get_output(md5, worker)
            status, reason = judge(top, sample and sample["type_tag"], doc, run_all=False)
            if status == CACHED:
                return ChainPlan(worker, md5, sample and sample["type_tag"], [Step(top, status, reason, doc["time"])],
                                 shape.timeout, shape.generation, sample, doc["output"])
        if sample is None:
            sample = self._sample(md5)
        type_tag = sample["type_tag"]
        looked_up = [s.worker for s in shape.steps if s.cacheable and not (top_missed and s is top)]
        stored = self.store.get_output_stamps(md5, looked_up) if looked_up else {}
        steps = []
        for step in shape.steps:
            found = stored.get(step.worker)
            status, reason = judge(step, type_tag, found, run_all)
            if top_missed and step is top and step.cacheable and status == TO_RUN:
                reason = "no valid stored output (the batch's query missed it)"
            steps.append(Step(step, status, reason, found["time"] if found else None))
        return ChainPlan(worker, md5, type_tag, steps, shape.timeout, shape.generation, sample)

    def cached_outputs(self, worker: str, md5s: list[str]) -> dict[str, dict[str, Any]]:
        """The plans with nothing to run among many samples, in one store query: ``{md5: output}``. Only for
        chains that do not dispatch on the type_tag (``needs_type_tag(worker)`` is False)."""
        top = self.shape(worker, None).steps[-1]
        if not top.cacheable:
            return {}
        return {md5: doc["output"] for md5, doc in self.store.get_outputs(md5s, worker).items()
                if doc["chain_version"] == top.chain_version}
