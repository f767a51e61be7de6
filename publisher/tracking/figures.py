"""Who engaged with a campaign, counted once per recipient whatever the number of sources.

An open may be seen twice: by our pixel and by the provider's own, which
reports it through its webhook. Both are rows of ``engagements``; every figure
here counts distinct deliveries, so a reader seen by both counts once.

A click counts as an open: a reader who clicked read the email, even when
their client blocked the pixel. A recipient is a human opener when any of
their opens or clicks was classified human; the machine figures count the
recipients whose every open (or click) was a machine's, so the two add up to
everyone seen at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from publisher.db.models import Engagement, EngagementKind

Metric = Literal["opens", "clicks"]
METRICS: tuple[Metric, ...] = ("opens", "clicks")


def _kinds(metric: Metric) -> tuple[EngagementKind, ...]:
    # A click counts as an open.
    return (EngagementKind.OPEN, EngagementKind.CLICK) if metric == "opens" else (EngagementKind.CLICK,)


def engaged(delivery_id: ColumnElement[int] | InstrumentedAttribute[int], metric: Metric = "opens") -> ColumnElement[bool]:
    """The condition on ``engagements`` that a row is a human open or click of ``delivery_id``.

    For a correlated ``EXISTS`` (``exists().where(engaged(Delivery.id))``):
    one lookup of the record's engagements by their indexed delivery, where
    ``NOT IN (engaged_deliveries(…))`` would make PostgreSQL hash every one
    of the campaign's engaged ids, or worse, on a big campaign.
    """
    return and_(Engagement.delivery_id == delivery_id, Engagement.kind.in_(_kinds(metric)), Engagement.machine.is_(False))


def engaged_deliveries(campaign_id: int, metric: Metric = "opens", *, human: bool = True) -> Select[int]:
    """The ids of the campaign's deliveries with a human (or, with ``human=False``, any) open or click.

    A SELECT to use as a subquery (``Delivery.id.in_(…)``, ``~Delivery.id.in_(…)``)
    or to run; each id appears once.
    """
    query = select(Engagement.delivery_id).where(Engagement.campaign_id == campaign_id, Engagement.kind.in_(_kinds(metric)))
    if human:
        query = query.where(Engagement.machine.is_(False))
    return query.distinct()


@dataclass(frozen=True)
class UniqueFigures:
    """Unique recipients per metric: human, and machine only (never a human's)."""

    opened_human: int
    opened_machine: int
    clicked_human: int
    clicked_machine: int


def unique_figures(db: Session, campaign_id: int) -> UniqueFigures:
    """Count each recipient once per metric, as human if any of their engagements was human."""
    counts: dict[Metric, tuple[int, int]] = {}
    for metric in METRICS:
        anyone = engaged_deliveries(campaign_id, metric, human=False).subquery()
        humans = engaged_deliveries(campaign_id, metric).subquery()
        seen = db.scalar(select(func.count()).select_from(anyone)) or 0
        human = db.scalar(select(func.count()).select_from(humans)) or 0
        counts[metric] = (human, seen - human)
    return UniqueFigures(
        opened_human=counts["opens"][0],
        opened_machine=counts["opens"][1],
        clicked_human=counts["clicks"][0],
        clicked_machine=counts["clicks"][1],
    )
