"""The Workbench server: RPC service, plugin manager, chain runner, process pool and data stores."""
