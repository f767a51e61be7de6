"""Shared test factories and helpers: imported by the tests and by ``conftest.py``, never the other way round."""
