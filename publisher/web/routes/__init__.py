"""The web app's routes, one module per resource; ``publisher.web.app`` gathers them."""
