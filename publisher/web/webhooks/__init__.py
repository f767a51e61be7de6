"""Provider webhooks, one module each: ``publisher/web/webhooks/<provider>.py`` registers its handler.

``base`` holds what they share; the route that serves them is ``publisher.web.routes.webhooks``.
"""
