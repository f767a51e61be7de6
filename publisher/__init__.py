"""The publisher, in layers, lowest first: core, db, content and audience, feedback, ledger, queue, web, cli.

See docs/architecture.md.
"""
