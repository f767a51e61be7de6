"""Delivering one batch: claim, compose, call the provider, record; provider state, rate limit and metrics."""
