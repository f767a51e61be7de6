"""Outgoing webhooks: endpoints operators register, and the events sent to them, signed (Standard Webhooks).

``events`` names the event types; ``endpoints`` adds, lists, removes and
enables endpoints; ``announce`` writes one message per event and endpoint in
the caller's transaction (the change and its message commit together, or
neither does); ``messages`` is the senders' side: claim the messages that
are due, record each answer, back off, disable an endpoint that keeps
failing. The HTTP call and the signature are the workers' (``workers/webhooks.py``).
"""
