"""``newsletter webhooks add|list|remove|enable``: the endpoints outgoing webhooks are sent to (docs/outgoing-webhooks.md)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from publisher.cli.common import cli_settings, command_database, err, out, reported_errors
from publisher.cli.terminal import safe, safe_json, safe_table

app = typer.Typer(no_args_is_help=True, help="Outgoing webhooks: endpoints, their event types, enabling one again.")

EVENTS = "campaign.sending, campaign.completed, delivery.bounced, delivery.complained, subscriber.confirmed, subscriber.unsubscribed"
#: The largest id an endpoint can have (publisher.db.models.MAX_ID, not imported: it would load SQLAlchemy for --help).
MAX_ENDPOINT_ID = 2**31 - 1
EndpointId = Annotated[int, typer.Argument(min=1, max=MAX_ENDPOINT_ID, help="The endpoint's id (see `newsletter webhooks list`).")]


@app.command("add")
def webhooks_add(
    url: Annotated[str, typer.Argument(help="Where the calls go: an https URL (plain http to loopback only, for tests).")],
    event: Annotated[list[str], typer.Option("--event", help=f"An event type to send (repeat for more): {EVENTS}.")],
) -> None:
    """Add an endpoint; its signing secret (whsec_…) is printed once, alone on the last line."""
    from publisher.accounts import audit
    from publisher.accounts.roles import CLI_ACTOR
    from publisher.core.fetching import FetchPolicy
    from publisher.outgoing_webhooks.endpoints import add_endpoint

    settings = cli_settings()
    with reported_errors(), command_database(settings) as db:
        info, secret = add_endpoint(db, url, event, FetchPolicy.of(settings), CLI_ACTOR.label)
        audit.log(db, CLI_ACTOR, audit.Action.WEBHOOK_ADDED, target=f"endpoint {info.id}", detail=info.url[:1000])
    out.print(f"endpoint {info.id}")
    err.print(safe(f"sends {', '.join(info.event_types)} to {info.url}; its signing secret is shown once:"), soft_wrap=True)
    sys.stderr.flush()
    sys.stdout.flush()
    print(secret, flush=True)


@app.command("list")
def webhooks_list(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """List endpoints: URL, event types, enabled or disabled (and why), failures in a row, messages waiting or failed (no secret)."""
    from publisher.outgoing_webhooks.endpoints import list_endpoints

    settings = cli_settings()
    with reported_errors(), command_database(settings) as db:
        endpoints = list_endpoints(db)
    if as_json:
        print(safe_json([endpoint.as_dict() for endpoint in endpoints]))
        return
    rows = (
        [
            str(endpoint.id),
            endpoint.url,
            " ".join(endpoint.event_types),
            "enabled" if endpoint.enabled else f"disabled: {endpoint.disabled_reason or ''}",
            str(endpoint.consecutive_failures),
            str(endpoint.waiting) + (f" ({endpoint.failed} failed)" if endpoint.failed else ""),
        ]
        for endpoint in endpoints
    )
    out.print(safe_table("Webhook endpoints", ("id", "url", "events", "state", "failures", "waiting"), rows))
    out.print(f"{len(endpoints)} endpoint(s)")


@app.command("remove")
def webhooks_remove(endpoint_id: EndpointId) -> None:
    """Remove an endpoint; the messages still waiting for it are dropped."""
    from publisher.accounts import audit
    from publisher.accounts.roles import CLI_ACTOR
    from publisher.outgoing_webhooks.endpoints import remove_endpoint

    settings = cli_settings()
    with reported_errors(), command_database(settings) as db:
        info = remove_endpoint(db, endpoint_id)
        audit.log(db, CLI_ACTOR, audit.Action.WEBHOOK_REMOVED, target=f"endpoint {info.id}", detail=info.url[:1000])
    out.print(f"endpoint {info.id} removed")


@app.command("enable")
def webhooks_enable(endpoint_id: EndpointId) -> None:
    """Enable an endpoint again (after it was disabled for failing): its waiting messages are queued for sending at once."""
    from publisher.accounts import audit
    from publisher.accounts.roles import CLI_ACTOR
    from publisher.outgoing_webhooks.endpoints import enable_endpoint

    settings = cli_settings()
    with reported_errors(), command_database(settings, webhooks=True) as db:
        info = enable_endpoint(db, endpoint_id)
        audit.log(db, CLI_ACTOR, audit.Action.WEBHOOK_ENABLED, target=f"endpoint {info.id}", detail=info.url[:1000])
    out.print(f"endpoint {info.id} enabled")
