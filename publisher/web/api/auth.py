"""Who is calling the API: a bearer token, its scopes, and its share of the request rate.

``Authorization: Bearer nlt_…``. No token, or one that is not (or no longer)
valid, is 401 with ``WWW-Authenticate: Bearer``; a valid token without the
scope a route needs is 403. Each token may make
``NEWSLETTER_API_REQUESTS_PER_MINUTE`` requests per clock minute, counted in
Redis so every web process shares the count; above it the answer is 429 with
``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from publisher.accounts.roles import Actor, Scope
from publisher.accounts.tokens import TokenInfo, token_for
from publisher.core.throttle import FixedWindowLimit
from publisher.web.api.problems import ApiProblem
from publisher.web.deps import Context, WebContext, client_ip

MINUTE = 60

bearer = HTTPBearer(auto_error=False, description="An API token (`nlt_…`) from `newsletter tokens create`.")


def _unauthorized(detail: str, error: str | None = None) -> ApiProblem:
    challenge = f'Bearer realm="newsletter", error="{error}"' if error else 'Bearer realm="newsletter"'
    return ApiProblem(401, detail, headers={"WWW-Authenticate": challenge})


def request_limit(ctx: WebContext) -> FixedWindowLimit:
    return FixedWindowLimit(ctx.redis, ctx.settings.secret, "api-token", ctx.settings.api_requests_per_minute, window_seconds=MINUTE)


def _within_rate(ctx: WebContext, token: TokenInfo) -> None:
    verdict = request_limit(ctx).hit(str(token.id))
    if not verdict.allowed:
        raise ApiProblem(
            429,
            f"this token made more than {ctx.settings.api_requests_per_minute} requests this minute; try again in {verdict.retry_after} s",
            headers={"Retry-After": str(verdict.retry_after)},
        )


def require(scope: Scope) -> Callable[..., Actor]:
    """A dependency that answers with the calling token as an Actor, if it has ``scope``."""

    def authorised(request: Request, ctx: Context, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Actor:
        if credentials is None:
            raise _unauthorized("send an API token: Authorization: Bearer nlt_…")
        token = token_for(ctx.db, credentials.credentials)
        if token is None:
            raise _unauthorized("the token is not valid: it was revoked, or never issued", "invalid_token")
        _within_rate(ctx, token)
        if scope not in token.scopes:
            raise ApiProblem(
                403,
                f"the token {token.name} lacks the scope {scope.value} this call needs",
                headers={"WWW-Authenticate": f'Bearer realm="newsletter", error="insufficient_scope", scope="{scope.value}"'},
            )
        return Actor(kind="token", name=token.name, scopes=frozenset(token.scopes), ip=client_ip(request, ctx.settings))

    return authorised


CampaignsRead = Annotated[Actor, Depends(require(Scope.CAMPAIGNS_READ))]
CampaignsWrite = Annotated[Actor, Depends(require(Scope.CAMPAIGNS_WRITE))]
CampaignsSend = Annotated[Actor, Depends(require(Scope.CAMPAIGNS_SEND))]
SubscribersRead = Annotated[Actor, Depends(require(Scope.SUBSCRIBERS_READ))]
SubscribersWrite = Annotated[Actor, Depends(require(Scope.SUBSCRIBERS_WRITE))]
