"""Runs chains off the gevent loop in N long-lived worker processes, one chain per process at a time.

Pipe workers (gevent.subprocess + msgpack frames) were the fastest and most robust option measured in
../shared/notes/spikes.md: 50-85 us a task, and a crashed or hung task costs only its own process, which is
killed and replaced while the others go on.

Each process also holds the next task in its pipe (``prefetch``, default 1), so it starts the next chain the
moment it finishes one instead of idling through a round trip to the server (bench/bench_chain.py: --procs 1
went from 0.88 to 0.98 of the direct-call floor in one interleaved run). As with Celery's prefetch, a task
queued behind a long chain waits for it: set ``prefetch = 0`` when chains range from milliseconds to minutes.
A queued task's timeout starts when its process reaches it, and a task whose process died or was killed before
reaching it never ran: it goes to another process.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections import deque
from pathlib import Path
from typing import Any

import gevent
import gevent.event
from gevent import subprocess

import workbench
from workbench import exceptions
from workbench.exceptions import ServerUnavailable, WorkerCrashed, WorkerTimeout
from workbench.server.execution.chain_runner import ChainResult
from workbench.server.execution.pipe_protocol import EncodedOutput, read_frame, write_frame
from workbench.server.planning.chain_plan import ChainPlan

# The worker processes import the very package this server runs, whatever the current folder holds (started
# from a checkout of the original Workbench, ``-m workbench...`` would find its workbench/ folder first).
PACKAGE_ROOT = str(Path(workbench.__file__).resolve().parent.parent)
WORKER_ENTRY = (f"import sys; sys.path.insert(0, {PACKAGE_ROOT!r}); "
                "from workbench.server.execution.pool_worker import main; main()")
log = logging.getLogger(__name__)
STARTUP_TIMEOUT = 60.0
RESPAWN_RETRY_S = 1.0


class _Task:
    """One chain plan (as sent to a process) and the caller's slot for its answer."""

    __slots__ = ("request", "timeout", "answer", "abandoned")

    def __init__(self, request: dict[str, Any], timeout: float) -> None:
        self.request, self.timeout = request, timeout
        self.answer = gevent.event.AsyncResult()
        self.abandoned = False  # the caller went away: never send it; if sent, its answer is dropped


class _Child:
    """One worker process, its pipes, and the tasks written to it (answered in the order written)."""

    def __init__(self, init: dict[str, Any]) -> None:
        self.pending: deque[_Task] = deque()
        self.deadline: Any = None  # the timer of the task it is running
        self.timed_out: _Task | None = None
        self.proc = subprocess.Popen([sys.executable, "-c", WORKER_ENTRY], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)
        try:
            with gevent.Timeout(STARTUP_TIMEOUT, ServerUnavailable(
                    f"a worker process did not start within {STARTUP_TIMEOUT:g} s; the server cannot run chains")):
                write_frame(self.proc.stdin, init)
                self.pid = read_frame(self.proc.stdout)["ready"]
        except BaseException:
            self.kill()
            raise

    def kill(self) -> int | None:
        try:
            self.proc.kill()
        except OSError:
            pass
        return self.proc.wait()


class ProcessPool:
    """``run()`` blocks only the calling greenlet; other clients are served meanwhile."""

    def __init__(self, size: int, init: dict[str, Any], prefetch: int = 1) -> None:
        self.size = size
        self.replaced = 0
        self._init = init
        self._depth = 1 + max(0, prefetch)
        self._children: list[_Child] = []
        self._waiting: deque[_Task] = deque()
        self._closed = False
        starting = [gevent.spawn(_Child, init) for _ in range(size)]
        try:
            gevent.joinall(starting, raise_error=True)
        except BaseException:
            for greenlet in starting:
                if greenlet.successful():
                    greenlet.value.kill()
            raise
        for greenlet in starting:
            self._add(greenlet.value)

    def alive(self) -> int:
        """How many worker processes are running."""
        return sum(1 for c in self._children if c.proc.poll() is None)

    def load(self) -> dict[str, Any]:
        """Tasks each worker process holds (running plus prefetched), and tasks waiting for a process."""
        return {"held": [len(c.pending) for c in self._children], "waiting": len(self._waiting)}

    def run(self, plan: ChainPlan) -> ChainResult:
        """Run a plan in a worker process; a hang past ``plan.timeout`` or a dead process costs only that process.

        A process reloads worker files only when the plan's generation (the front's) differs from its last."""
        if plan.output is not None:  # nothing to run: a cache hit needs no process
            return ChainResult(relayable=plan.output)
        if self._closed:
            raise ServerUnavailable("the server is shutting down")
        task = _Task(plan.to_wire(), plan.timeout)
        self._waiting.append(task)
        self._feed()
        try:
            return task.answer.get()
        finally:
            task.abandoned = True  # answered, or the caller was killed (a client dropped its stream)

    def call(self, function: str, args: list[Any], timeout: float, what: str) -> Any:
        """Run ``function(store, *args)`` (a name in pool_calls.CALLS) in a worker process, with a chain's timeout
        and crash handling; ``what`` names the work in those errors."""
        if self._closed:
            raise ServerUnavailable("the server is shutting down")
        task = _Task({"call": function, "args": args, "worker": function, "md5": what}, timeout)
        self._waiting.append(task)
        self._feed()
        try:
            return task.answer.get().relayable  # a function's answer (never encoded)
        finally:
            task.abandoned = True

    def close(self) -> None:
        """Stop every worker process (they also exit on their own when the server dies)."""
        self._closed = True
        gone = ServerUnavailable("the server is shutting down")
        for child in self._children:
            child.kill()
            for task in child.pending:
                task.answer.set_exception(gone)
        for task in self._waiting:
            task.answer.set_exception(gone)
        self._children.clear()
        self._waiting.clear()

    # --- feeding processes ---------------------------------------------------------------------------
    def _add(self, child: _Child) -> None:
        self._children.append(child)
        gevent.spawn(self._read_replies, child)
        self._feed()

    def _feed(self) -> None:
        """Hand waiting tasks, oldest first, to the least loaded processes with room."""
        while self._waiting:
            if self._waiting[0].abandoned:
                self._waiting.popleft()
                continue
            child = min(self._children, key=lambda c: len(c.pending), default=None)
            if child is None or len(child.pending) >= self._depth:
                return
            task = self._waiting.popleft()
            child.pending.append(task)
            if len(child.pending) == 1:
                self._start_clock(child)
            try:
                write_frame(child.proc.stdin, task.request)
            except OSError:
                pass  # the process is gone: its reader sees the end of the pipe and hands the task on

    def _start_clock(self, child: _Child) -> None:
        """The task at the head of ``child`` is now running: kill the process if it passes its timeout."""
        task = child.pending[0]
        child.deadline = gevent.get_hub().loop.timer(task.timeout)
        child.deadline.start(self._expire, child, task)

    @staticmethod
    def _expire(child: _Child, task: _Task) -> None:
        if child.pending and child.pending[0] is task:
            child.timed_out = task
            try:
                child.proc.kill()  # its reader sees the end of the pipe and reports the timeout
            except OSError:
                pass

    # --- answers ----------------------------------------------------------------------------------------
    def _read_replies(self, child: _Child) -> None:
        """Deliver ``child``'s answers in order; on a death, a timeout or a garbled answer, replace it."""
        try:
            while True:
                reply = read_frame(child.proc.stdout)
                if not child.pending:
                    raise EOFError("an answer nobody asked for")
                if reply["ok"]:
                    # a chain's output as its process encoded it, or a function call's (ProcessPool.call) answer
                    output = EncodedOutput.from_wire(reply) if "packed" in reply else reply["output"]
                    result = ChainResult(relayable=output, ran=reply["ran"], sample_reads=reply["sample_reads"])
                else:
                    error = getattr(exceptions, reply["error"], exceptions.WorkerFailed)(reply["message"])
                task = child.pending.popleft()
                child.deadline.close()
                if child.pending:
                    self._start_clock(child)
                if reply["ok"]:
                    task.answer.set(result)
                else:
                    task.answer.set_exception(error)
                self._feed()
        except (EOFError, OSError, KeyError, TypeError, ValueError) as exc:
            if self._closed:
                return
            if not isinstance(exc, EOFError | OSError):
                log.error("worker process %s sent a garbled answer (%s); replacing it", child.pid, exc)
            self._retire(child, child.pending.popleft() if child.pending else None)

    def _retire(self, child: _Child, failed: _Task | None) -> None:
        """Kill and replace ``child``; ``failed`` (the task it was running) gets the error, the rest run elsewhere."""
        if child.deadline is not None:
            child.deadline.close()
        if child in self._children:
            self._children.remove(child)
        code = child.kill()
        self.replaced += 1
        unstarted = list(child.pending)
        child.pending.clear()
        if failed is not None and child.timed_out not in (None, failed):
            unstarted.insert(0, failed)  # killed for the task before it, whose answer came just too late
            failed = None
        self._waiting.extendleft(reversed(unstarted))
        gevent.spawn(self._respawn).join()  # the error is reported with the pool back at full size
        if failed is not None:
            failed.answer.set_exception(self._death_error(failed, child, code))
        self._feed()

    @staticmethod
    def _death_error(task: _Task, child: _Child, code: int | None) -> exceptions.WorkbenchError:
        worker, md5, timeout = task.request["worker"], task.request["md5"], task.timeout
        if child.timed_out is task:
            return WorkerTimeout(f"chain for worker {worker!r} on sample {md5} ran past {timeout:g} s and its "
                                 "process was killed; raise the worker's timeout or [server] worker_timeout")
        if code == -signal.SIGPROF:
            return WorkerTimeout(f"worker {worker!r} on sample {md5} was stuck in native code past its timeout "
                                 "and its process was killed; raise the worker's timeout or [server] "
                                 "worker_timeout if the sample is legitimately big")
        return WorkerCrashed(f"the process running worker {worker!r} on sample {md5} died ({_exit_reason(code)}); "
                             "the pool replaced it. The worker or a library it uses crashed on this sample")

    def _respawn(self) -> None:
        """Start one process; if that fails, retry in the background so the pool never shrinks for good."""
        if self._closed:
            return
        try:
            child = _Child(self._init)
        except Exception:  # noqa: BLE001 - any start-up failure: keep the request's own error, retry later
            log.exception("could not start a worker process; retrying in %g s", RESPAWN_RETRY_S)
            gevent.spawn_later(RESPAWN_RETRY_S, self._respawn)
            return
        if self._closed:
            child.kill()
            return
        self._add(child)


def _exit_reason(code: int | None) -> str:
    """'exit code 3' or 'killed by signal SIGSEGV' for a process's return code."""
    if code is not None and code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
