"""The event platforms' webhooks, at /webhooks/events/…: Zoom, Eventbrite, Luma and any other platform.

They live apart from the provider webhooks (``publisher.web.webhooks``), whose
route discovers every module of its package: a platform's call is never a
provider's. Each platform's module here has one route; ``receiving`` holds
the sequence they share (verify, read, enqueue, answer), ``keyed`` the check
of those a key in their URL admits, and ``publisher.events.platforms`` what
each payload means.
"""
