"""Layered settings: defaults in code -> config.ini -> WORKBENCH_<SECTION>_<KEY> env -> command line.

Every key and default lives in ``DEFAULTS`` below and nowhere else; config.ini repeats them commented.
Values that start with ``./`` or ``../`` are paths relative to the config file's folder.
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.exceptions import BadArgument

DEFAULTS: dict[str, dict[str, Any]] = {
    "server": {
        "bind": "127.0.0.1",
        "port": 4242,
        "datastore": "sqlite:///~/.local/share/workbench/workbench.db",
        "plugin_dirs": "",
        "procs": "auto",
        "prefetch": 1,
        "worker_timeout": 60.0,
        "worker_memory_mb": 2048,
        "max_sample_size_mb": 256,
        "samples_cap_mb": 0,
        "sample_set_days": 7.0,
        "max_message_mb": 64,
        "max_inflight_per_client": 64,
        "stream_batch_size": 100,
        "stream_linger_ms": 20.0,
        "curve_secret_key": "",
        "curve_authorized_keys_dir": "",
        "health_port": 0,
        "group_address": "",
        "server_name": "",
        "lease_seconds": 10.0,
        "group_chunk": 8,
        "group_in_flight": 8,
        "web_port": 0,
        "web_token": "",
    },
    "client": {
        "server": "localhost",
        "port": 4242,
        "timeout": 120.0,
        "heartbeat": 5.0,
        "curve_secret_key": "",
        "curve_server_key": "",
    },
}

REPO_CONFIG = Path(__file__).resolve().parent.parent / "config.ini"


def find_config_file(explicit: str | None = None) -> Path | None:
    """The config file in force: --config, $WORKBENCH_CONFIG, ./config.ini, then the source tree's."""
    for candidate in (explicit, os.environ.get("WORKBENCH_CONFIG"), "config.ini", REPO_CONFIG):
        if candidate and Path(candidate).expanduser().is_file():
            return Path(candidate).expanduser().resolve()
    if explicit:
        raise BadArgument(f"config file {explicit!r} does not exist; pass an existing path to --config")
    return None


_KINDS = {int: "a whole number", float: "a number"}


def _convert(section: str, key: str, raw: Any, default: Any) -> Any:
    if raw is None or isinstance(default, str) or default is None:
        return raw
    try:
        if isinstance(default, bool):
            return str(raw).strip().lower() in ("1", "true", "yes", "on")
        return type(default)(str(raw).strip())  # via str, so 0.01 for a whole-number setting is refused
    except (TypeError, ValueError):
        raise BadArgument(
            f"setting [{section}] {key} = {raw!r} is not {_KINDS.get(type(default), type(default).__name__)}; "
            "fix it in config.ini, the environment or the command line"
        ) from None


@dataclass
class Config:
    """Resolved settings. ``get`` for framework keys, ``worker_options`` for ``[worker.NAME]`` sections."""

    path: Path | None = None
    values: dict[str, dict[str, Any]] = field(default_factory=dict)

    def get(self, section: str, key: str) -> Any:
        """One setting, typed like its default."""
        return self.values[section][key]

    def set(self, section: str, key: str, value: Any) -> None:
        """Override one setting (the command line layer); None means 'not given' and changes nothing."""
        if value is not None:
            self.values.setdefault(section, {})[key] = _convert(
                section, key, value, DEFAULTS.get(section, {}).get(key)
            )

    def worker_options(self, worker: str, defaults: dict[str, Any]) -> dict[str, Any]:
        """A worker's ``options`` with ``[worker.NAME]`` and env overrides applied, typed like the defaults."""
        section = f"worker.{worker}"
        given = self.values.get(section, {})
        merged = dict(defaults)
        for key, default in defaults.items():
            env = os.environ.get(f"WORKBENCH_WORKER_{worker.upper()}_{key.upper()}")
            raw = env if env is not None else given.get(key)
            if raw is not None:
                merged[key] = self.resolve_path(_convert(section, key, raw, default))
        return merged

    def resolve_path(self, value: Any) -> Any:
        """A value starting with ./ or ../ made absolute from the config file's folder; others unchanged."""
        if isinstance(value, str) and value.startswith(("./", "../")) and self.path is not None:
            return str((self.path.parent / value).resolve())
        return value

    def path_setting(self, section: str, key: str) -> str:
        """A setting holding a path: ``~`` expanded, relative paths taken from the config file's folder."""
        return os.path.expanduser(self.resolve_path(self.get(section, key)))

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """All settings, for handing to worker processes."""
        return {section: dict(keys) for section, keys in self.values.items()}


def load_config(explicit_path: str | None = None) -> Config:
    """Defaults, then the config file, then WORKBENCH_<SECTION>_<KEY> environment variables."""
    path = find_config_file(explicit_path)
    values: dict[str, dict[str, Any]] = {s: dict(keys) for s, keys in DEFAULTS.items()}
    config = Config(path=path, values=values)
    if path is not None:
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(path)
        for section in parser.sections():
            known = DEFAULTS.get(section)
            if known is None and not section.startswith("worker."):
                raise BadArgument(f"{path}: unknown section [{section}]; known: {sorted(DEFAULTS)} or [worker.NAME]")
            for key, raw in parser.items(section):
                if known is not None and key not in known:
                    raise BadArgument(f"{path}: unknown key {key!r} in [{section}]; known: {sorted(known)}")
                if known is None:
                    values.setdefault(section, {})[key] = raw
                else:
                    config.set(section, key, raw)
    for section, keys in DEFAULTS.items():
        for key in keys:
            env = os.environ.get(f"WORKBENCH_{section.upper()}_{key.upper()}")
            if env is not None:
                config.set(section, key, env)
    return config


def config_from_dict(path: str | None, values: dict[str, dict[str, Any]]) -> Config:
    """Rebuild a Config handed over by ``as_dict`` (worker processes)."""
    return Config(path=Path(path) if path else None, values=values)
