"""Console sign-in: argon2 passwords, the session cookie, idle expiry, CSRF, throttled failures, security headers."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import time_machine
from sqlalchemy import select

from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import ConsoleSession, Role, User
from tests.support.console import PASSWORD, TIMEOUT, add_person, csrf_token, sign_in
from tests.support.types import ServeWeb

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ADA = "ada@modu.example"


def attempt(base_url: str, email: str, password: str, **extra: str) -> requests.Response:
    """One sign-in through the form, as a browser sends it: the page first, for its double-submit token."""
    client = requests.Session()
    fields = {"email": email, "password": password, "csrf_token": csrf_token(client, f"{base_url}/console/sign-in")} | extra
    return client.post(f"{base_url}/console/sign-in", data=fields, allow_redirects=False, timeout=TIMEOUT)


def test_a_page_without_a_session_redirects_to_sign_in_and_back(web_url: str) -> None:
    answer = requests.get(f"{web_url}/console/campaigns?status=draft", allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in?next=/console/campaigns%3Fstatus%3Ddraft"


def test_sign_in_sets_a_protected_session_cookie_and_stores_only_its_hash(db: Database, web_url: str) -> None:
    add_person(db, ADA)
    client = sign_in(web_url, ADA)
    cookie = next(c for c in client.cookies if c.name == "newsletter_console")
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.get_nonstandard_attr("SameSite") == "lax"
    assert not cookie.secure  # http public URL: a Secure cookie would never come back
    assert cookie.path == "/console"
    with db.transaction() as session:
        stored = session.scalars(select(ConsoleSession.token_hash)).all()
        password_hash = session.scalar(select(User.password_hash))
    assert cookie.value not in stored and len(stored) == 1
    assert password_hash is not None and password_hash.startswith("$argon2id$") and PASSWORD not in password_hash


def test_the_cookie_is_secure_when_the_public_url_is_https(db: Database, settings: Settings, serve_web: ServeWeb) -> None:
    base = serve_web(settings.model_copy(update={"public_url": "https://news.modu.example"}))
    add_person(db, ADA)
    page = requests.get(f"{base}/console/sign-in", timeout=TIMEOUT)
    assert "secure" in page.headers["set-cookie"].lower()
    # The client would not send a Secure cookie back over http: send it by hand, as a browser would over https.
    token = page.cookies["newsletter_console_signin"]
    fields = {"email": ADA, "password": PASSWORD, "csrf_token": token}
    cookies = {"newsletter_console_signin": token}
    answer = requests.post(f"{base}/console/sign-in", data=fields, cookies=cookies, allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 303
    assert "secure" in answer.headers["set-cookie"].lower()


def test_a_wrong_password_and_an_unknown_account_get_the_same_answer(db: Database, web_url: str) -> None:
    add_person(db, ADA)
    wrong = attempt(web_url, ADA, "not it at all")
    unknown = attempt(web_url, "nobody@modu.example", "x")
    assert wrong.status_code == unknown.status_code == 401
    assert "do not match an account" in wrong.text and "do not match an account" in unknown.text
    assert "newsletter_console=" not in wrong.headers["set-cookie"]


def test_sign_in_needs_the_forms_own_token_in_its_cookie_and_its_field(db: Database, web_url: str) -> None:
    add_person(db, ADA)
    url = f"{web_url}/console/sign-in"
    fields = {"email": ADA, "password": PASSWORD}
    # Another site's form: no cookie, or a token of its own in the field.
    assert requests.post(url, data=fields | {"csrf_token": "x" * 43}, allow_redirects=False, timeout=TIMEOUT).status_code == 403
    client = requests.Session()
    page = client.get(url, timeout=TIMEOUT)
    cookie = next(c for c in client.cookies if c.name == "newsletter_console_signin")
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.get_nonstandard_attr("SameSite") == "lax" and cookie.path == "/console"
    assert f'name="csrf_token" value="{cookie.value}"' in page.text
    forged = client.post(url, data=fields | {"csrf_token": "y" * 43}, allow_redirects=False, timeout=TIMEOUT)
    assert forged.status_code == 403 and "expired or did not come from this site" in forged.text
    assert client.post(url, data=fields, allow_redirects=False, timeout=TIMEOUT).status_code == 403
    with db.transaction() as session:
        assert session.scalars(select(ConsoleSession)).all() == []
    signed_in = client.post(url, data=fields | {"csrf_token": cookie.value}, allow_redirects=False, timeout=TIMEOUT)
    assert signed_in.status_code == 303
    assert not any(c.name == "newsletter_console_signin" for c in client.cookies)


def test_sign_out_needs_the_csrf_token_and_ends_the_session(db: Database, web_url: str) -> None:
    add_person(db, ADA)
    client = sign_in(web_url, ADA)
    forged = client.post(f"{web_url}/console/sign-out", data={}, allow_redirects=False, timeout=TIMEOUT)
    assert forged.status_code == 403
    wrong = client.post(f"{web_url}/console/sign-out", data={"csrf_token": "guess"}, allow_redirects=False, timeout=TIMEOUT)
    assert wrong.status_code == 403
    token = csrf_token(client, f"{web_url}/console/campaigns")
    ended = client.post(f"{web_url}/console/sign-out", data={"csrf_token": token}, allow_redirects=False, timeout=TIMEOUT)
    assert ended.status_code == 303
    with db.transaction() as session:
        assert session.scalars(select(ConsoleSession)).all() == []
    again = client.get(f"{web_url}/console/campaigns", allow_redirects=False, timeout=TIMEOUT)
    assert again.status_code == 303 and again.headers["location"].startswith("/console/sign-in")


def test_a_session_ends_after_the_idle_limit_and_lives_while_used(db: Database, web_url: str, settings: Settings) -> None:
    add_person(db, ADA)
    client = sign_in(web_url, ADA)
    idle = dt.timedelta(minutes=settings.console_idle_minutes)
    start = dt.datetime.now(dt.UTC)
    # The server runs in this process: moving the clock moves its "now".
    with time_machine.travel(start + idle - dt.timedelta(minutes=2), tick=True):
        assert client.get(f"{web_url}/console/campaigns", allow_redirects=False, timeout=TIMEOUT).status_code == 200
    with time_machine.travel(start + 2 * idle - dt.timedelta(minutes=4), tick=True):
        assert client.get(f"{web_url}/console/campaigns", allow_redirects=False, timeout=TIMEOUT).status_code == 200
    with time_machine.travel(start + 3 * idle, tick=True):
        answer = client.get(f"{web_url}/console/campaigns", allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 303


#: Five seconds into a 15-minute throttle window, with the clock running: the window turns long after a test ends.
IN_A_WINDOW = dt.datetime(2026, 12, 4, 12, 0, 5, tzinfo=dt.UTC)


def test_failed_sign_ins_are_throttled_per_account(db: Database, settings: Settings, web_url: str) -> None:
    add_person(db, ADA)
    with time_machine.travel(IN_A_WINDOW, tick=True):
        # A right password gives its attempt back: only failures use up the allowance.
        assert attempt(web_url, ADA, "wrong").status_code == 401
        assert attempt(web_url, ADA, PASSWORD).status_code == 303
        for _ in range(settings.signin_account_limit - 1):
            assert attempt(web_url, ADA, "wrong").status_code == 401
        # Now even the right password is refused, without being checked, until the window ends.
        blocked = attempt(web_url, ADA, PASSWORD)
        assert blocked.status_code == 429
        assert 0 < int(blocked.headers["retry-after"]) <= 15 * 60 - 5
        assert "Too many failed sign-ins" in blocked.text
        # Another account from the same address is not blocked by this one's failures.
        add_person(db, "grace@modu.example", Role.VIEWER)
        assert sign_in(web_url, "grace@modu.example")


def test_failed_sign_ins_are_throttled_per_client_address(db: Database, settings: Settings, serve_web: ServeWeb) -> None:
    base = serve_web(settings.model_copy(update={"signin_ip_limit": 3}))
    add_person(db, ADA)
    with time_machine.travel(IN_A_WINDOW, tick=True):
        for number in range(3):
            assert attempt(base, f"guess{number}@modu.example", "x").status_code == 401
        assert attempt(base, ADA, PASSWORD).status_code == 429


def test_parallel_guesses_get_no_more_password_checks_than_the_limit(db: Database, settings: Settings, web_url: str) -> None:
    add_person(db, ADA)
    limit = settings.signin_account_limit
    client = requests.Session()
    fields = {"email": ADA, "password": "wrong", "csrf_token": csrf_token(client, f"{web_url}/console/sign-in")}

    def guess(_: int) -> int:
        return client.post(f"{web_url}/console/sign-in", data=fields, timeout=TIMEOUT).status_code

    with time_machine.travel(IN_A_WINDOW, tick=True), ThreadPoolExecutor(max_workers=4 * limit) as pool:
        answers = list(pool.map(guess, range(4 * limit)))
    assert sorted(answers) == [401] * limit + [429] * (3 * limit)


def test_console_pages_carry_a_strict_content_security_policy(web_url: str) -> None:
    answer = requests.get(f"{web_url}/console/sign-in", timeout=TIMEOUT)
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    assert answer.headers["x-frame-options"] == "DENY"
    assert 'autocomplete="current-password"' in answer.text


def test_sign_in_never_redirects_to_another_site(db: Database, web_url: str) -> None:
    add_person(db, ADA)
    for target in ("https://evil.example/", "//evil.example/console", "/console\\@evil.example"):
        answer = attempt(web_url, ADA, PASSWORD, next=target)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/campaigns"


def test_vendored_scripts_are_served_with_their_licences(web_url: str) -> None:
    for path in ("vendor/htmx/htmx.min.js", "vendor/htmx/LICENSE", "vendor/htmx-ext-sse/sse.min.js", "vendor/htmx-ext-sse/LICENSE"):
        assert requests.get(f"{web_url}/console/static/{path}", timeout=TIMEOUT).status_code == 200
