"""Runs chains off the gevent loop in N long-lived worker processes, one task per process at a time.

Pipe workers (gevent.subprocess + msgpack frames) were the fastest and most robust option measured in
../shared/notes/spikes.md: 50-85 us a task, and a crashed or hung task costs only its own process, which is
killed and replaced while the others go on.
"""

from __future__ import annotations

import logging
import signal
import sys
from typing import Any

import gevent
import gevent.queue
from gevent import subprocess

from workbench import exceptions
from workbench.exceptions import WorkerCrashed, WorkerTimeout
from workbench.server.chain_runner import ChainResult
from workbench.server.pipe_protocol import read_frame, write_frame

log = logging.getLogger(__name__)
STARTUP_TIMEOUT = 60.0
RESPAWN_RETRY_S = 1.0


class _Child:
    """One worker process and its pipes."""

    def __init__(self, init: dict[str, Any]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "workbench.server.pool_worker"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        with gevent.Timeout(STARTUP_TIMEOUT, exceptions.StoreError("worker process did not start in time")):
            write_frame(self.proc.stdin, init)
            self.pid = read_frame(self.proc.stdout)["ready"]

    def kill(self) -> int | None:
        try:
            self.proc.kill()
        except OSError:
            pass
        return self.proc.wait()


class ProcessPool:
    """``run()`` blocks only the calling greenlet; other clients are served meanwhile."""

    def __init__(self, size: int, init: dict[str, Any]) -> None:
        self.size = size
        self._init = init
        self._free: gevent.queue.Queue = gevent.queue.Queue()
        self._children: set[_Child] = set()
        self.replaced = 0
        self._closed = False
        for child in gevent.joinall([gevent.spawn(_Child, init) for _ in range(size)], raise_error=True):
            self._add(child.value)

    def _add(self, child: _Child) -> None:
        self._children.add(child)
        self._free.put(child)

    def _replace(self, child: _Child) -> int | None:
        """Kill ``child`` and start a fresh process in its place; its exit code (negative: killed by a signal)."""
        self._children.discard(child)
        code = child.kill()
        self.replaced += 1
        gevent.spawn(self._respawn).join()  # in its own greenlet: a caller killed meanwhile cannot stop it
        return code

    def _respawn(self) -> None:
        """Start one process; if that fails, retry in the background so the pool never shrinks for good."""
        if self._closed:
            return
        try:
            self._add(_Child(self._init))
        except Exception:  # noqa: BLE001 - any start-up failure: keep the request's own error, retry later
            log.exception("could not start a worker process; retrying in %g s", RESPAWN_RETRY_S)
            gevent.spawn_later(RESPAWN_RETRY_S, self._respawn)

    def _recover(self, child: _Child, timeout: float) -> None:
        """The caller went away mid-task: wait for the child's pending reply, then reuse it (or replace it)."""
        try:
            with gevent.Timeout(timeout):
                reply = read_frame(child.proc.stdout)
        except BaseException:  # noqa: BLE001 - timeout, EOF or a torn frame: the process cannot be trusted
            reply = {"error": "WorkerCrashed"}
        if reply.get("error") == "WorkerCrashed":  # (a process that ran out of memory exits after replying)
            self._replace(child)
        else:
            self._free.put(child)

    def alive(self) -> int:
        """How many worker processes are running."""
        return sum(1 for c in self._children if c.proc.poll() is None)

    def run(self, worker: str, md5: str, timeout: float, force: bool = False,
            generation: int | None = None) -> ChainResult:
        """Run a chain in a free process; a hang past ``timeout`` or a dead process costs only that process.

        ``generation`` is the front's plugin generation: a process reloads worker files only when it changes."""
        child: _Child = self._free.get()
        timer = gevent.Timeout(timeout)
        timer.start()
        try:
            write_frame(child.proc.stdin, {"worker": worker, "md5": md5, "force": force, "generation": generation})
            reply = read_frame(child.proc.stdout)
        except gevent.Timeout as exc:
            if exc is not timer:  # someone else's timeout: the caller is leaving, as below
                gevent.spawn(self._recover, child, timeout)
                raise
            self._replace(child)
            raise WorkerTimeout(f"chain for worker {worker!r} on sample {md5} ran past {timeout:g} s and its "
                                "process was killed; raise the worker's timeout or [server] worker_timeout") from None
        except (EOFError, OSError):
            code = self._replace(child)
            if code == -signal.SIGPROF:
                raise WorkerTimeout(f"worker {worker!r} on sample {md5} was stuck in native code past its timeout "
                                    "and its process was killed; raise the worker's timeout or [server] "
                                    "worker_timeout if the sample is legitimately big") from None
            raise WorkerCrashed(f"the process running worker {worker!r} on sample {md5} died ({_exit_reason(code)}); "
                                "the pool replaced it. The worker or a library it uses crashed on this sample"
                                ) from None
        except BaseException:
            gevent.spawn(self._recover, child, timeout)  # caller killed (a client dropped its stream)
            raise
        finally:
            timer.close()
        if reply.get("error") == "WorkerCrashed":
            self._replace(child)
        else:
            self._free.put(child)
        if not reply["ok"]:
            error_class = getattr(exceptions, reply["error"], exceptions.WorkerFailed)
            raise error_class(reply["message"])
        return ChainResult(output=reply["output"], ran=reply["ran"], sample_reads=reply["sample_reads"])

    def close(self) -> None:
        """Stop every worker process (they also exit on their own when the server dies)."""
        self._closed = True
        for child in list(self._children):
            child.kill()
        self._children.clear()


def _exit_reason(code: int | None) -> str:
    """'exit code 3' or 'killed by signal SIGSEGV' for a process's return code."""
    if code is not None and code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class LocalExecutor:
    """Runs chains in the calling process (``procs = 0``): for debugging, notebooks and in-memory stores.

    No timeout or memory limit can be enforced here, and a long chain blocks the event loop.
    """

    size = 0
    replaced = 0

    def __init__(self, runner: Any) -> None:
        self.runner = runner

    def alive(self) -> int:
        """No worker processes in local mode."""
        return 0

    def run(self, worker: str, md5: str, timeout: float, force: bool = False,
            generation: int | None = None) -> ChainResult:
        """Run the chain right here (this process's plugins are the front's: no reload needed)."""
        return self.runner.run(worker, md5, force=force)

    def close(self) -> None:
        """Nothing to stop."""
