"""The checks every event platform's payload goes through: URLs under a base, ids, names, times; and keys kept out of logs."""

from __future__ import annotations

import datetime as dt

import pytest

from publisher.db.models import Attendance
from publisher.events.platforms.urls import UrlError, path_under
from publisher.events.platforms.values import PayloadError, identifier, instant, one_line, registration, web_url, zone
from publisher.web.access_log import redact_path

BASE = "https://www.eventbriteapi.com/v3/"


def test_a_url_under_the_base_gives_the_rest_of_its_path() -> None:
    assert path_under(BASE, "https://www.eventbriteapi.com/v3/orders/1/") == "orders/1/"
    assert path_under(BASE, "https://WWW.EventbriteAPI.com:443/v3/events/2/") == "events/2/"
    assert path_under("https://www.eventbriteapi.com/v3", "https://www.eventbriteapi.com/v3/events/2") == "events/2"
    assert path_under("http://127.0.0.1:8123/v3/", "http://127.0.0.1:8123/v3/orders/9/?expand=x") == "orders/9/"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://www.eventbriteapi.com/v3/", "not under"),
        ("https://www.eventbriteapi.com/v3x/orders/1/", "not under"),
        ("https://www.eventbriteapi.com.evil.example/v3/orders/1/", "host"),
        ("https://www.eventbriteapi.com@evil.example/v3/orders/1/", "user information"),
        ("http://www.eventbriteapi.com/v3/orders/1/", "http"),
        ("https://www.eventbriteapi.com:444/v3/orders/1/", "port"),
        ("https://www.eventbriteapi.com:x/v3/orders/1/", "cannot be read"),
        ("https://www.eventbriteapi.com/v3/orders/../../admin/", "'..'"),
        ("https://www.eventbriteapi.com/v3/./orders/1/", "'..'"),
        ("https://www.eventbriteapi.com/v3/%2E%2E/orders/1/", "percent"),
        ("https://www.eventbriteapi.com/v3/orders\\1/", "backslash"),
        ("https://www.eventbriteapi.com/v3/orders/1/\nX-Injected: 1", "control"),
        ("https://www.eventbriteapi.com/v3/orders/\t1/", "control"),
        ("https://www.eventbriteapi.com/v3/" + "a/" * 1000, "longer"),
        ("", "scheme"),
    ],
)
def test_a_url_outside_the_base_is_refused_saying_which_part(url: str, why: str) -> None:
    with pytest.raises(UrlError, match=why):
        path_under(BASE, url)


def test_ids_names_and_times_are_checked_naming_where_they_were() -> None:
    assert identifier(81234567890, "id") == "81234567890"
    assert identifier("evt-AbC_1.2:3", "id") == "evt-AbC_1.2:3"
    for bad in ("", "a b", "../x", "-lead", True, None, 1.5, "x" * 101, {"a": 1}):
        with pytest.raises(PayloadError, match=r"^id:"):
            identifier(bad, "id")
    assert one_line("  Ada  ", "name", 10) == "Ada"
    assert one_line("", "name", 10) is None
    for bad, reason in (("a\u2028b", "line break"), ("a\x1bb", "control character"), ("x" * 11, "at most 10"), (5, "text")):
        with pytest.raises(PayloadError, match=reason):
            one_line(bad, "name", 10)
    assert instant("2026-12-04T18:30:00Z", "t") == dt.datetime(2026, 12, 4, 18, 30, tzinfo=dt.UTC)
    assert instant("2026-12-04T19:30:00+01:00", "t") == dt.datetime(2026, 12, 4, 18, 30, tzinfo=dt.UTC)
    assert instant("2026-12-04T18:30:00", "t") == dt.datetime(2026, 12, 4, 18, 30, tzinfo=dt.UTC)
    for bad in ("yesterday", 1733337000, "2026-13-01T00:00:00Z", "9" * 50):
        with pytest.raises(PayloadError, match=r"^t:"):
            instant(bad, "t")


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "1969-12-31T23:59:59Z", "2201-01-01T00:00:00Z"])
def test_a_time_out_of_range_is_refused_naming_where_it_was(text: str) -> None:
    with pytest.raises(PayloadError, match=r"^payload.object.start_time: .* not between 1970 and 2200"):
        instant(text, "payload.object.start_time")
    assert instant("2200-12-31T23:59:59Z", "x") == dt.datetime(2200, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
    assert instant("1970-01-01T00:00:00Z", "x") == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def test_decorations_that_cannot_be_used_are_dropped_not_refused() -> None:
    assert zone("Europe/Paris") == "Europe/Paris"
    assert zone("Mars/Olympus") is None
    assert zone("../../etc/passwd") is None
    assert web_url("https://luma.com/abc") == "https://luma.com/abc"
    for bad in ("javascript:alert(1)", "https://a b", "ftp://x", "https://x\ny", None, 3):
        assert web_url(bad) is None


def test_a_registration_is_checked_as_an_import_row_is() -> None:
    person = registration("p", email=" Ada@Example.COM ", first_name="Ada", attendance=Attendance.NO)
    assert (person.email, person.first_name, person.attendance) == ("ada@example.com", "Ada", Attendance.NO)
    came = registration("p", email="ada@example.com", attendance=Attendance.NO, checked_in_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert came.attendance == Attendance.YES
    with pytest.raises(PayloadError, match=r"^p\.email: .*not ASCII"):
        registration("p", email="用户@例子.广告", attendance=Attendance.NO)
    with pytest.raises(PayloadError, match=r"^p\.last_name: .*at most 200"):
        registration("p", email="ada@example.com", last_name="x" * 201, attendance=Attendance.NO)


def test_the_keys_in_webhook_urls_are_kept_out_of_the_access_log() -> None:
    assert redact_path("/webhooks/events/eventbrite/secret-key-123") == "/webhooks/events/eventbrite/[token]"
    assert redact_path("/webhooks/events/luma/secret-key-123") == "/webhooks/events/luma/[token]"
    assert redact_path("/webhooks/events/zoom") == "/webhooks/events/zoom"
