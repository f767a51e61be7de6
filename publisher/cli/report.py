"""``newsletter report``: what became of one campaign."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from publisher.cli.common import CampaignId, cli_settings, out, reported_errors
from publisher.cli.report_engagement import show_engagement
from publisher.cli.terminal import safe, safe_json

app = typer.Typer()


if TYPE_CHECKING:
    from publisher.ledger.report import CampaignReport
    from publisher.ledger.subject_test_figures import SubjectTestReport

#: Rows of the text report: figure, and the base its rate is a share of (None: no rate).
ROWS: tuple[tuple[str, str | None], ...] = (
    ("recipients", None),
    ("sent", None),
    ("delivered", "sent"),
    ("bounced", "sent"),
    ("bounced_hard", None),
    ("bounced_soft", None),
    ("complained", "sent"),
    ("unsubscribed", "sent"),
    ("failed", "recipients"),
    ("in_doubt", None),
    ("suppressed", None),
    ("cancelled", None),
    ("pending", None),
)
LABELS = {"bounced_hard": "  hard", "bounced_soft": "  soft", "in_doubt": "in doubt", "pending": "not sent yet"}


@app.command()
def report(
    campaign_id: CampaignId,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show what became of a campaign: sent, delivered, bounced, complained, unsubscribed, failed, opens and clicks, with rates."""
    from publisher.db.engine import open_database
    from publisher.ledger.report import campaign_report

    with reported_errors():
        result = campaign_report(open_database(cli_settings().resolved_database_url), campaign_id)
    if as_json:
        print(safe_json(result.as_dict()))
        return
    show(result)


def show(result: CampaignReport) -> None:
    where = f"list {safe(result.list_name)}" if result.list_name else "no list"
    released = result.released_at.strftime("%Y-%m-%d %H:%M UTC") if result.released_at else "not released"
    test = ", test send" if result.is_test else ""
    out.print(f"campaign {result.id}: {safe(result.title)} ({where}, {result.status}, released {released}{test})", soft_wrap=True)
    if result.resend_of is not None:
        out.print(f"the resend of campaign {result.resend_of} to its non-openers: these figures are the resend's own")
    if result.resent_as is not None:
        out.print(f"resent to its non-openers as campaign {result.resent_as} (`newsletter report {result.resent_as}`)")
    figures, rates = result.figures, result.rates
    table = Table(box=None, pad_edge=False)
    table.add_column("figure")
    table.add_column("count", justify="right")
    table.add_column("rate", justify="right")
    for name, base in ROWS:
        rate = rates.get(name)
        if base is None:
            shown = ""
        elif rate is None:
            shown = "-"
        else:
            shown = f"{rate:.1%} of {base}"
        table.add_row(LABELS.get(name, name), str(figures[name]), shown)
    out.print(table)
    show_engagement(result)
    if result.subject_test is not None:
        show_subject_test(result.subject_test)


def show_subject_test(test: SubjectTestReport) -> None:
    """Each variant's test figures on the test's metric, the statistic and the decision."""
    out.print(f"subject test, on unique human {test.metric} of the test's recipients:")
    table = Table(box=None, pad_edge=False)
    for column, justify in (("variant", "right"), ("subject", "left"), ("sent", "right"), (test.metric, "right"), ("rate", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for variant in test.variants:
        share = variant.rate
        mark = " *" if variant.number == test.winner else ""
        shown = f"{share:.1%}" if share is not None else "-"
        table.add_row(f"{variant.number}{mark}", safe(variant.subject), str(variant.sent), str(variant.engaged), shown)
    out.print(table)
    if test.statistic is not None and test.p_value is not None:
        out.print(f"{test.statistic_name} = {test.statistic:.3f}, p = {test.p_value:.4f}")
    elif test.winner is not None:
        out.print("no test statistic: the figures could not be compared (no one sent, or no one or everyone engaged)")
    out.print(f"decision: {safe(test.verdict)}", soft_wrap=True)
