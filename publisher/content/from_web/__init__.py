"""A recap from a page on the web: marketing's blog post about the event, or the newest item of its feed.

``page`` reads an HTML page (its title, its date and its article, found by
readability-lxml), ``html_to_markdown`` writes the article as recap Markdown
(markdownify, on a tree cleaned against our allow-lists), ``feeds`` finds a
feed's newest item, and ``recaps`` puts it together as recap text. Fetching is :mod:`publisher.core.fetching`: https only, public
addresses only, with a deadline and a size limit.
"""
