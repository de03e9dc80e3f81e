"""Running planned chains: the process pool, its worker processes, their pipe protocol, the chain runner."""
