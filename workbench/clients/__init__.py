"""Thin clients: one script per job, all sharing client_helper."""
