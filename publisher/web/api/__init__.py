"""The HTTP API under ``/v1``: drafts, sending, campaign control and reports, lists and imports.

Callers are programs holding a bearer token (``publisher.web.api.auth``);
every error is an RFC 9457 problem (``publisher.web.api.problems``).
"""
