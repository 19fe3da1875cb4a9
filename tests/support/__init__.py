"""Shared pytest fixture plugins, registered by `tests/conftest.py`."""
