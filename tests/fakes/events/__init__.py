"""Stand-ins for the event platforms' APIs the worker reads (Eventbrite, Luma), built like the email providers' fake.

They live in their own package so that ``tests.fakes.server.all_handlers``
(every email provider) never serves them.
"""
