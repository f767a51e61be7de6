"""Events: who registered and who came, from the platforms events run on, and what happens when one ends.

``catalogue`` keeps the events themselves, ``registrants`` their people.
The platforms' own formats (CSV exports, webhooks) are read into these by
the modules beside them.
"""
