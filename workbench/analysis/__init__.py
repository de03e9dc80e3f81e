"""Parsing and feature code shared by workers; one module per concern (workers stay small)."""
