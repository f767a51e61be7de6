"""Events: who registered and who came, from the platforms events run on, and what happens when one ends.

``catalogue`` keeps the events themselves, ``registrants`` their people,
``endings`` a platform's "ended" signal until its quiet period has passed.
The platforms' own formats (CSV exports, webhooks: ``platforms``) are read
into these by the modules beside them.
"""
