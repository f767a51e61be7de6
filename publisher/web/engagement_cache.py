"""The campaign page's opens and clicks, computed at most once every ``REFRESH`` per campaign by its live fragment.

While a campaign sends, its page's progress fragment is rendered every
second. The engagement summary in it (unique figures, top links, the
timeline) reads every engagement of the campaign: about two seconds of
database work at 100,000 engaged recipients, far too much to repeat every
second for every open page. Opens trickle in over hours, so the fragment
reuses a summary for ``REFRESH``; a page load always computes it afresh.

One cache per application (``WebContext.engagements``), keyed by campaign;
entries older than ``REFRESH`` are dropped whenever one is added, so it
holds only the campaigns someone is watching.
"""

from __future__ import annotations

import datetime as dt
import threading

from publisher.core.clock import utcnow
from publisher.tracking.summary import EngagementSummary

#: How long the live fragment reuses a campaign's engagement summary.
REFRESH = dt.timedelta(seconds=30)


class EngagementCache:
    def __init__(self, refresh: dt.timedelta = REFRESH) -> None:
        self.refresh = refresh
        self._entries: dict[int, tuple[dt.datetime, EngagementSummary]] = {}
        # Fragments are rendered on the server's thread pool: one stream per open page.
        self._lock = threading.Lock()

    def recent(self, campaign_id: int) -> EngagementSummary | None:
        """The summary kept for ``campaign_id`` if it is younger than ``refresh``, else None."""
        with self._lock:
            entry = self._entries.get(campaign_id)
        if entry is None or utcnow() - entry[0] >= self.refresh:
            return None
        return entry[1]

    def keep(self, campaign_id: int, summary: EngagementSummary) -> None:
        """Keep ``summary`` for ``campaign_id`` as of now, dropping the entries too old to be used."""
        now = utcnow()
        with self._lock:
            for stale in [k for k, (at, _) in self._entries.items() if now - at >= self.refresh]:
                del self._entries[stale]
            self._entries[campaign_id] = (now, summary)
