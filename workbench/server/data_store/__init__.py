"""Data store backends behind one interface, chosen by URI: ``sqlite:///path`` or ``mongodb://host:port/db``."""

from __future__ import annotations

from workbench.exceptions import BadArgument
from workbench.server.data_store.base import DataStore

__all__ = ["DataStore", "open_store"]


def open_store(uri: str) -> DataStore:
    """Open the backend a URI names. ``mongomock://`` is an in-memory stand-in for tests, not MongoDB."""
    if uri.startswith("sqlite://"):
        from workbench.server.data_store.sqlite_store import SqliteStore

        return SqliteStore(uri)
    if uri.startswith(("mongodb://", "mongodb+srv://", "mongomock://")):
        from workbench.server.data_store.mongo_store import MongoStore

        return MongoStore(uri)
    raise BadArgument(f"unknown datastore URI {uri!r}; use sqlite:///path/to/workbench.db or mongodb://host:port/db")
