"""The remote API: validates arguments and delegates to Workbench. Only WorkbenchRPC's public methods are callable:
the calls on samples, on work, on the corpus and on the server, each group in its own module beside this one.

Method names are the original Workbench's, so its clients keep working. Every error reaches the client as a
zerorpc RemoteError whose name is the exception class (UnknownMD5, UnknownWorker, WorkerFailed...).
"""

from __future__ import annotations

import logging

import zerorpc

from workbench.exceptions import WorkbenchError
from workbench.server.rpc.corpus_calls import CorpusCalls
from workbench.server.rpc.rpc_limits import LimitedServer
from workbench.server.rpc.sample_calls import SampleCalls
from workbench.server.rpc.server_calls import ServerCalls
from workbench.server.rpc.work_calls import WorkCalls
from workbench.server.workbench import Workbench

log = logging.getLogger(__name__)


class WorkbenchRPC(SampleCalls, WorkCalls, CorpusCalls, ServerCalls):
    """Workbench over zerorpc: the calls, grouped by what they are about, each in its module."""

    def __init__(self, workbench: Workbench) -> None:
        self._wb = workbench


class ApiServer(LimitedServer):
    """zerorpc.Server that answers expected errors (WorkbenchError) with their message only, logged in one line.

    Unexpected errors keep zerorpc's behaviour: a logged traceback, sent to the client too. Per-client limits
    (in-flight bound, message size, CURVE key check) come from LimitedServer.
    """

    def _print_traceback(self, protocol_v1: bool, exc_infos: list) -> tuple:
        exc_type, exc_value, _ = exc_infos
        if isinstance(exc_value, zerorpc.LostRemote):  # a client left mid-call (Ctrl-C, closed): routine, one line
            log.info("client went away: %s", exc_value)
            return (repr(exc_value),) if protocol_v1 else (exc_type.__name__, str(exc_value), None)
        if not isinstance(exc_value, WorkbenchError):
            return super()._print_traceback(protocol_v1, exc_infos)
        log.info("refused: %s: %s", exc_type.__name__, exc_value)
        return (repr(exc_value),) if protocol_v1 else (exc_type.__name__, str(exc_value), None)
