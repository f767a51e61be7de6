"""Benchmarks, run by hand or by make targets (``make bench-render``); not collected by pytest."""
