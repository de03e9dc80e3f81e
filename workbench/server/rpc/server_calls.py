"""RPC calls on the server itself: workers and help, clearing, version and status.

One of the groups WorkbenchRPC (rpc_service.py) is made of: each method validates and delegates to Workbench."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workbench import __version__
from workbench.server.rpc.help_text import help_text

if TYPE_CHECKING:
    from workbench.server.workbench import Workbench


class ServerCalls:
    """The server itself: workers and help, clearing, version and status."""

    _wb: Workbench

    def list_all_workers(self) -> list:
        """Every worker found, with status ok/failed (and why), summary and dependencies."""
        return self._wb.list_all_workers()

    def help(self, topic: str | None = None) -> str:
        """Help on a command or worker; with no topic, a list of all of them."""
        return help_text(topic, self._commands(), self._wb.plugins)

    def help_basic(self) -> str:
        """Getting started: the first calls to make (the original's name for help('basic'))."""
        return self.help("basic")

    def help_commands(self) -> str:
        """Every command with its summary (the original's name for help('commands'))."""
        return self.help("commands")

    def help_command(self, command: str) -> str:
        """Help on one command: its signature and docstring."""
        return self.help(command)

    def help_workers(self) -> str:
        """Every worker with its summary (the original's name for help('workers'))."""
        return self.help("workers")

    def help_worker(self, worker: str) -> str:
        """Help on one worker: what it needs, what it applies to, what it returns."""
        return self.help(worker)

    def clear_db(self) -> None:
        """Delete every sample, tag, set and output from the store."""
        return self._wb.clear_db()

    def clear_worker_output(self, worker_name: str | None = None) -> int:
        """Drop stored outputs of one worker (all with no name) so they are recomputed; returns the count."""
        return self._wb.clear_worker_output(worker_name)

    def version(self) -> str:
        """The server's Workbench version."""
        return __version__

    def get_datastore_uri(self) -> str:
        """The URI of the data store this server uses."""
        return self._wb.store.uri

    def info(self) -> dict:
        """Server status: version, store, sample count, workers, worker processes, cache hits."""
        return self._wb.info()

    def _commands(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in dir(self) if not name.startswith("_")}
