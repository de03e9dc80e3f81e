"""A long-lived worker process: owns one store connection and runs one chain plan at a time for the server.

Started by ProcessPool with pipes on stdin/stdout. It pulls the sample from the store itself (the work goes to
the data), exits when the server goes away (stdin EOF, or the parent-death signal), and keeps no gevent.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import resource
import signal
import sys

from workbench import exceptions
from workbench.config import config_from_dict
from workbench.server.data_store import open_store
from workbench.server.execution.chain_runner import ChainRunner, out_of_memory
from workbench.server.execution.pipe_protocol import EncodedOutput, read_frame, write_frame
from workbench.server.execution.pool_calls import call_function
from workbench.server.planning.chain_plan import ChainPlan
from workbench.server.planning.plugin_manager import PluginManager

log = logging.getLogger("workbench.pool_worker")


def _die_with_parent() -> None:
    try:  # a server that died before this line is noticed by the stdin EOF instead
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: a hung child must not outlive the server
    except OSError:
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the server stops us itself


def _limit_memory(megabytes: int) -> None:
    if megabytes > 0:
        limit = megabytes * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def freeze_startup_objects() -> None:
    """Keep start-up objects (workers, libraries, signatures) out of every garbage collection: freeze them.

    Measured on pe_features (long-lived processes, interleaved slices): freezing alone ran chains 12-17% faster
    than Python's defaults; raising the gen0 threshold on top gave less (10,000: +10%, 50,000: -1% against the
    defaults): garbage that lives longer keeps fresh memory out of the caches. ``PE.close()`` runs a full
    collection, which is why the workers never call it.
    """
    gc.collect()
    gc.freeze()


def serve(channel_in, channel_out) -> None:  # noqa: ANN001 - binary pipes
    """Answer run requests until the server closes the pipe."""
    init = read_frame(channel_in)
    config = config_from_dict(init["config_path"], init["config"])
    store = open_store(init["datastore"])
    plugins = PluginManager(init["plugin_dirs"], config)
    runner = ChainRunner(store, plugins, default_timeout=config.get("server", "worker_timeout"),
                         max_sample_bytes=config.get("server", "max_sample_size_mb") * 2**20,
                         enforce_timeouts=True)
    _limit_memory(config.get("server", "worker_memory_mb"))
    freeze_startup_objects()
    write_frame(channel_out, {"ready": os.getpid()})
    seen_generation = None
    while True:
        try:
            request = read_frame(channel_in)
        except EOFError:
            return
        is_call = "call" in request  # a server function (ProcessPool.call), not a chain: no worker reload
        if not is_call and (request.get("generation") is None or request["generation"] != seen_generation):
            plugins.refresh()  # the front saw worker files change (a refresh stats every file: not per task)
            seen_generation = request.get("generation")
        try:
            if is_call:
                reply = {"ok": True, "output": call_function(request["call"], store, request["args"]), "ran": [],
                         "sample_reads": 0}
            else:
                result = runner.run(ChainPlan.from_wire(request))
                reply = {"ok": True, **EncodedOutput.of(result.output).wire(), "ran": result.ran,  # relayed as it is
                         "sample_reads": result.sample_reads}
        except exceptions.WorkbenchError as exc:
            reply = {"ok": False, "error": type(exc).__name__, "message": str(exc)}
        except MemoryError:  # outside any worker (e.g. reading the sample): the same policy, see chain_runner
            reply = {"ok": False, "error": "WorkerFailed",
                     "message": out_of_memory(request.get("worker"), request.get("md5"), request.get("type_tag"))}
        except Exception as exc:  # a bug in the framework itself: report it, keep the process
            log.exception("internal error running %s on %s", request.get("worker"), request.get("md5"))
            reply = {"ok": False, "error": "WorkbenchError", "message": f"internal error: {type(exc).__name__}: {exc}"}
        write_frame(channel_out, reply)


def main() -> None:
    """Entry point: protocol on the original stdout; anything a worker prints goes to stderr."""
    _die_with_parent()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s pool-%(process)d %(name)s: %(message)s")
    channel_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    serve(sys.stdin.buffer, channel_out)


if __name__ == "__main__":
    main()
