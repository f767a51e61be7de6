"""The console at /console: marketing's pages for drafting, previewing, testing, sending and watching campaigns.

Server-rendered with Jinja2; htmx (vendored under ``templates/static``)
makes preview and progress live, and every page works without it.
"""
